"""Start one of this project's modules as a child process (``python -m MODULE``), piped both ways.

Used for the durable-rules worker (rules/engine.py) and the Insights rollup's fold
(service/rollup_process.py): the child imports only what it needs and inherits nothing of the
parent's state but its environment, and it ends when its standard input does.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

#: The project's root: the child imports the module from here whatever the current directory.
ROOT = str(Path(__file__).resolve().parent.parent)


async def start_module(module: str, limit: int = 2**16) -> asyncio.subprocess.Process:
    """``python -m module`` with pipes for its standard input and output (lines up to ``limit``)."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": ROOT + (os.pathsep + path if path else "")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        limit=limit,
    )
