"""The sandboxed child: import a submission, run probes, stream plain numbers back.

Started by `sandbox.py` as `python -I -S -B runner.py REQUEST.json`, inside
bubblewrap where available. Before any student code runs it:

- takes fd 1 as its private result channel and points the student's stdout at
  stderr, so nothing a submission prints can pose as a result;
- sets its own resource limits (memory, CPU, file size);
- installs an audit hook that refuses new processes, network, ctypes, writing
  files, reading outside the submission and the Python runtime, and changing
  the limits again. Audit hooks cannot be removed from Python code.

It reports only what the probes compute. It never receives an expected value:
every comparison happens in the grader's own process.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import resource
import sys
import traceback

BLOCKED_EVENTS = (
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "subprocess.Popen",
    "pty.spawn",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "ctypes.cdata",
    "socket.connect",
    "socket.bind",
    "socket.__new__",
    "resource.setrlimit",
    "resource.prlimit",
    "sys.addaudithook",
    "os.chmod",
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.symlink",
    "os.link",
    "os.truncate",
    "shutil.rmtree",
)
WRITE_MODES = set("wax+")


def install_guard(read_roots: list[str]) -> None:
    roots = tuple(os.path.realpath(r).rstrip("/") + "/" for r in read_roots)

    def readable(path: object) -> bool:
        if isinstance(path, int):
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
        except Exception:
            return False
        return (real + "/").startswith(roots)

    def hook(event: str, args: tuple) -> None:
        if event.startswith(BLOCKED_EVENTS):
            raise PermissionError(f"the grader's sandbox does not allow {event}")
        if event == "open":
            path, mode = args[0], args[1] or "r"
            if isinstance(mode, str) and WRITE_MODES & set(mode):
                raise PermissionError("the grader's sandbox does not allow writing files")
            if not readable(path):
                raise PermissionError(f"the grader's sandbox does not allow reading {path!r}")
        elif event in ("os.listdir", "os.scandir") and args and args[0] is not None and not readable(args[0]):
            raise PermissionError(f"the grader's sandbox does not allow listing {args[0]!r}")

    sys.addaudithook(hook)


def set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        kind = getattr(resource, name)
        _soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


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
    set_limits(request["limits"])
    install_guard([submission, sys.base_prefix, sys.prefix, here])
    # Student graphs are usually full of reference cycles (closures over
    # `out`); the collector then costs ~90% of the time. Collect between probes.
    gc.disable()
    sys.path.insert(0, submission)

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
