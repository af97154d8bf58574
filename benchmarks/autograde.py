"""Notebook grading speed: nbgrader's autograde per notebook, and the slowest test cell.

    python benchmarks/autograde.py               # both figures
    python benchmarks/autograde.py --cells       # the test cells only (seconds, no nbgrader)
    python benchmarks/autograde.py --busy 2      # the same with 2 CPU-burning processes beside it

Targets (issue 10, 2-core machine): every test cell well under 1 s on correct
work; autograde <= 3 s per notebook amortised over the sample class (2 jobs).
The figures are printed, never asserted: a loaded machine must not fail a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.notebooks import COURSE, grade_notebook_class  # noqa: E402

TARGET_CELL = 1.0
TARGET_PER_NOTEBOOK = 3.0


def _burn() -> None:
    while True:
        pass


@contextmanager
def busy(processes: int) -> Iterator[None]:
    """`processes` CPU-bound processes running beside the block: a loaded machine."""
    workers = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def test_cell_seconds() -> list[tuple[float, str]]:
    """Each test cell of the correct sample notebooks, run in plain Python from its released folder."""
    import __future__

    timings = []
    for folder in sorted((COURSE / "release").iterdir()):
        name = folder.name
        notebook = json.loads((COURSE / "submitted" / "s01_correct" / name / f"{name}.ipynb").read_text("utf-8"))
        sys.path.insert(0, str(folder))
        for module in [m for m in sys.modules if m.startswith("micrograd_check")]:
            del sys.modules[module]
        namespace: dict[str, object] = {"__name__": "__main__"}
        try:
            for cell in notebook["cells"]:
                meta = cell["metadata"].get("nbgrader", {})
                if cell["cell_type"] != "code" or "grade_id" not in meta:
                    continue
                source = "\n".join(
                    line for line in "".join(cell["source"]).split("\n") if not line.lstrip().startswith(("%", "!"))
                )
                flags = __future__.annotations.compiler_flag
                code = compile(source, meta["grade_id"], "exec", flags, dont_inherit=True)
                start = time.perf_counter()
                exec(code, namespace)
                if meta.get("grade"):
                    timings.append((time.perf_counter() - start, f"{name}/{meta['grade_id']}"))
        finally:
            sys.path.remove(str(folder))
    return sorted(timings, reverse=True)


def autograde_seconds(jobs: int) -> tuple[float, list[tuple[str, str, str, str]]]:
    """Grade the sample notebook class in a scratch copy: (wall seconds, [(student, assignment, seconds, scores)])."""
    with tempfile.TemporaryDirectory(prefix="autograde-bench-") as tmp:
        root = Path(tmp) / "assignments"
        root.mkdir()
        shutil.copy(COURSE / "nbgrader_config.py", root)
        for part in ("source", "release", "submitted"):
            shutil.copytree(COURSE / part, root / part)
        start = time.perf_counter()
        grade_notebook_class(root, Path(tmp) / "reports", jobs=jobs, secret=b"benchmark")
        wall = time.perf_counter() - start
        with (Path(tmp) / "reports" / "notebooks.csv").open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        per = [
            (r["student"], r["assignment"], r["autograde_seconds"],
             f"nbgrader {r['nbgrader_score']}/{r['nbgrader_max']}, sandbox {r['sandbox_score']}/{r['sandbox_max']}, "
             f"disagree={r['disagree']}")
            for r in rows
        ]  # fmt: skip
    return wall, per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", action="store_true", help="the test cells only")
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="N CPU-burning processes beside")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with busy(args.busy):
        cells = test_cell_seconds()
        print(f"test cells of the correct notebooks ({len(cells)}), slowest first, {args.busy} busy process(es):")
        for seconds, name in cells[:5]:
            print(f"  {seconds:6.3f} s  {name}")
        verdict = "within" if cells[0][0] < TARGET_CELL else "OVER"
        print(f"slowest test cell {cells[0][0]:.3f} s ({verdict} the {TARGET_CELL:g} s target)")
        if args.cells:
            return 0
        wall, per = autograde_seconds(args.jobs)
    print(f"\nnbgrader autograde of the sample class ({len(per)} notebooks, {args.jobs} jobs):")
    for student, assignment, seconds, scores in per:
        print(f"  {student:20} {assignment:12} {seconds:>6} s  {scores}")
    notebooks = max(len(per), 1)
    autograde = sum(float(seconds) for _, _, seconds, _ in per) / max(args.jobs, 1) / notebooks
    verdict = "within" if autograde <= TARGET_PER_NOTEBOOK else "OVER"
    print(f"nbgrader autograde (kernel, every cell, gradebook): {autograde:.2f} s per notebook amortised over "
          f"{args.jobs} jobs ({verdict} the {TARGET_PER_NOTEBOOK:g} s target)")  # fmt: skip
    print(f"whole class (release, autograde, feedback pages, the sandboxed grader, reports): {wall:.1f} s wall, "
          f"{wall / notebooks:.2f} s per notebook")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
