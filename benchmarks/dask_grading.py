"""Grading on Dask: a class of 200 on `local:1` and `local:2`, against the process pool.

    python benchmarks/dask_grading.py               # 200 submissions: pool and Dask, 1 and 2 workers
    python benchmarks/dask_grading.py --size 40     # a quicker look
    python benchmarks/dask_grading.py --no-pool     # Dask only (no overhead figure)

Prints each run's wall time, the speed-up of two Dask workers over one, and the
overhead Dask adds per submission (Dask's wall time minus the process pool's with
as many workers, over the class size: cluster start-up, shipping each submission and
its reports, scheduling). Every run must give the same grades.csv.
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
from grader.samples import build_sample_class  # noqa: E402


def make_class(tmp: Path, size: int) -> Path:
    """`size` copies of the embedded sample class's submissions (endless loops included)."""
    entries = sorted(build_sample_class(tmp / "sample").iterdir())
    klass = tmp / f"class{size}"
    klass.mkdir()
    for i in range(size):
        src = entries[i % len(entries)]
        name = f"{src.stem}-{i:03d}" + src.suffix
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, klass / name)
    return klass


def timed(klass: Path, out: Path, *, jobs: int = 1, dask: str | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    run = grade_class(klass, out, jobs=jobs, secret="bench", progress=False, dask=dask)
    elapsed = time.perf_counter() - start
    label = dask or f"process pool, {jobs} job(s)"
    print(f"{label:>28}: {elapsed:7.1f} s wall, {elapsed / len(run.results):.2f} s a submission"
          f" ({len(run.graded)} graded, {len(run.failed)} failed)", flush=True)  # fmt: skip
    return elapsed, (out / "grades.csv").read_text()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200, help="submissions in the class (default 200)")
    parser.add_argument("--no-pool", action="store_true", help="skip the process-pool runs (no overhead figure)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dask-bench-") as tmp:
        klass = make_class(Path(tmp), args.size)
        print(f"class of {args.size} copies of the sample submissions")
        times, grades = {}, {}
        for workers in (1, 2):
            if not args.no_pool:
                times[f"pool{workers}"], grades[f"pool{workers}"] = timed(
                    klass, Path(tmp) / f"pool{workers}", jobs=workers
                )
            times[f"dask{workers}"], grades[f"dask{workers}"] = timed(
                klass, Path(tmp) / f"dask{workers}", dask=f"local:{workers}"
            )
        same = len(set(grades.values())) == 1
        print(f"speed-up of local:2 over local:1: {times['dask1'] / times['dask2']:.2f}x")
        if not args.no_pool:
            for workers in (1, 2):
                extra = (times[f"dask{workers}"] - times[f"pool{workers}"]) / args.size
                print(f"Dask's overhead with {workers} worker(s): {extra * 1000:+.0f} ms a submission")
        print(f"identical grades.csv in every run: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
