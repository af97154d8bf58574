"""Run a submission's code in a separate, locked-down process.

Three modes, chosen once per grading run (`Sandbox.mode`):

- `bwrap` (bubblewrap works): no network, fresh PID/IPC/UTS/user namespaces, a
  read-only root holding only the Python runtime (site-packages hidden), the
  runner and the clean copy of the submission; a 4 MB `/tmp`.
- `uid` (root, no usable bubblewrap: a grading container): the child runs
  chrooted into a jail that holds only the runtime, the runner and the clean
  copy (`grader/jail.py`), as an unprivileged uid of its own with no groups,
  a process limit, no_new_privs and a seccomp filter refusing sockets; every
  process of that uid is killed when the child ends.
- `unsafe` (neither): a plain subprocess with resource limits and the audit
  hook only. The hook is defence in depth, not a boundary: this mode runs only
  when the instructor asks for it (`--unsafe-no-sandbox`) or for the kit's own
  embedded sample class.

In every mode the child gets a clean copy of the submission's `.py` files (made
by `grader/intake.py`), a request file with probe inputs (never expected
values), its limits set by the trusted `launch.py` before any student code
exists, and streams one JSON line per probe on a private channel. A line longer
than the probe can need, or that does not parse, is a malformed answer; a probe
that runs past its time limit or kills the process costs that probe, and the
child is restarted for the rest while the student's time lasts.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import marshal
import os
import py_compile
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
from typing import Any, Literal

from grader.types import GroupRun, Outcome, ProbeRequest

HERE = Path(__file__).resolve().parent
CHILD = HERE / "child"
LAUNCH = HERE / "launch.py"
RUNNER_FILES = ("runner.py", "probes.py")
STDERR_CAP = 16_000  # bytes of a public child's output kept for feedback
SANDBOX_TMP_BYTES = 4 << 20
Mode = Literal["bwrap", "uid", "container", "unsafe"]
MALFORMED = "malformed results (nothing was judged): "
IMPORT_TIMEOUT = "importing the submission did not finish"
IMPORT_SECONDS = 10.0  # the reference imports in milliseconds


_RUNNING: dict[int, tuple[subprocess.Popen[bytes], Sandbox]] = {}  # this process's children, by pid


def kill_running_children() -> None:
    """Kill every sandboxed child this process has running (a worker told to stop)."""
    for proc, sandbox in list(_RUNNING.values()):
        sandbox._end(proc)


class SandboxUnavailable(RuntimeError):
    """No mode that isolates student code is available, and unsafe was not allowed."""


@dataclass
class Limits:
    """Per-child limits, set by launch.py before the child's own code runs."""

    memory_bytes: int = 2 << 30
    cpu_seconds: int = 60
    file_bytes: int = 1 << 20
    open_files: int = 256
    processes: int = 32  # per uid, `uid` and `container` modes only
    max_restarts: int = 1

    def rlimits(self, mode: Mode) -> dict[str, int]:
        limits = {
            "RLIMIT_AS": self.memory_bytes,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_FSIZE": self.file_bytes,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }
        if mode in ("uid", "container"):
            limits["RLIMIT_NPROC"] = self.processes
        return limits


@functools.cache
def probes_bytecode() -> bytes:
    """The runner's probes, compiled once per process (unchecked-hash pyc): every
    child would otherwise compile them again. The grader's own code only; a
    submission's bytecode is never read."""
    with tempfile.TemporaryDirectory(prefix="grader-pyc-") as tmp:
        target = Path(tmp) / "probes.pyc"
        py_compile.compile(str(CHILD / "probes.py"), cfile=str(target), doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)  # fmt: skip
        return target.read_bytes()


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


def package_dirs(names: tuple[str, ...]) -> list[Path]:
    """The installed folders of the allowed packages (and their bundled libraries, `numpy.libs`)."""
    import importlib.util

    folders: list[Path] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SandboxUnavailable(f"--allow-import {name}: no installed package of that name")
        folder = Path(next(iter(spec.submodule_search_locations))).resolve()
        folders.append(folder)
        libs = folder.with_name(f"{folder.name}.libs")
        if libs.is_dir():
            folders.append(libs)
    return folders


def refusal_text() -> str:
    return (
        "no sandbox is available for untrusted code: bubblewrap is missing or cannot create namespaces here, and "
        "the grader is not root (the `uid` mode needs root to switch to an unprivileged uid). Install bubblewrap "
        "(`sudo apt-get install bubblewrap`), or grade as root inside a container, or pass --unsafe-no-sandbox "
        "to run submissions with your own rights (only for code you trust)."
    )


class Sandbox:
    """Launches children in the strongest mode available (see the module docstring)."""

    def __init__(
        self,
        limits: Limits | None = None,
        use_bwrap: bool | None = None,
        allow_unsafe: bool = False,
        allow_imports: tuple[str, ...] = (),
        use_container: bool | None = None,
        container_image: str | None = None,
    ) -> None:
        """`use_container`: None picks a container engine where nothing stronger works (not
        root, no bubblewrap); True insists on one (tests, or an instructor's choice); False never."""
        self.limits = limits or Limits()
        # Installed packages the instructor allows graded code to import: each is
        # shown read-only in the child, under /allowed (the rest of site-packages stays hidden).
        self.allowed = package_dirs(allow_imports)
        self.python, self.runtime_roots = python_runtime()
        self.warning = ""
        self.bwrap: str | None = None
        self.jail: Path | None = None
        self.slot: Any = None
        self.engine: Any = None
        self.containers: dict[int, str] = {}  # the container of each running child, by client pid
        problem = ""
        if use_container:
            self._use_container(container_image, "the container mode was asked for")
            return
        if use_bwrap is not False:
            found = shutil.which("bwrap")
            problem = self._smoke_test(found) if found else "bubblewrap (bwrap) is not installed"
            if found and not problem:
                self.bwrap = found
            elif use_bwrap:
                raise SandboxUnavailable(f"bubblewrap does not work here: {problem}")
        self.mode: Mode
        if self.bwrap:
            self.mode = "bwrap"
            return
        why = "bubblewrap disabled (--no-bwrap)" if use_bwrap is False else problem
        container_problem = ""
        if os.geteuid() == 0:
            self.mode = "uid"
            self.warning = f"{why}: student code runs chrooted as an unprivileged uid (the `uid` mode)."
            return
        if use_container is not False:
            try:
                self._use_container(container_image, why)
                return
            except SandboxUnavailable as exc:
                container_problem = str(exc)
        if allow_unsafe:
            self.mode = "unsafe"
            self.warning = (
                f"{why}, and the grader is not root: student code runs as a plain subprocess with YOUR rights "
                "(--unsafe-no-sandbox). Only the audit hook stands in its way, and a submission can switch it off."
            )
        else:
            raise SandboxUnavailable(f"{why}; {container_problem}; {refusal_text()}")

    def _use_container(self, image: str | None, why: str) -> None:
        from grader.container import find_engine

        image = image or os.environ.get("GRADER_CONTAINER_IMAGE") or None
        self.engine, problem = find_engine(image, self.limits.rlimits("container"))
        if self.engine is None:
            raise SandboxUnavailable(f"no container engine could run the child: {problem}")
        self.mode = "container"
        self.warning = (f"{why}: student code runs in {self.engine.name} containers ({self.engine.image}; no network, "
                        "read-only, as nobody), the `container` mode.")  # fmt: skip

    # ------------------------------------------------------------ set-up

    def bwrap_base(self, tmp_bytes: int = SANDBOX_TMP_BYTES) -> list[str]:
        """bubblewrap with every namespace unshared, a cleared environment, a size-capped
        /tmp and a read-only view of /usr and the Python runtime: what every sandbox starts from."""
        assert self.bwrap
        args = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
        args += ["--setenv", "LC_ALL", "C.UTF-8", "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
        args += ["--size", str(tmp_bytes), "--tmpfs", "/tmp"]
        for link in ("bin", "lib", "lib64", "sbin"):
            target = Path("/") / link
            if target.is_symlink():
                args += ["--symlink", os.readlink(target), f"/{link}"]
            elif target.is_dir():
                args += ["--ro-bind", str(target), f"/{link}"]
        for root in self.runtime_roots:
            if not root.startswith("/usr/"):
                args += ["--ro-bind", root, root]
        return args

    def _bwrap_args(self, submission: Path, workdir: Path) -> list[str]:
        args = self.bwrap_base()
        for d in site_dirs():
            args += ["--size", "4096", "--tmpfs", d, "--remount-ro", d]
        for folder in self.allowed:
            args += ["--ro-bind", str(folder), f"/allowed/{folder.name}"]
        args += ["--ro-bind", str(workdir), "/grader", "--ro-bind", str(submission), "/submission"]
        args += ["--remount-ro", "/", "--chdir", "/submission"]
        return args

    def _smoke_test(self, bwrap: str) -> str:
        self.bwrap = bwrap
        try:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [*self._bwrap_args(Path(tmp), Path(tmp)), self.python, "-I", "-S", "-c", "print(6*7)"]
                try:
                    run = subprocess.run(cmd, capture_output=True, timeout=30, text=True)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    return str(exc)
                if run.returncode != 0 or run.stdout.strip() != "42":
                    return (run.stderr.strip() or f"exit code {run.returncode}")[:300]
            return ""
        finally:
            self.bwrap = None

    def _ensure_jail(self) -> Path:
        if self.jail is None:
            from grader.jail import UidSlot, build_jail

            self.slot = UidSlot()
            self.jail = build_jail(self.python, self.allowed)
        return self.jail

    def close(self) -> None:
        """Remove the jail and free the uid (`uid` mode); harmless otherwise."""
        if self.jail is not None:
            shutil.rmtree(self.jail, ignore_errors=True)
            self.jail = None
        if self.slot is not None:
            self.slot.release()
            self.slot = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ------------------------------------------------------------------ one run

    def run_group(
        self,
        copy: Path,
        modules: list[str],
        probes: list[ProbeRequest],
        deadline: float,
        *,
        keep_output: bool,
        max_restarts: int | None = None,
    ) -> GroupRun:
        """Run `probes` against `copy` (a clean folder holding `micrograd/`) until
        `deadline` (time.monotonic()); restart after a timeout or crash.

        `keep_output`: keep what the student's code prints. Only for a child that
        holds neither hidden inputs nor reference code; otherwise it is dropped
        unread, since it could carry either."""
        restarts_allowed = self.limits.max_restarts if max_restarts is None else max_restarts
        run = GroupRun()
        start = time.monotonic()
        remaining = list(probes)
        restarts = 0
        stderr_parts: list[str] = [] if keep_output else None  # type: ignore[assignment]
        with tempfile.TemporaryDirectory(prefix="grader-run-") as tmp:
            private = Path(tmp)
            workdir, inside = self._stage(copy, private)
            while remaining:
                left = deadline - time.monotonic()
                if left <= 0:
                    for p in remaining:
                        run.outcomes[p.id] = Outcome("skipped", message="not run: this submission's time was used up")
                    break
                stop_after = self._run_once(private, workdir, inside, modules, remaining, left, run, stderr_parts)
                if stop_after is None:
                    break
                remaining = remaining[stop_after + 1 :]
                restarts += 1
                if remaining and restarts > restarts_allowed:
                    for p in remaining:
                        run.outcomes[p.id] = Outcome(
                            "skipped", message="not run: earlier probes in this group timed out or crashed"
                        )
                    break
        run.stderr = "".join(stderr_parts)[:STDERR_CAP] if keep_output else ""
        run.seconds = time.monotonic() - start
        return run

    def _stage(self, copy: Path, private: Path) -> tuple[Path, Path]:
        """Put the runner and the copy where the child will see them; returns
        (runner folder, submission folder) as the grader sees them."""
        if self.mode == "uid":
            jail = self._ensure_jail()
            workdir, inside = jail / "grader", jail / "submission"
            for folder in (workdir, inside):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(mode=0o755)
            shutil.copytree(copy, inside, dirs_exist_ok=True, copy_function=shutil.copyfile)
        elif self.mode == "container":  # a copy the container's `nobody` may read, whatever the umask
            workdir, inside = private / "grader", private / "submission"
            workdir.mkdir()
            shutil.copytree(copy, inside, copy_function=shutil.copyfile)
        else:
            workdir, inside = private / "grader", copy
            workdir.mkdir()
        for name in RUNNER_FILES:
            shutil.copyfile(CHILD / name, workdir / name)
        cached = workdir / importlib.util.cache_from_source("probes.py")
        cached.parent.mkdir()
        cached.write_bytes(probes_bytecode())
        if self.mode in ("uid", "container"):  # the umask may be 077: the child's uid must read these
            for folder in (workdir, inside):
                for dirpath, _, filenames in os.walk(folder):
                    os.chmod(dirpath, 0o755)
                    for f in filenames:
                        os.chmod(Path(dirpath) / f, 0o644)
        return workdir, inside

    def _command(self, private: Path, workdir: Path, inside: Path, container: str = "") -> list[str]:
        if self.mode == "container":  # the engine sets the limits; no launcher
            from grader.container import run_command

            mounts = [(workdir, "/grader"), (inside, "/submission")]
            mounts += [(folder, f"/allowed/{folder.name}") for folder in self.allowed]
            argv = ["-I", "-S", "-B", "/grader/runner.py", "/grader/request.json"]
            return run_command(self.engine, container, self.limits.rlimits("container"),
                               SANDBOX_TMP_BYTES, mounts, argv)  # fmt: skip
        spec: dict[str, Any] = {"limits": self.limits.rlimits(self.mode), "env": {"LC_ALL": "C.UTF-8"}}
        if self.mode == "bwrap":
            runner, request = "/grader/runner.py", "/grader/request.json"
            spec["env"] = {"PATH": "/usr/bin:/bin"}
            program = [*self._bwrap_args(inside, workdir), self.python]
        elif self.mode == "uid":
            assert self.jail and self.slot
            runner, request = "/grader/runner.py", "/grader/request.json"
            spec |= {"jail": str(self.jail), "uid": self.slot.uid, "gid": self.slot.uid, "workdir": "/submission"}
            program = [self.python]
        else:
            runner, request = str(workdir / "runner.py"), str(workdir / "request.json")
            spec |= {"workdir": str(inside), "env": {"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}}
            program = [self.python]
        spec_path = private / "launch.marshal"
        spec_path.write_bytes(marshal.dumps(spec))
        launch = [self.python, "-I", "-S", "-B", str(LAUNCH), str(spec_path), "--"]
        return [*launch, *program, "-I", "-S", "-B", runner, request]

    def _run_once(
        self,
        private: Path,
        workdir: Path,
        inside: Path,
        modules: list[str],
        probes: list[ProbeRequest],
        budget: float,
        run: GroupRun,
        stderr_parts: list[str] | None,
    ) -> int | None:
        """One child for `probes`. Returns the index of the probe that timed out
        or crashed (so the caller restarts after it), or None when done."""
        isolated = self.mode in ("bwrap", "uid", "container")
        child_root = "/submission" if isolated else str(inside)
        allowed = (["/allowed"] if self.allowed else []) if isolated else sorted({str(f.parent) for f in self.allowed})
        request = {
            "allowed": allowed,
            "submission": child_root,
            "modules": modules,
            "probes": [{"id": p.id, "probe": p.probe} for p in probes],
        }
        request_path = workdir / "request.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        if self.mode in ("uid", "container"):
            os.chmod(request_path, 0o644)
        container, env = "", {}
        if self.mode == "container":
            from grader.container import child_name, engine_env

            container, env = child_name(), engine_env()  # the engine's own env; the container gets none of it
        proc = subprocess.Popen(
            self._command(private, workdir, inside, container),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        _RUNNING[proc.pid] = (proc, self)
        if container:
            self.containers[proc.pid] = container
        try:
            return self._collect(proc, probes, budget, run, stderr_parts)
        finally:
            self._end(proc)
            _RUNNING.pop(proc.pid, None)

    def _end(self, proc: subprocess.Popen[bytes]) -> None:
        """End the child and everything it started."""
        _kill(proc)
        name = self.containers.pop(proc.pid, None)
        if name and (proc.returncode is None or proc.returncode < 0):
            # The engine's client was killed (a timeout, a stop): its container may still run.
            from grader.container import remove

            remove(self.engine, name)
        if self.mode == "uid" and self.slot is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    [self.python, "-I", "-S", "-B", str(LAUNCH), "--kill", str(self.slot.uid)],
                    env={}, timeout=30, check=False,
                )  # fmt: skip

    def _collect(
        self,
        proc: subprocess.Popen[bytes],
        probes: list[ProbeRequest],
        budget: float,
        run: GroupRun,
        stderr_parts: list[str] | None,
    ) -> int | None:
        assert proc.stdout and proc.stderr
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)
        buffer = bytearray()
        overlong = False
        stderr_len = sum(len(p) for p in stderr_parts) if stderr_parts is not None else 0
        ready = False
        index = 0  # the probe whose result comes next
        start = time.monotonic()
        import_seconds = min(IMPORT_SECONDS, budget)
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
                    if stderr_parts is not None and stderr_len < STDERR_CAP:
                        stderr_parts.append(chunk.decode("utf-8", "replace"))
                    stderr_len += len(chunk)
                    continue
                cap = probes[index].max_bytes if ready else 4096
                while chunk and index < len(probes):
                    newline = chunk.find(b"\n")
                    part, chunk = (chunk, b"") if newline < 0 else (chunk[:newline], chunk[newline + 1 :])
                    if not overlong:
                        buffer += part
                        if len(buffer) > cap:
                            overlong, buffer = True, bytearray()
                    if newline < 0:
                        break
                    line, was_overlong = bytes(buffer), overlong
                    buffer, overlong = bytearray(), False
                    message = None if was_overlong else _parse(line)
                    if not ready:
                        if message is None:
                            continue
                        if "import_error" in message:
                            err = message["import_error"] if isinstance(message["import_error"], dict) else {}
                            for p in probes:
                                run.outcomes[p.id] = Outcome("import_error", error=err)
                            return None
                        ready = message.get("ready") is True
                    elif message is None:  # not an answer on the private channel: it spoils this check
                        why = "longer than this check can need" if was_overlong else "not valid JSON"
                        run.outcomes[probes[index].id] = Outcome("malformed", message=MALFORMED + why)
                        index += 1
                    elif message.get("id") != probes[index].id:
                        continue  # not the answer we are waiting for: ignore it
                    else:
                        result, err = message.get("result"), message.get("error")
                        run.outcomes[probes[index].id] = (
                            Outcome("ok", result=result) if isinstance(result, dict)
                            else Outcome("error", error=err if isinstance(err, dict) else {})
                        )  # fmt: skip
                        index += 1
                    if ready and index < len(probes):  # the clock starts for the next probe
                        probe_deadline = time.monotonic() + probes[index].seconds
                        cap = probes[index].max_bytes
        if index >= len(probes):
            return None
        # Stopped early: a timeout, or the process ended without answering.
        timed_out = time.monotonic() >= min(probe_deadline, start + budget) and proc.poll() is None
        _kill(proc)
        code = proc.returncode
        if not ready:
            if timed_out:
                msg = f"{IMPORT_TIMEOUT} within {import_seconds:.0f} s (an endless loop at import time?)"
                status = "timeout"
            else:
                msg = f"the process exited while importing the submission ({_exit_text(code)})"
                status = "import_error"
            for p in probes:
                run.outcomes[p.id] = Outcome(status, message=msg)  # type: ignore[arg-type]
            return None
        p = probes[index]
        if timed_out:
            run.outcomes[p.id] = Outcome("timeout", message=f"did not finish within {p.seconds:g} s (an endless loop?)")
        else:
            run.outcomes[p.id] = Outcome(
                "crashed", message=f"the process died while running this check ({_exit_text(code)})"
            )
        return index


def _parse(line: bytes) -> dict[str, Any] | None:
    """One answer line, or None: bad JSON, too deep, numbers out of range all count as no answer."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
    """End the child and everything in its session (its process group)."""
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
