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
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path

from grader.grading import fingerprint, grade_package, student_seed
from grader.intake import Entry, SubmissionError, discover, find_package, safe_unzip
from grader.report import RESULTS, load_student, write_class_csv, write_student
from grader.sandbox import Sandbox
from grader.types import ClassRun, GradingInterrupted

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
    dask: str | None = None,
) -> ClassRun:
    """Grade every entry of `submissions` into `out`, on a process pool or on Dask (`dask`:
    `tcp://HOST:PORT` or `local:N`). Unpacks as `results, warnings`; the counts are on the ClassRun.

    Raises SubmissionError for a class that cannot be graded at all (a missing or empty
    folder, `out` inside it), and GradingInterrupted after Ctrl-C or SIGTERM, once the
    workers are stopped and grades.csv holds every student who finished."""
    if not submissions.is_dir():
        raise SubmissionError(f"{submissions} does not exist or is not a folder (expected one entry per student)")
    if out.resolve().is_relative_to(submissions.resolve()):
        raise SubmissionError(
            f"--out {out} is inside the class folder {submissions}: its reports would be graded as a student "
            "next time. Choose a folder outside the class."
        )
    entries, warnings = discover(submissions)
    if not entries:
        raise SubmissionError("; ".join(warnings) or f"{submissions} holds no submissions")
    out.mkdir(parents=True, exist_ok=True)
    key = load_secret(out, secret)
    probe = Sandbox(use_bwrap=use_bwrap)
    if probe.warning:
        warnings.insert(0, probe.warning)
    use = probe.mode == "bwrap" if use_bwrap is None else use_bwrap
    run = ClassRun([], warnings, pending=[e.student for e in entries])
    before = {e.student: _stamp(out / e.student) for e in entries}
    if dask:
        from grader.dask_backend import DaskExecutor, grade_remote, pack, store

        pool: Executor = DaskExecutor(dask, use_bwrap=use)
        submit = lambda e: pool.submit(grade_remote, e.student, *pack(e), _previous(out / e.student), key, use)
    else:
        workers = min(max(1, jobs or os.cpu_count() or 1), len(entries))
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(use,))
        submit = lambda e: pool.submit(_grade_in_worker, e, out, key, use)
    stop = _Stop.install()
    try:
        with _progress(progress, len(entries)) as advance:
            futures = {submit(e): e for e in entries}
            for future in as_completed(futures):
                entry = futures[future]
                run.pending.remove(entry.student)
                try:
                    files = future.result()
                    if dask and files:
                        store(out / entry.student, files)
                except Exception as exc:  # a bug of ours, or a lost worker, must not stop the class
                    run.failed.append(entry.student)
                    warnings.append(
                        f"{entry.student}: the grader failed ({type(exc).__name__}: {exc}); re-run to retry"
                    )
                else:
                    changed = _stamp(out / entry.student) != before[entry.student]
                    (run.graded if changed else run.reused).append(entry.student)
                advance(entry.student)
    except _Interrupt as exc:
        _halt(pool)
        run.results = write_class_csv(out)
        raise GradingInterrupted(exc.signum, run) from None
    except BaseException:
        _halt(pool)
        raise
    finally:
        stop.restore()
    pool.shutdown(wait=True)
    run.results = write_class_csv(out)
    return run


def _stamp(folder: Path) -> tuple[int, int] | None:
    """Identifies the report file itself: every write replaces it (a new inode)."""
    try:
        st = (folder / RESULTS).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def _previous(folder: Path) -> bytes | None:
    """A student's last results.json, sent to a Dask worker so an up-to-date report is reused there too."""
    try:
        return (folder / RESULTS).read_bytes()
    except OSError:
        return None


class _Interrupt(BaseException):
    def __init__(self, signum: int) -> None:
        self.signum = signum


class _Stop:
    """SIGINT and SIGTERM raise _Interrupt in the coordinator while a class is graded."""

    def __init__(self, saved: dict[int, object]) -> None:
        self.saved = saved

    @classmethod
    def install(cls) -> _Stop:
        if threading.current_thread() is not threading.main_thread():
            return cls({})  # only the main thread may set handlers; the caller handles signals

        def handler(signum: int, frame: object) -> None:
            raise _Interrupt(signum)

        return cls({sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)})

    def restore(self) -> None:
        for sig, old in self.saved.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


def _halt(pool: Executor) -> None:
    """Cancel what is queued and stop the workers (their sandboxes die with them)."""
    if isinstance(pool, ProcessPoolExecutor):
        procs = list((pool._processes or {}).values())  # no public API lists a pool's workers
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.terminate()  # _start_worker: SIGTERM unwinds the worker, which kills its sandboxed child
        deadline = time.monotonic() + 10
        for p in procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
    else:
        pool.shutdown(wait=False, cancel_futures=True)


def _start_worker(use_bwrap: bool | None) -> None:
    """A pool worker: Ctrl-C is the coordinator's to handle; SIGTERM unwinds (killing the sandbox)."""

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    _init_worker(use_bwrap)


def _grade_in_worker(entry: Entry, out: Path, secret: bytes, use_bwrap: bool | None) -> None:
    try:
        grade_entry(entry, out, secret, use_bwrap)
    except SystemExit:  # SIGTERM from the coordinator: the sandbox is already killed; leave now
        os._exit(128 + signal.SIGTERM)


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
            transient=False,
        )
        self.bar.start()
        task = self.bar.add_task("", total=self.total)
        return lambda name: self.bar.update(task, advance=1, description=name)

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self.bar.stop()
