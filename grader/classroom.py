"""Grade a whole class in parallel, resumably, with a progress bar.

Each worker process grades one submission at a time (its own sandboxed
children, its own oracle) and writes that student's reports atomically. A
student whose results.json already matches the submission, the rubric and the
seed is not graded again, so re-running after an interrupted run (even
`kill -9`) grades only what is missing. grades.csv is rebuilt from every
results.json at the end.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from grader.grading import fingerprint, grade_package, student_seed
from grader.intake import Entry, SubmissionError, discover, find_package, safe_unzip
from grader.report import load_student, write_class_csv, write_student
from grader.sandbox import Sandbox
from grader.types import SubmissionResult

SECRET_FILE = ".grader-secret"


def load_secret(out: Path, given: str | None = None) -> bytes:
    """The instructor's secret for hidden probes: --secret, $GRADER_SECRET, or
    one kept in REPORTS/.grader-secret (made on first use) so re-runs agree."""
    if given or os.environ.get("GRADER_SECRET"):
        return (given or os.environ["GRADER_SECRET"]).encode()
    path = out / SECRET_FILE
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


_SANDBOX: Sandbox | None = None


def _init_worker(use_bwrap: bool | None) -> None:
    global _SANDBOX
    _SANDBOX = Sandbox(use_bwrap=use_bwrap)
    from grader import rubric
    from grader.oracle import _torch, reference_api

    # Pay the imports (torch, scikit-learn) once per worker, not per student.
    _torch()
    reference_api()
    rubric.build(0)


def grade_entry(entry: Entry, out: Path, secret: bytes, use_bwrap: bool | None = None) -> None:
    """Grade one student (in a worker) into `out` unless an up-to-date report exists."""
    sandbox = _SANDBOX or Sandbox(use_bwrap=use_bwrap)
    seed = student_seed(secret, entry.student)
    with tempfile.TemporaryDirectory(prefix="submission-") as tmp:
        notes: list[str] = []
        root: Path | None = None
        if entry.path.is_dir():
            root = find_package(entry.path)
        else:
            try:
                safe_unzip(entry.path, Path(tmp))
                root = find_package(Path(tmp))
            except SubmissionError as exc:
                notes.append(str(exc))
        previous = load_student(out / entry.student)
        fp = fingerprint(root, seed)
        if previous and previous.fingerprint == fp:
            return
        result = grade_package(root, entry.student, seed=seed, sandbox=sandbox)
        result.notes[:0] = notes
    write_student(out, result)


def grade_class(
    submissions: Path,
    out: Path,
    *,
    jobs: int | None = None,
    secret: str | None = None,
    use_bwrap: bool | None = None,
    progress: bool = True,
) -> tuple[list[SubmissionResult], list[str]]:
    """Grade every entry of `submissions` into `out`; returns all results and warnings."""
    entries, warnings = discover(submissions)
    out.mkdir(parents=True, exist_ok=True)
    key = load_secret(out, secret)
    jobs = max(1, jobs or os.cpu_count() or 1)
    probe = Sandbox(use_bwrap=use_bwrap)
    if probe.warning:
        warnings.insert(0, probe.warning)
    use = probe.mode == "bwrap" if use_bwrap is None else use_bwrap
    failures: list[str] = []
    with (
        _progress(progress, len(entries)) as advance,
        ProcessPoolExecutor(
            max_workers=min(jobs, max(1, len(entries))), initializer=_init_worker, initargs=(use,)
        ) as pool,
    ):
        futures = {pool.submit(grade_entry, e, out, key, use): e for e in entries}
        for future in as_completed(futures):
            entry = futures[future]
            try:
                future.result()
            except Exception as exc:  # a bug of ours must not stop the class
                failures.append(f"{entry.student}: the grader failed ({type(exc).__name__}: {exc}); re-run to retry")
            advance(entry.student)
    results = write_class_csv(out)
    return results, warnings + failures


class _progress:
    """A rich progress bar (or nothing), used as `with _progress(on, n) as advance`."""

    def __init__(self, on: bool, total: int) -> None:
        self.on, self.total = on, total

    def __enter__(self) -> Callable[[str], None]:
        if not self.on:
            return lambda name: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
        )
        self.bar.start()
        task = self.bar.add_task("", total=self.total)
        return lambda name: self.bar.update(task, advance=1, description=name)

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self.bar.stop()
