"""The sandboxed child: import a submission, run probes, stream plain numbers back.

Started by `sandbox.py` (through the trusted `launch.py`, which has set the
resource limits and, in the `uid` mode, the jail and the unprivileged uid) as
`python -I -S -B runner.py REQUEST.json`, inside bubblewrap or the jail. Before
any student code runs it:

- takes fd 1 as its private result channel and points the student's stdout at
  stderr, so nothing a submission prints can pose as a result;
- installs an audit hook that refuses new processes, network, ctypes, writing
  files, reading outside the submission and the Python runtime, and changing
  the limits. Defence in depth only: a determined submission can get around a
  hook, never around the sandbox that holds this process.

It reports only what the probes compute. It never receives an expected value:
every comparison happens in the grader's own process.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import sys
import traceback

BLOCKED_EVENTS = (
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "os.chmod", "os.chown", "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link",
    "os.truncate", "os.utime", "os.setxattr", "os.removexattr", "os.chflags",
    "subprocess.Popen", "pty.spawn", "ctypes.", "socket.", "resource.setrlimit", "resource.prlimit",
    "sys.addaudithook", "sys.settrace", "sys.setprofile", "shutil.", "sqlite3.",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "signal.", "_thread.start_new_thread",
    "code.__new__", "function.__new__", "mmap.",
)  # fmt: skip
BLOCKED_MODULES = frozenset(
    {"ctypes", "_ctypes", "_posixsubprocess", "subprocess", "socket", "_socket", "signal", "_signal", "sqlite3",
     "_sqlite3", "multiprocessing", "_multiprocessing", "mmap", "fcntl", "pty", "termios", "_posixshmem"}
)  # fmt: skip
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def install_guard(read_roots: list[str]) -> None:
    """Defence in depth only: the real boundary is the sandbox around this process.

    Everything the hook uses is bound now, as default arguments, so rebinding
    this module's globals afterwards changes nothing."""
    roots = tuple(os.path.realpath(r).rstrip("/") + "/" for r in read_roots)

    def readable(path: object, roots: tuple[str, ...] = roots, realpath=os.path.realpath, fsdecode=os.fsdecode) -> bool:
        if type(path) is int:
            return True
        try:
            real = realpath(fsdecode(path))  # type: ignore[arg-type]
        except Exception:
            return False
        return (real + "/").startswith(roots)

    def hook(event: str, args: tuple, blocked: tuple[str, ...] = BLOCKED_EVENTS,
             modules: frozenset[str] = BLOCKED_MODULES, write_modes: frozenset[str] = frozenset("wax+"),
             write_flags: int = WRITE_FLAGS, readable=readable,
             str_type=str, int_type=int, error=PermissionError, frozen=frozenset,
             import_error=ImportError) -> None:  # fmt: skip
        if event.startswith(blocked):
            raise error(f"the grader's sandbox does not allow {event}")
        if event == "import":
            if type(args[0]) is str_type and args[0].partition(".")[0] in modules:
                raise import_error(f"the grader's sandbox does not allow importing {args[0]}")
        elif event == "open":
            path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
            if type(mode) is str_type and write_modes & frozen(mode):
                raise error("the grader's sandbox does not allow writing files")
            if type(flags) is int_type and flags & write_flags:
                raise error("the grader's sandbox does not allow writing files")
            if not readable(path):
                raise error(f"the grader's sandbox does not allow reading {path!r}")
        elif event == "object.__setattr__" and len(args) > 1 and args[1] in ("__code__", "__globals__"):
            raise error("the grader's sandbox does not allow replacing code objects")
        elif event in ("os.listdir", "os.scandir") and args and args[0] is not None and not readable(args[0]):
            raise error(f"the grader's sandbox does not allow listing {args[0]!r}")

    sys.addaudithook(hook)


def describe(exc: BaseException, submission: str) -> dict[str, object]:
    """The exception as plain data, with the innermost frame in the student's files."""
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(submission):
            where = {
                "file": os.path.relpath(frame.filename, submission),
                "line": frame.lineno,
                "function": frame.name,
                "code": (frame.line or "")[:200],
            }
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(submission):
        where = {
            "file": os.path.relpath(exc.filename, submission),
            "line": exc.lineno,
            "function": "",
            "code": (exc.text or "").strip()[:200],
        }
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    if isinstance(exc, SystemExit):
        message = f"the code called sys.exit({exc.code!r})"
    return {"type": type(exc).__name__, "message": str(message)[:600], "where": where}


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # the student's print() now goes to stderr
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    def send(message: dict[str, object]) -> None:
        for stream in (sys.stdout, sys.stderr):  # the student's output first, so none is lost
            with contextlib.suppress(Exception):  # a submission may have replaced sys.stdout
                stream.flush()
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.append(here)
    from probes import API_MODULES, Api, run_probe

    sys.path.remove(here)
    submission = request["submission"]
    allowed = [str(p) for p in request.get("allowed", [])]  # packages the instructor allows
    install_guard([submission, sys.base_prefix, sys.prefix, here, *allowed])
    # Student graphs are usually full of reference cycles (closures over
    # `out`); the collector then costs ~90% of the time. Collect between probes.
    gc.disable()
    sys.path.insert(0, submission)
    sys.path.extend(allowed)

    modules = {}
    try:
        for name in request["modules"]:
            modules[name] = importlib.import_module(f"micrograd.{name}")
    except BaseException as exc:
        send({"import_error": describe(exc, submission), "module": name})
        return
    names: dict[str, object] = {}
    for api_name, home in API_MODULES.items():
        for module in [modules.get(home), *modules.values()]:
            if module is not None and hasattr(module, api_name):
                names[api_name] = getattr(module, api_name)
                break
    api = Api(names)
    send({"ready": True})

    for item in request["probes"]:
        try:
            send({"id": item["id"], "result": run_probe(api, item["probe"])})
        except BaseException as exc:
            send({"id": item["id"], "error": describe(exc, submission)})
        gc.collect(0)


if __name__ == "__main__":
    main()
