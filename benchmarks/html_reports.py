"""What the HTML reports add to grading: feedback.html per student, the class report.

    python benchmarks/html_reports.py           # grade the sample class, then time the reports
    python benchmarks/html_reports.py --repeat 9

Grades the embedded sample class once (not timed), then times writing each
student's feedback.html (the median of --repeat runs, after one warm-up that
pays matplotlib's import) and class-report.html + common-mistakes.csv.
Target (issue 12): under 0.2 s per student.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.grading import grade_package  # noqa: E402
from grader.html_report import write_class_reports, write_feedback_html  # noqa: E402
from grader.intake import find_package  # noqa: E402
from grader.samples import build_sample_class  # noqa: E402
from grader.types import SubmissionResult  # noqa: E402

TARGET = 0.2


def cpu() -> float:
    """CPU seconds of this process and its finished children (Graphviz's `dot`)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(action: object, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of `action`: on a shared machine the CPU
    figure is what the reports cost, the wall figure what they took."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu()
        action()  # type: ignore[operator]
        walls.append(time.perf_counter() - start)
        cpus.append(cpu() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per report; the median is printed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="html-bench-") as tmp:
        base = Path(tmp)
        sample = build_sample_class(base / "class")
        results: list[SubmissionResult] = []
        print("grading the sample class (not timed) ...", flush=True)
        for entry in sorted(p for p in sample.iterdir() if p.is_dir()):
            results.append(grade_package(find_package(entry), entry.name, seed=1))
        out = base / "reports"
        start = time.perf_counter()
        write_feedback_html(out / "warm-up", results[0])
        print(f"warm-up (imports matplotlib): {time.perf_counter() - start:.2f} s")
        per_student = {}
        print("  student   wall     CPU    size")
        for r in results:
            per_student[r.student] = timed(lambda r=r: write_feedback_html(out / r.student, r), args.repeat)
            size = (out / r.student / "feedback.html").stat().st_size
            wall, used = per_student[r.student]
            print(f"  {r.student:6} {wall:6.3f} s {used:6.3f} s {size / 1024:5.0f} KiB  ({r.total:g} points)")
        class_wall, class_cpu = timed(lambda: write_class_reports(out, results), args.repeat)
        walls = [w for w, _ in per_student.values()]
        cpus = [c for _, c in per_student.values()]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"feedback.html per student: mean {statistics.fmean(walls):.3f} s wall, {statistics.fmean(cpus):.3f} s "
              f"CPU; worst {max(walls):.3f} s wall, {max(cpus):.3f} s CPU (target {TARGET} s)")  # fmt: skip
        print(f"class report + csv for {len(results)} students: {class_wall:.3f} s wall, {class_cpu:.3f} s CPU; "
              f"load average {load:.1f} on {os.cpu_count()} cores")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
