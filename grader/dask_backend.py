"""Grade a class on a Dask distributed cluster, behind the `concurrent.futures` interface.

`DaskExecutor(ADDRESS)` connects to `tcp://HOST:PORT` (a running `dask scheduler`)
or starts `local:N`, a LocalCluster of N single-threaded worker processes on
loopback. Every worker is initialised as a process-pool worker is
(`grader.classroom._init_worker`: its sandbox, torch and the reference loaded once).

Workers need not share a filesystem with the coordinator: `pack` sends a
submission's bytes (a zip as it is, a folder zipped in memory, links left out), the
worker grades it with `grade_entry` into a scratch folder and sends the report
files back, and `store` writes them on the coordinator, the only writer of reports.
The student's last results.json goes along, so an up-to-date report is reused (the
worker returns None) exactly as on the process pool.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

from grader.intake import ZIP_MAX_BYTES, Entry, SubmissionError, safe_unzip
from grader.report import RESULTS, atomic_write, student_folder

try:  # an optional extra: pip install -e '.[dask]'
    from distributed import Client, LocalCluster, WorkerPlugin
except ImportError:  # pragma: no cover - reported when --dask is used
    Client = LocalCluster = None  # type: ignore[assignment,misc]
    WorkerPlugin = object  # type: ignore[assignment,misc]

CONNECT_TIMEOUT = "30s"


def parse_address(address: str) -> tuple[str, int]:
    """("local", N) for `local:N`, ("tcp", 0) for a scheduler's `tcp://HOST:PORT`."""
    if address.startswith("local:"):
        try:
            n = int(address.removeprefix("local:"))
        except ValueError:
            n = 0
        if n < 1:
            raise SubmissionError(f"--dask {address}: local:N needs a number of workers N >= 1")
        return "local", n
    if address.startswith("tcp://") and ":" in address.removeprefix("tcp://"):
        return "tcp", 0
    raise SubmissionError(f"--dask {address}: expected tcp://HOST:PORT of a `dask scheduler`, or local:N")


class InitWorker(WorkerPlugin):
    """A Dask worker plugin: the same initialisation as a process-pool worker."""

    name = "micrograd-kit-init"

    def __init__(self, options: tuple[bool | None, bool, tuple[str, ...]]) -> None:
        self.options = options  # use_bwrap, allow_unsafe, allow_imports

    def setup(self, worker: Any) -> None:
        from grader.classroom import _init_worker

        use_bwrap, allow_unsafe, allow_imports = self.options
        _init_worker(use_bwrap, allow_unsafe, None, allow_imports)

    def teardown(self, worker: Any) -> None:
        pass


class DaskExecutor(Executor):
    """A concurrent.futures Executor whose work runs on a Dask cluster."""

    def __init__(self, address: str, *, options: tuple[bool | None, bool, tuple[str, ...]] = (None, False, ())) -> None:
        kind, n = parse_address(address)
        if Client is None:
            raise SubmissionError("--dask needs Dask distributed: pip install -e '.[dask]' (or dask distributed)")
        self.cluster = None
        if kind == "local":
            self.cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(address, timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                raise SubmissionError(f"--dask {address}: no Dask scheduler answered ({exc})") from None
        self.client.register_plugin(InitWorker(options), name=InitWorker.name)
        self.executor = self.client.get_executor(pure=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Close the client (and a local cluster, whose workers are then stopped). Queued work is
        cancelled when `cancel_futures` or not `wait`; a remote worker finishes its current task."""
        try:
            self.executor.shutdown(wait=wait and not cancel_futures)
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def pack(entry: Entry) -> tuple[str, bytes]:
    """(name, bytes) of an entry for a worker: a zip as it is, a folder zipped (links left out)."""
    if not entry.path.is_dir():
        if entry.path.stat().st_size > ZIP_MAX_BYTES:
            raise SubmissionError(f"{entry.path.name} is larger than {ZIP_MAX_BYTES // 1_000_000} MB")
        return entry.path.name, entry.path.read_bytes()
    buffer, total = io.BytesIO(), 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, dirs, files in os.walk(entry.path):  # never follows a link
            base = Path(folder)
            dirs[:] = sorted(d for d in dirs if not (base / d).is_symlink())
            for name in sorted(files):
                path = base / name
                if path.is_symlink() or not path.is_file():
                    continue
                total += path.stat().st_size
                if total > ZIP_MAX_BYTES:
                    raise SubmissionError(f"{entry.path.name} holds more than {ZIP_MAX_BYTES // 1_000_000} MB")
                zf.write(path, path.relative_to(entry.path).as_posix())
    return entry.path.name + "/", buffer.getvalue()


def grade_remote(
    student: str, name: str, payload: bytes, previous: bytes | None, secret: bytes, options: tuple
) -> dict[str, bytes] | None:
    """On a worker: grade one packed entry with `grade_entry`; the report files, or None if reused."""
    from grader.classroom import grade_entry

    with tempfile.TemporaryDirectory(prefix="dask-entry-") as tmp:
        where = Path(tmp) / "in"
        where.mkdir()
        if name.endswith("/"):
            path = where / name.rstrip("/")
            archive = Path(tmp) / "packed.zip"
            archive.write_bytes(payload)
            safe_unzip(archive, path)
            archive.unlink()
        else:
            path = where / name
            path.write_bytes(payload)
        out = Path(tmp) / "out"
        folder = student_folder(out, student)
        report = folder / RESULTS
        if previous is not None:
            report.parent.mkdir(parents=True)
            report.write_bytes(previous)
        before = report.stat().st_ino if previous is not None else None
        grade_entry(Entry(student, path), out, secret, *options)
        if before is not None and report.stat().st_ino == before:
            return None
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def store(folder: Path, files: dict[str, bytes]) -> None:
    """Write a student's report files atomically, results.json last (it marks the student done)."""
    for rel in sorted(files, key=lambda r: r == RESULTS):
        target = folder / rel
        if not target.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"a worker sent a report file outside the student's folder: {rel}")
        atomic_write(target, files[rel])
