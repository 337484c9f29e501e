"""``planwise serve`` with the benchmark's instruments (bench/wsload/hooked.py); bench-only.

.venv/bin/python bench/bench_server.py 127.0.0.1 8000 warning --demo
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # wsload, then service/planwise/rules

from wsload.hooked import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
