"""`python -m micrograd_check [TASK ...] [--path DIR]`: the public checks of a micrograd folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from micrograd_check.run import TASKS, check_package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m micrograd_check", description=__doc__)
    parser.add_argument("tasks", nargs="*", metavar="TASK", help=f"tasks to check (default: all of {', '.join(TASKS)})")
    parser.add_argument("--path", type=Path, default=Path.cwd(), help="the folder holding micrograd/ (default: here)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; tasks are {', '.join(TASKS)}")
    return 0 if check_package(args.path, args.tasks or None) else 1


if __name__ == "__main__":
    sys.exit(main())
