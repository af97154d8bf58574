"""Grade a whole class in parallel, resumably, with a progress bar.

Each worker process grades one submission at a time (its own sandboxed
children, its own oracle) and writes that student's reports atomically. A
student whose results.json already matches the submission, the rubric and the
seed is not graded again, so re-running after an interrupted run (even
`kill -9`) grades only what is missing. grades.csv is rebuilt from every
results.json at the end.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from grader.grading import fingerprint, grade_copy, not_graded, student_seed
from grader.intake import Entry, SubmissionError, allowed_modules, clean_copy, discover, locate
from grader.report import load_student, student_folder, write_class_csv, write_student
from grader.sandbox import Sandbox
from grader.types import SubmissionResult

SECRET_FILE = ".grader-secret"


def load_secret(out: Path, given: str | None = None, secret_file: Path | None = None) -> bytes:
    """The instructor's secret for hidden probes and report signatures.

    From, in order: `--secret-file F`, `$GRADER_SECRET`, `--secret S` (visible to
    every local user in the process list: avoid it on a shared machine), or
    REPORTS/.grader-secret (made on first use, mode 0600) so re-runs agree. It
    never reaches a child: children get a cleared environment and see neither
    the reports nor the grader's command line."""
    if secret_file is not None:
        text = secret_file.read_text(encoding="utf-8").strip()
        if not text:
            raise SubmissionError(f"the secret file {secret_file} is empty")
        return text.encode()
    if os.environ.get("GRADER_SECRET"):
        return os.environ["GRADER_SECRET"].encode()
    if given:
        return given.encode()
    path = out / SECRET_FILE
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


_SANDBOX: Sandbox | None = None


def _init_worker(use_bwrap: bool | None, allow_unsafe: bool = False, temp: str | None = None,
                 allow_imports: tuple[str, ...] = ()) -> None:  # fmt: skip
    global _SANDBOX
    if temp:
        tempfile.tempdir = temp  # every copy and jail of this worker goes where the parent cleans up
    _SANDBOX = Sandbox(use_bwrap=use_bwrap, allow_unsafe=allow_unsafe, allow_imports=allow_imports)
    from grader import rubric
    from grader.oracle import _torch, reference_api

    # Pay the imports (torch, scikit-learn) once per worker, not per student.
    _torch()
    reference_api()
    rubric.build(0)


def grade_entry(entry: Entry, out: Path, secret: bytes, use_bwrap: bool | None = None,
                allow_unsafe: bool = False, allow_imports: tuple[str, ...] = ()) -> bool:  # fmt: skip
    """Grade one student (in a worker) into `out` unless a signed, up-to-date report
    exists; returns False when the stored report was reused. Whatever the upload
    holds, the student gets a row: an intake problem becomes the row's note."""
    seed = student_seed(secret, entry.student)
    folder = student_folder(out, entry.student)
    with tempfile.TemporaryDirectory(prefix="submission-") as tmp:
        if entry.problem:
            result = not_graded(entry.student, entry.problem, seed=seed)
        else:
            try:
                upload = locate(entry.path, Path(tmp))
                allowed = allowed_modules(allow_imports)
                copy = clean_copy(upload.root, Path(tmp) / "clean", allowed) if upload.root is not None else None
            except (SubmissionError, OSError, ValueError) as exc:
                message = str(exc) if isinstance(exc, SubmissionError) else f"the upload could not be read ({exc})"
                result = not_graded(entry.student, f"Nothing could be graded: {message}.", seed=seed)
            else:
                assert copy is not None
                previous = load_student(folder, secret)
                if previous and previous.fingerprint == fingerprint(copy.files, seed, upload.tasks):
                    return False
                options = {"use_bwrap": use_bwrap, "allow_unsafe": allow_unsafe, "allow_imports": allow_imports}
                sandbox = _SANDBOX or Sandbox(**options)
                result = grade_copy(copy, entry.student, seed=seed, sandbox=sandbox, tasks=upload.tasks)
                result.notes[:0] = upload.notes
    write_student(out, result, secret)
    return True


def grade_class(
    submissions: Path,
    out: Path,
    *,
    jobs: int | None = None,
    secret: str | None = None,
    secret_file: Path | None = None,
    use_bwrap: bool | None = None,
    allow_unsafe: bool = False,
    allow_imports: tuple[str, ...] = (),
    progress: bool = True,
) -> tuple[list[SubmissionResult], list[str]]:
    """Grade every entry of `submissions` into `out`; returns all results and warnings."""
    entries, warnings = discover(submissions)
    out.mkdir(parents=True, exist_ok=True)
    key = load_secret(out, secret, secret_file)
    jobs = max(1, jobs or os.cpu_count() or 1)
    probe = Sandbox(use_bwrap=use_bwrap, allow_unsafe=allow_unsafe, allow_imports=allow_imports)
    if probe.warning:
        warnings.insert(0, probe.warning)
    use = probe.mode == "bwrap"
    probe.close()
    failures: list[str] = []
    pending = list(entries)
    run_tmp = _run_temp()
    with _progress(progress, len(entries)) as advance, _removed(run_tmp):
        for attempt in range(3):
            # A worker that dies (the OOM killer, say) breaks the whole pool: the
            # students it took down are retried, the last time each in a pool of its own.
            broken: list[Entry] = []
            groups = [pending] if attempt < 2 else [[e] for e in pending]
            for group in groups:
                init = (use, allow_unsafe, str(run_tmp), allow_imports)
                workers = min(jobs, max(1, len(group)))
                with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=init) as pool:
                    args = (out, key, use, allow_unsafe, allow_imports)
                    futures = {pool.submit(grade_entry, e, *args): e for e in group}
                    for future in as_completed(futures):
                        entry = futures[future]
                        try:
                            future.result()
                        except BrokenProcessPool:
                            broken.append(entry)
                            continue
                        except Exception as exc:  # a bug of ours must not stop the class
                            reason = f"the grader failed ({type(exc).__name__}: {exc}); re-run to retry"
                            failures.append(f"{entry.student}: {reason}")
                            _write_not_graded(out, entry.student, reason, key)
                        advance(entry.student)
            pending = broken
            if not pending:
                break
        for entry in pending:
            reason = "the grading worker died while grading this submission (out of memory?); re-run to retry"
            failures.append(f"{entry.student}: {reason}")
            _write_not_graded(out, entry.student, reason, key)
            advance(entry.student)
    results = write_class_csv(out, key, [e.student for e in entries])
    return results, warnings + failures


def _write_not_graded(out: Path, student: str, reason: str, key: bytes) -> None:
    write_student(out, not_graded(student, reason, seed=student_seed(key, student)), key)


RUN_PREFIX = "grader-class-"


def _run_temp() -> Path:
    """A temp folder for this run's workers, named by our pid; folders of runs
    whose process is gone (killed with -9) are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{RUN_PREFIX}*"):
        try:
            pid = int(old.name[len(RUN_PREFIX) :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (ValueError, PermissionError):
            continue
    return Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-"))


@contextlib.contextmanager
def _removed(folder: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
