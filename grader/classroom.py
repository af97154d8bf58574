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
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from grader.grading import fingerprint, grade_copy, not_graded, student_seed
from grader.intake import Entry, SubmissionError, allowed_modules, clean_copy, discover, locate
from grader.report import RESULTS, load_student, student_folder, write_class_csv, write_student
from grader.sandbox import Sandbox, kill_running_children
from grader.types import ClassRun, GradingInterrupted

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
    # Nothing was graded: keep a stored row that says the same thing.
    previous = load_student(folder, secret)
    if previous and (previous.fingerprint, previous.notes) == (result.fingerprint, result.notes):
        return False
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
    key = load_secret(out, secret, secret_file)
    probe = Sandbox(use_bwrap=use_bwrap, allow_unsafe=allow_unsafe, allow_imports=allow_imports)
    if probe.warning:
        warnings.insert(0, probe.warning)
    use = probe.mode == "bwrap"
    probe.close()
    run = ClassRun([], warnings, pending=[e.student for e in entries])
    before = {e.student: _stamp(student_folder(out, e.student)) for e in entries}
    options = (use, allow_unsafe, allow_imports)

    def finish(entry: Entry, reason: str) -> None:
        """A row for a student the grader could not grade (the reason is their note)."""
        run.failed.append(entry.student)
        warnings.append(f"{entry.student}: {reason}")
        write_student(out, not_graded(entry.student, reason, seed=student_seed(key, entry.student)), key)

    run_tmp = _run_temp()
    stop = _Stop.install()
    pool: Executor | None = None
    try:
        with _progress(progress, len(entries)) as advance, _removed(run_tmp):
            for entry in [e for e in entries if e.problem]:  # refused at intake: a row, no grading
                write_student(out, not_graded(entry.student, entry.problem, seed=student_seed(key, entry.student)), key)
                run.pending.remove(entry.student)
                run.graded.append(entry.student)
                advance(entry.student)
            pending = [e for e in entries if not e.problem]
            for attempt in range(3):
                # A worker that dies (the OOM killer, say) breaks the whole pool: the
                # students it took down are retried, the last time each in a pool of its own.
                broken: list[Entry] = []
                for group in [pending] if attempt < 2 or dask else [[e] for e in pending]:
                    if dask:
                        from grader.dask_backend import DaskExecutor, grade_remote, pack, store

                        pool = DaskExecutor(dask, options=options)
                    else:
                        workers = min(max(1, jobs or os.cpu_count() or 1), len(group))
                        pool = ProcessPoolExecutor(max_workers=workers, initializer=_start_worker,
                                                   initargs=(*options, str(run_tmp)))  # fmt: skip
                    futures = {}
                    for e in group:
                        try:
                            if dask:
                                previous = _previous(student_folder(out, e.student))
                                futures[pool.submit(grade_remote, e.student, *pack(e), previous, key, options)] = e
                            else:
                                futures[pool.submit(_grade_in_worker, e, out, key, options)] = e
                        except SubmissionError as exc:  # an entry that cannot even be sent to a worker
                            run.pending.remove(e.student)
                            finish(e, f"Nothing could be graded: {exc}.")
                            advance(e.student)
                    for future in stop.completed(futures):
                        entry = futures[future]
                        try:
                            files = future.result()
                            if dask and files:
                                store(student_folder(out, entry.student), files)
                        except BrokenProcessPool:
                            broken.append(entry)
                            continue
                        except Exception as exc:  # a bug of ours must not stop the class
                            finish(entry, f"the grader failed ({type(exc).__name__}: {exc}); re-run to retry")
                        else:
                            changed = _stamp(student_folder(out, entry.student)) != before[entry.student]
                            (run.graded if changed else run.reused).append(entry.student)
                        run.pending.remove(entry.student)
                        advance(entry.student)
                    pool.shutdown(wait=True)
                    pool = None
                pending = broken
                if not pending:
                    break
            for entry in pending:
                run.pending.remove(entry.student)
                finish(entry, "the grading worker died while grading this submission (out of memory?); re-run")
                advance(entry.student)
    except _Interrupt as exc:
        if pool is not None:
            _halt(pool)
        run.results = write_class_csv(out, key, [e.student for e in entries])
        raise GradingInterrupted(exc.signum, run) from None
    except BaseException:
        if pool is not None:
            _halt(pool)
        raise
    finally:
        stop.restore()
    run.results = write_class_csv(out, key, [e.student for e in entries])
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
    """SIGINT and SIGTERM, while a class is graded: the handler only records the signal;
    the coordinator's wait loop sees it within a fraction of a second and raises
    _Interrupt there (raising from the handler itself could land anywhere, even in a
    weakref callback, where the exception would be lost)."""

    def __init__(self, saved: dict[int, object]) -> None:
        self.saved = saved
        self.signum = 0

    @classmethod
    def install(cls) -> _Stop:
        if threading.current_thread() is not threading.main_thread():
            return cls({})  # only the main thread may set handlers; the caller handles signals
        stop = cls({})

        def handler(signum: int, frame: object) -> None:
            stop.signum = stop.signum or signum

        stop.saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        return stop

    def completed(self, futures: Iterable[Future[Any]]) -> Iterator[Future[Any]]:
        """Like as_completed, checking for a signal every 0.2 s."""
        pending = set(futures)
        while pending:
            if self.signum:
                raise _Interrupt(self.signum)
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            yield from done
        if self.signum:
            raise _Interrupt(self.signum)

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


def _start_worker(use_bwrap: bool | None, allow_unsafe: bool, allow_imports: tuple[str, ...], temp: str) -> None:
    """A pool worker: Ctrl-C is the coordinator's to handle; SIGTERM kills the running
    sandboxed child and leaves at once (raising instead could land anywhere, even in a
    weakref callback, and print a traceback)."""

    def on_term(signum: int, frame: object) -> None:
        kill_running_children()
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    _init_worker(use_bwrap, allow_unsafe, temp, allow_imports)


def _grade_in_worker(entry: Entry, out: Path, secret: bytes, options: tuple) -> None:
    grade_entry(entry, out, secret, *options)


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
            transient=False,
        )
        self.bar.start()
        task = self.bar.add_task("", total=self.total)
        return lambda name: self.bar.update(task, advance=1, description=name)

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self.bar.stop()
