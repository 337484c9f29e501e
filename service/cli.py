"""The ``planwise`` command line: validate, serve, import/export, database and staff tasks."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def cmd_validate(args: argparse.Namespace) -> int:
    """Print every problem of a bundle file (exit 1) or a one-line summary (exit 0)."""
    from rules.validator import validate_bundle

    path = Path(args.file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"{path}: not valid JSON: {exc}", file=sys.stderr)
        return 1
    problems = validate_bundle(data)
    if problems:
        for p in problems:
            print(f"{path}: {p}")
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"{path}: OK: '{data['name']}': {len(data['plans'])} plans, {len(data['questions'])} questions, "
        f"{len(data['rules'])} rules"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planwise", description="Planwise guided plan selection service")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a catalogue bundle file and list every problem")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
