"""Grading speed: one submission amortised over a class, and a class of 100.

    python benchmarks/grading.py            # both measurements
    python benchmarks/grading.py --quick    # the per-submission figure only

Targets (2-core machine): the full rubric for one submission in <= 0.84 s
wall amortised with 2 jobs, training checks included (issue 9: the speed of the
rubric before the trust boundary); one correct submission alone in about 1.5 s
(issue 8); a class of 100 copies of the sample submissions in <= 3 minutes.

Student engines usually keep the classic closure design (each `_backward`
closes over `out`, a reference cycle per node). The per-submission figure is
measured on such an engine, made from the reference by three text edits.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.classroom import grade_class  # noqa: E402
from grader.samples import REFERENCE, build_sample_class  # noqa: E402

CLASSIC_EDITS = [
    ("def _backward(out: Value) -> None:", "def _backward() -> None:"),  # closes over `out`: a cycle per node
    ("node._rule(node)", "node._rule()"),
    ("(lambda: None) if rule is None else (lambda: rule(self))", "(lambda: None) if rule is None else rule"),
]
TARGET_PER_SUBMISSION = 0.84
TARGET_ALONE = 1.5
TARGET_CLASS = 180.0


def classic_engine_submission(dest: Path) -> Path:
    shutil.copytree(REFERENCE, dest / "micrograd", ignore=shutil.ignore_patterns("__pycache__"))
    engine = dest / "micrograd" / "engine.py"
    text = engine.read_text()
    for old, new in CLASSIC_EDITS:
        assert old in text, old
        text = text.replace(old, new)
    engine.write_text(text)
    return dest


def timed_class(klass: Path, out: Path, jobs: int) -> tuple[float, list]:
    start = time.perf_counter()
    results, warnings = grade_class(klass, out, jobs=jobs, secret="bench", progress=False)
    elapsed = time.perf_counter() - start
    for w in warnings:
        print("  warning:", w)
    return elapsed, results


def per_submission(tmp: Path, copies: int, jobs: int) -> bool:
    klass = tmp / "classic"
    for i in range(copies):
        classic_engine_submission(klass / f"classic-{i:02d}")
    elapsed, results = timed_class(klass, tmp / "reports-classic", jobs)
    full = sum(r.total == r.max_score for r in results)
    per = elapsed / copies
    print(f"classic-closure engine: {copies} submissions, {jobs} jobs: {elapsed:.1f} s wall, {per:.2f} s each")
    print(f"  full marks: {full}/{copies}; child+judge time per submission: "
          f"{sum(r.seconds for r in results) / len(results):.2f} s")  # fmt: skip
    ok = per <= TARGET_PER_SUBMISSION and full == copies
    print(f"  {'PASS' if ok else 'FAIL'}: target <= {TARGET_PER_SUBMISSION} s per submission")
    return ok


def alone(tmp: Path, runs: int = 3) -> bool:
    """One correct submission graded on its own, in a warm grader (median of `runs`)."""
    from grader.grading import grade_package

    folder = classic_engine_submission(tmp / "alone")
    grade_package(folder, "warm-up", seed=1)  # imports, the reference's own timing, public answers
    times = []
    for k in range(runs):
        start = time.perf_counter()
        result = grade_package(folder, f"alone-{k}", seed=100 + k)  # new hidden inputs each time
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    ok = median <= TARGET_ALONE and result.total == result.max_score
    print(f"one correct submission alone: {median:.2f} s (median of {runs}; {result.total:g}/{result.max_score:g})")
    print(f"  {'PASS' if ok else 'FAIL'}: target about {TARGET_ALONE} s")
    return ok


def whole_class(tmp: Path, size: int, jobs: int) -> bool:
    sample = build_sample_class(tmp / "sample")
    entries = sorted(sample.iterdir())
    klass = tmp / "class100"
    klass.mkdir()
    for i in range(size):
        src = entries[i % len(entries)]
        name = f"{src.stem}-{i:03d}" + src.suffix
        if src.is_dir():
            shutil.copytree(src, klass / name)
        else:
            shutil.copyfile(src, klass / name)
    elapsed, results = timed_class(klass, tmp / "reports-100", jobs)
    print(f"class of {size} copies of the {len(entries)} sample submissions, {jobs} jobs: {elapsed:.1f} s wall "
          f"({elapsed / size:.2f} s each)")  # fmt: skip
    slowest = sorted(results, key=lambda r: -r.seconds)[:3]
    print("  slowest:", ", ".join(f"{r.student} {r.seconds:.1f} s" for r in slowest))
    ok = elapsed <= TARGET_CLASS and len(results) == size
    print(f"  {'PASS' if ok else 'FAIL'}: target <= {TARGET_CLASS:.0f} s")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--copies", type=int, default=20, help="submissions for the per-submission figure")
    parser.add_argument("--class-size", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="skip the class of 100")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        ok = per_submission(Path(tmp), args.copies, args.jobs)
        ok = alone(Path(tmp)) and ok
        if not args.quick:
            ok = whole_class(Path(tmp), args.class_size, args.jobs) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
