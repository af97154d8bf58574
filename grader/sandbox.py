"""Run a submission's code in a separate, locked-down process.

With bubblewrap (`bwrap`): no network, fresh PID/IPC/UTS namespaces, a
read-only view of the Python runtime (its site-packages hidden) and of that
student's submission, and nothing else: the reference, the probes to come, the
reports and the other students' folders do not exist inside. Without bwrap: a
plain subprocess on a working copy of the submission, with the same limits and
audit hook, and a warning that isolation is weaker.

Either way the child gets one request file (probe inputs, never expected
values) and streams one JSON line per probe. A probe that runs past its time
limit or kills the process costs that probe; the child is restarted for the
rest, within the group's time budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.types import GroupRun, Outcome

CHILD = Path(__file__).resolve().parent / "child"
RUNNER_FILES = ("runner.py", "probes.py")
STDERR_CAP = 16_000  # bytes of a child's stderr kept for feedback
LINE_CAP = 4_000_000  # bytes of one result line
SUBMISSION_CAP = 20_000_000  # bytes copied for the fallback's working copy


@dataclass
class Limits:
    """Per-child limits. Times are wall-clock seconds."""

    memory_bytes: int = 2 << 30
    cpu_seconds: int = 120
    file_bytes: int = 1 << 20
    open_files: int = 256
    max_restarts: int = 1

    def rlimits(self) -> dict[str, int]:
        return {
            "RLIMIT_AS": self.memory_bytes,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_FSIZE": self.file_bytes,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }


def python_runtime() -> tuple[str, list[str]]:
    """The base interpreter (not a venv's wrapper) and the folders it needs."""
    exe = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    roots = {os.path.realpath(sys.base_prefix)}
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    if not any(stdlib.startswith(r + "/") for r in roots):
        roots.add(stdlib)
    return exe, sorted(roots)


def site_dirs() -> list[str]:
    """Package folders of the base runtime, hidden inside the sandbox."""
    base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    dirs = {base["purelib"], base["platlib"], "/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages"}
    v = f"{sys.version_info.major}.{sys.version_info.minor}"
    dirs.add(f"/usr/local/lib/python{v}/dist-packages")
    return sorted(d for d in dirs if os.path.isdir(d))


class Sandbox:
    """Launches children in bwrap, or in a plain subprocess when bwrap is unusable."""

    def __init__(self, limits: Limits | None = None, use_bwrap: bool | None = None) -> None:
        self.limits = limits or Limits()
        self.python, self.runtime_roots = python_runtime()
        self.warning = ""
        bwrap = shutil.which("bwrap")
        if use_bwrap is False:
            self.bwrap = None
            self.warning = "bubblewrap disabled: student code runs in a plain subprocess (weaker isolation)."
        elif bwrap is None:
            self.bwrap = None
            self.warning = (
                "bubblewrap (bwrap) is not installed: student code runs in a plain subprocess with resource "
                "limits, which isolates it less (it could read files the grader can read). "
                "Install it with `sudo apt-get install bubblewrap`."
            )
        else:
            self.bwrap = bwrap
            problem = self._smoke_test()
            if problem:
                if use_bwrap:
                    raise RuntimeError(f"bubblewrap does not work here: {problem}")
                self.bwrap = None
                self.warning = (
                    f"bubblewrap is installed but cannot create a sandbox here ({problem}); "
                    "student code runs in a plain subprocess (weaker isolation)."
                )

    @property
    def mode(self) -> str:
        return "bwrap" if self.bwrap else "subprocess"

    def _bwrap_args(self, submission: Path, workdir: Path) -> list[str]:
        assert self.bwrap
        args = [self.bwrap, "--unshare-all", "--die-with-parent", "--clearenv", "--setenv", "LC_ALL", "C.UTF-8"]
        args += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for link in ("bin", "lib", "lib64", "sbin"):
            target = Path("/") / link
            if target.is_symlink():
                args += ["--symlink", os.readlink(target), f"/{link}"]
            elif target.is_dir():
                args += ["--ro-bind", str(target), f"/{link}"]
        for root in self.runtime_roots:
            if not root.startswith("/usr/"):
                args += ["--ro-bind", root, root]
        for d in site_dirs():
            args += ["--tmpfs", d]
        args += [
            "--ro-bind",
            str(workdir),
            "/grader",
            "--ro-bind",
            str(submission),
            "/submission",
            "--chdir",
            "/submission",
        ]
        return args

    def _smoke_test(self) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [*self._bwrap_args(Path(tmp), Path(tmp)), self.python, "-I", "-S", "-c", "print(6*7)"]
            try:
                run = subprocess.run(cmd, capture_output=True, timeout=20, text=True)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return str(exc)
            if run.returncode != 0 or run.stdout.strip() != "42":
                return (run.stderr.strip() or f"exit code {run.returncode}")[:300]
        return ""

    # ------------------------------------------------------------------ one run

    def run_group(
        self,
        submission: Path,
        modules: list[str],
        probes: list[tuple[str, dict[str, Any], float]],
        budget: float,
        max_restarts: int | None = None,
    ) -> GroupRun:
        """Run `probes` (id, probe, seconds allowed) against `submission`, a
        folder holding a `micrograd/` package; restart after a timeout or crash."""
        restarts_allowed = self.limits.max_restarts if max_restarts is None else max_restarts
        run = GroupRun()
        start = time.monotonic()
        remaining = list(probes)
        restarts = 0
        stderr_parts: list[str] = []
        with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
            workdir = Path(tmp) / "grader"
            workdir.mkdir()
            for name in RUNNER_FILES:
                shutil.copy2(CHILD / name, workdir / name)
            if self.bwrap:
                inside = Path("/submission")
            else:
                inside = Path(tmp) / "submission"
                _copy_submission(submission, inside)
            while remaining:
                left = budget - (time.monotonic() - start)
                if left <= 0:
                    for pid, _, _ in remaining:
                        run.outcomes[pid] = Outcome("skipped", message="not run: this group's time budget was used up")
                    break
                stop_after = self._run_once(submission, inside, workdir, modules, remaining, left, run, stderr_parts)
                if stop_after is None:
                    break
                remaining = remaining[stop_after + 1 :]
                restarts += 1
                if remaining and restarts > restarts_allowed:
                    for pid, _, _ in remaining:
                        run.outcomes[pid] = Outcome(
                            "skipped", message="not run: earlier probes in this group timed out or crashed"
                        )
                    break
        run.stderr = "".join(stderr_parts)[:STDERR_CAP]
        run.seconds = time.monotonic() - start
        return run

    def _run_once(
        self,
        submission: Path,
        inside: Path,
        workdir: Path,
        modules: list[str],
        probes: list[tuple[str, dict[str, Any], float]],
        budget: float,
        run: GroupRun,
        stderr_parts: list[str],
    ) -> int | None:
        """One child for `probes`. Returns the index of the probe that timed out
        or crashed (so the caller restarts after it), or None when done."""
        request = {
            "submission": str(inside),
            "modules": modules,
            "limits": self.limits.rlimits(),
            "probes": [{"id": pid, "probe": probe} for pid, probe, _ in probes],
        }
        request_path = workdir / "request.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        runner = "/grader/runner.py" if self.bwrap else str(workdir / "runner.py")
        req = "/grader/request.json" if self.bwrap else str(request_path)
        python = [self.python, "-I", "-S", "-B", runner, req]
        if self.bwrap:
            cmd = [*self._bwrap_args(submission, workdir), *python]
            env = {}
        else:
            cmd = python
            env = {"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(inside) if not self.bwrap else None,
            env=env,
            start_new_session=True,
        )
        try:
            return self._collect(proc, probes, budget, run, stderr_parts)
        finally:
            _kill(proc)

    def _collect(
        self,
        proc: subprocess.Popen[bytes],
        probes: list[tuple[str, dict[str, Any], float]],
        budget: float,
        run: GroupRun,
        stderr_parts: list[str],
    ) -> int | None:
        assert proc.stdout and proc.stderr
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)
        buffer = b""
        stderr_len = sum(len(p) for p in stderr_parts)
        ready = False
        index = 0  # the probe whose result comes next
        start = time.monotonic()
        import_seconds = min(30.0, budget)
        probe_deadline = start + import_seconds
        open_streams = 2
        while open_streams and index < len(probes):
            now = time.monotonic()
            deadline = min(probe_deadline, start + budget)
            if now >= deadline:
                break
            for key, _ in sel.select(timeout=deadline - now):
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if key.data == "err":
                    if stderr_len < STDERR_CAP:
                        stderr_parts.append(chunk.decode("utf-8", "replace"))
                    stderr_len += len(chunk)
                    continue
                buffer += chunk
                if len(buffer) > LINE_CAP and b"\n" not in buffer:
                    buffer = b""
                    run.notes.append("a result line longer than the grader accepts was dropped")
                while b"\n" in buffer and index < len(probes):
                    line, buffer = buffer.split(b"\n", 1)
                    message = _parse(line)
                    if message is None:
                        continue
                    if not ready:
                        if "import_error" in message:
                            err = message["import_error"] if isinstance(message["import_error"], dict) else {}
                            for pid, _, _ in probes:
                                run.outcomes[pid] = Outcome("import_error", error=err)
                            return None
                        if message.get("ready") is True:
                            ready = True
                            probe_deadline = time.monotonic() + probes[0][2]
                        continue
                    pid = probes[index][0]
                    if message.get("id") != pid:
                        continue  # not the answer we are waiting for: ignore it
                    if isinstance(message.get("result"), dict):
                        run.outcomes[pid] = Outcome("ok", result=message["result"])
                    else:
                        err = message.get("error")
                        run.outcomes[pid] = Outcome("error", error=err if isinstance(err, dict) else {})
                    index += 1
                    if index < len(probes):
                        probe_deadline = time.monotonic() + probes[index][2]
        if index >= len(probes):
            return None
        # Stopped early: a timeout, or the process ended without answering.
        timed_out = time.monotonic() >= min(probe_deadline, start + budget) and proc.poll() is None
        _kill(proc)
        code = proc.returncode
        if not ready:
            if timed_out:
                msg = (
                    f"importing the submission did not finish within {import_seconds:.0f} s "
                    "(an endless loop at import time?)"
                )
                status = "timeout"
            else:
                msg = f"the process exited while importing the submission ({_exit_text(code)})"
                status = "import_error"
            for pid, _, _ in probes:
                run.outcomes[pid] = Outcome(status, message=msg)
            return None
        pid, _, seconds = probes[index]
        if timed_out:
            run.outcomes[pid] = Outcome("timeout", message=f"did not finish within {seconds:g} s (an endless loop?)")
        else:
            run.outcomes[pid] = Outcome(
                "crashed", message=f"the process died while running this check ({_exit_text(code)})"
            )
        return index


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " - out of memory or a crash deep in recursion?" if name in ("SIGSEGV", "SIGKILL", "SIGABRT") else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """End the child and everything it started (its whole process group)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def _copy_submission(src: Path, dst: Path) -> None:
    """A working copy for the fallback: regular files only, no links, size-capped."""
    total = 0
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_symlink() or "__pycache__" in rel.parts:
            continue
        target = dst / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            total += path.stat().st_size
            if total > SUBMISSION_CAP:
                raise OSError(f"the submission is larger than {SUBMISSION_CAP // 1_000_000} MB")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    dst.mkdir(parents=True, exist_ok=True)
