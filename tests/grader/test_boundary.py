"""The trust boundary, layer by layer and property by property, with hostile submissions.

Layers are tested on their own: bubblewrap's arguments and the `uid` jail each
run a hostile script with no audit hook at all; the hook is tested without
either. Then each property of the README's trust section is attacked through
the real grader in every mode this machine can run (CI: root with bubblewrap
and podman, so `bwrap`, `uid` and `container`).
"""

from __future__ import annotations

import functools
import json
import marshal
import os
import py_compile
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader import grading, rubric
from grader.grading import grade_package, student_seed
from grader.launch import ARCHES
from grader.report import feedback_markdown, gradescope_json
from grader.samples import REFERENCE, SKELETON, package_with
from grader.sandbox import LAUNCH, Sandbox, SandboxUnavailable

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0
try:
    HAVE_BWRAP = Sandbox().mode == "bwrap"
except SandboxUnavailable:
    HAVE_BWRAP = False
HAVE_PODMAN = shutil.which("podman") is not None
MODES = [
    pytest.param("bwrap", id="bwrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bwrap unusable here")),
    pytest.param("uid", id="uid", marks=pytest.mark.skipif(not IS_ROOT, reason="the uid mode needs root")),
    pytest.param("container", id="container", marks=pytest.mark.skipif(not HAVE_PODMAN, reason="no podman")),
]
if os.environ.get("CI") and not (HAVE_BWRAP and IS_ROOT and HAVE_PODMAN):
    raise RuntimeError("CI runs as root with bubblewrap and podman: every sandbox mode must be tested there")
@functools.cache
def child_image() -> str:
    """An image of this machine's Python for the container mode (no registry here), built once."""
    from grader.container import build_image

    return build_image(shutil.which("podman") or "podman", Sandbox(allow_unsafe=True).python)


def sandbox(mode: str, allow_imports: tuple[str, ...] = ()) -> Sandbox:
    if mode == "container":
        return Sandbox(use_bwrap=False, use_container=True, container_image=child_image(), allow_imports=allow_imports)
    return Sandbox(use_bwrap=None if mode == "bwrap" else False, allow_imports=allow_imports)


def everything_shown(result) -> str:
    """Every text a student or the class summary can see."""
    return feedback_markdown(result) + json.dumps(gradescope_json(result))


HOSTILE_SCRIPT = r"""
import os, sys
found = []
def attempt(name, fn):
    try:
        fn()
        found.append("LEAK " + name)
    except BaseException as exc:
        found.append("ok " + name + " " + type(exc).__name__)
def visible(folder, name):
    if name not in os.listdir(folder):
        raise FileNotFoundError(name)
attempt("read kit", lambda: open(KIT + "/reference/micrograd/engine.py").read())
attempt("list kit", lambda: os.listdir(KIT))
attempt("see the grader's temp files", lambda: visible(os.path.dirname(OUTSIDE), os.path.basename(OUTSIDE)))
attempt("write outside", lambda: open(OUTSIDE + "/pwned", "w").write("x"))
attempt("write runtime", lambda: open(os.__file__, "a").write("x"))
attempt("network", lambda: __import__("socket").create_connection(("127.0.0.1", PORT), timeout=2))
attempt("parent environ", lambda: open("/proc/%d/environ" % os.getppid()).read() if os.getppid() > 1 else 1 / 0)
attempt("signal the grader", lambda: os.kill(PARENT, 0))
attempt("big tmp", lambda: open("/tmp/big", "wb").write(b"0" * (64 << 20)))
print("\n".join(found), file=sys.stderr)
"""


def hostile(tmp_path: Path, port: int) -> str:
    return (HOSTILE_SCRIPT.replace("KIT", repr(str(ROOT))).replace("OUTSIDE", repr(str(tmp_path)))
            .replace("PORT", str(port)).replace("PARENT", str(os.getpid())))  # fmt: skip


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


# ------------------------------------------------------------ layers on their own


@pytest.mark.skipif(not HAVE_BWRAP, reason="bwrap unusable here")
def test_bwrap_alone_isolates_without_the_audit_hook(tmp_path: Path, listener: int) -> None:
    box = Sandbox()
    (tmp_path / "sub").mkdir()
    (tmp_path / "run").mkdir()
    cmd = [*box._bwrap_args(tmp_path / "sub", tmp_path / "run"), box.python, "-I", "-S", "-c"]
    cmd.append(hostile(tmp_path, listener))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stderr
    assert "LEAK" not in out and out.count("ok ") == 9, out
    assert not (tmp_path / "pwned").exists()


@pytest.mark.skipif(not IS_ROOT, reason="the uid mode needs root")
def test_uid_jail_alone_isolates_without_the_audit_hook(tmp_path: Path, listener: int) -> None:
    box = Sandbox(use_bwrap=False)
    try:
        jail = box._ensure_jail()
        spec = tmp_path / "spec.marshal"
        spec.write_bytes(marshal.dumps({"limits": box.limits.rlimits("uid"), "jail": str(jail), "uid": box.slot.uid,
                                    "gid": box.slot.uid, "workdir": "/submission", "env": {}}))  # fmt: skip
        script = hostile(tmp_path, listener) + "\nprint('uid', os.getuid(), os.listdir('/'), file=sys.stderr)"
        cmd = [box.python, "-I", "-S", "-B", str(LAUNCH), str(spec), "--", box.python, "-I", "-S", "-c", script]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stderr
        assert "LEAK" not in out and out.count("ok ") == 9, out
        assert f"uid {box.slot.uid}" in out and "'work'" not in out
        assert not (tmp_path / "pwned").exists()
    finally:
        box.close()


@pytest.mark.skipif(not IS_ROOT, reason="the uid mode needs root")
def test_uid_mode_kills_every_process_the_child_left(tmp_path: Path) -> None:
    # A daemon that leaves its session, run under the launcher without the runner's hook.
    daemon = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"
    box = Sandbox(use_bwrap=False)
    try:
        jail = box._ensure_jail()
        spec = tmp_path / "spec.marshal"
        spec.write_bytes(marshal.dumps({"limits": box.limits.rlimits("uid"), "jail": str(jail), "uid": box.slot.uid,
                                    "gid": box.slot.uid, "workdir": "/submission", "env": {}}))  # fmt: skip
        cmd = [box.python, "-I", "-S", "-B", str(LAUNCH), str(spec), "--", box.python, "-I", "-S", "-c", daemon]
        subprocess.run(cmd, timeout=120, check=True)
        time.sleep(0.5)
        assert _processes_of(box.slot.uid), "the daemon should be running before the clean-up"
        subprocess.run([box.python, "-I", "-S", "-B", str(LAUNCH), "--kill", str(box.slot.uid)], timeout=60, check=True)
        deadline = time.monotonic() + 10
        while _processes_of(box.slot.uid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _processes_of(box.slot.uid)
    finally:
        box.close()


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                continue
    return pids


def test_audit_hook_alone_refuses_what_it_lists(tmp_path: Path) -> None:
    """The hook without any sandbox (defence in depth): each attempt is refused."""
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / "grader" / "child")!r})
import os
from runner import install_guard
install_guard([{str(tmp_path)!r}, sys.base_prefix, sys.prefix])
import runner
runner.BLOCKED_EVENTS = ()  # rebinding the module's names changes nothing
runner.WRITE_FLAGS = 0
attempts = {{
    "os.open append": lambda: os.open({str(tmp_path / "x")!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT),
    "open write": lambda: open({str(tmp_path / "y")!r}, "w"),
    "read outside": lambda: open({str(ROOT / "README.md")!r}).read(),
    "import ctypes": lambda: __import__("ctypes"),
    "import _posixsubprocess": lambda: __import__("_posixsubprocess"),
    "sqlite": lambda: __import__("sqlite3"),
    "gc objects": lambda: __import__("gc").get_objects(),
    "swap code": lambda: setattr(install_guard, "__code__", (lambda r: None).__code__),
    "fork": lambda: os.fork(),
    "kill": lambda: os.kill(os.getppid(), 0),
}}
for name, fn in attempts.items():
    try:
        fn()
        print("LEAK", name)
    except Exception as exc:
        print("ok", name, type(exc).__name__)
"""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=120)
    assert "LEAK" not in out.stdout and out.stdout.count("ok ") == 10, out.stdout + out.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_without_bwrap_and_without_root_untrusted_code_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxUnavailable, match="--unsafe-no-sandbox"):
        Sandbox(use_bwrap=False, use_container=False)
    with pytest.raises(SandboxUnavailable, match="--unsafe-no-sandbox"):  # an engine without the image
        Sandbox(use_bwrap=False, container_image="localhost/no-such-image:never")
    assert Sandbox(use_bwrap=False, use_container=False, allow_unsafe=True).mode == "unsafe"


@pytest.mark.skipif(not HAVE_PODMAN, reason="podman is not installed")
def test_without_bwrap_and_without_root_a_container_engine_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    image = child_image()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    box = Sandbox(use_bwrap=False, container_image=image)
    assert box.mode == "container" and "podman" in box.warning


def test_seccomp_filter_knows_this_machine() -> None:
    import platform

    assert platform.machine() in ARCHES


# -------------------------------------------------- properties, through the grader

PRINT_ALL = """
_orig_init = Value.__init__
def _spy(self, data, *args, **kwargs):
    import sys
    print("SEEN", repr(data), file=sys.stderr)
    _orig_init(self, data, *args, **kwargs)
Value.__init__ = _spy
"""


def hidden_numbers(seed: int) -> set[str]:
    """Every number in a hidden probe that no public probe also uses."""

    def numbers(obj: object) -> set[str]:
        return set(re.findall(r"-?\d+\.\d+", json.dumps(obj)))

    checks = rubric.build(seed)
    public = set().union(*(numbers(c.probe) for c in checks if not c.hidden))
    hidden = set().union(*(numbers(c.probe) for c in checks if c.hidden))
    return {n for n in hidden - public if len(n.lstrip("-")) >= 5}


@pytest.mark.parametrize("mode", MODES)
def test_hidden_inputs_never_come_back_in_output_names_or_errors(tmp_path: Path, mode: str) -> None:
    leak_errors = """
_orig_add = Value.__add__
def _add(self, other):
    if isinstance(other, Value) and abs(other.data) not in (0.0, 1.0, 2.0, 3.0):
        raise ValueError("inputs " + repr((self.data, other.data)))
    return _orig_add(self, other)
Value.__add__ = _add
"""
    root = package_with(tmp_path, "spy", PRINT_ALL + leak_errors)
    seed = student_seed(b"secret", "spy")
    result = grade_package(root, "spy", seed=seed, sandbox=sandbox(mode), tasks=["1.1", "2.1", "3.2", "4.1"])
    shown = everything_shown(result)
    assert "SEEN" in shown  # public runs still show the student's own output
    leaked = sorted(n for n in hidden_numbers(seed) if n in shown)
    assert not leaked, leaked
    assert not any(c.name.endswith("[hidden]") and re.search(r"\d", c.name.split(": ", 1)[1]) for c in result.checks)


@pytest.mark.parametrize("mode", MODES)
def test_bytecode_never_stands_in_for_the_source(tmp_path: Path, mode: str) -> None:
    root = package_with(tmp_path, "pyc", source=SKELETON)
    cache = root / "micrograd" / "__pycache__"
    for name in ("engine", "nn", "train"):
        tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
        unchecked = py_compile.PycInvalidationMode.UNCHECKED_HASH
        py_compile.compile(str(REFERENCE / f"{name}.py"), str(cache / f"{name}.{tag}.pyc"), invalidation_mode=unchecked)
        shutil.copyfile(REFERENCE / f"{name}.py", root / "micrograd" / f"{name}.pyc")
    result = grade_package(root, "pyc", sandbox=sandbox(mode), tasks=["1.1", "2.1"])
    assert result.total == 0
    assert any("Only .py source files are graded" in n and ".pyc" in n for n in result.notes)


FORGED_LINES = {
    "too deep": b'{"id": "1.1/public/1", "result": {"data": ' + b"[" * 3000 + b"]" * 3000 + b"}}",
    "out of range": b'{"id": "1.1/public/1", "result": {"data": [1' + b"0" * 400
    + b', 1.0, 2.0], "children": [[], [], [0, 1]]}}',
    "too long": b'{"id": "1.1/public/1", "result": {"data": [' + b"1.0, " * 50_000 + b"1.0]}}",
    "wrong type": b'{"id": "1.1/public/1", "result": {"data": "six", "children": [[], [], [0, 1]]}}',
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(FORGED_LINES))
def test_the_result_channel_cannot_hurt_the_grader(tmp_path: Path, mode: str, kind: str) -> None:
    # The channel is the runner's private copy of fd 1: a submission can find it and write anything.
    forge = f"""
import os
_orig_mul = Value.__mul__
def _mul(self, other):
    for fd in range(3, 12):
        try:
            os.fstat(fd)
            os.write(fd, {FORGED_LINES[kind]!r} + b"\\n")
        except OSError:
            pass
    return _orig_mul(self, other)
Value.__mul__ = _mul
"""
    root = package_with(tmp_path, "forger", forge)
    result = grade_package(root, "forger", sandbox=sandbox(mode), tasks=["1.1"])
    assert not any("internal grader error" in c.output for c in result.checks), [c.output for c in result.checks]
    by_id = {c.id: c for c in result.checks}
    assert by_id["1.1/public/0"].status == "passed"  # a + b never calls the forger
    assert by_id["1.1/public/1"].score == 0 and "malformed results" in by_id["1.1/public/1"].output


def test_the_time_budget_is_derived_from_the_reference_and_well_bounded() -> None:
    budget = grading.student_budget()
    assert budget == pytest.approx(grading.BUDGET_FLOOR + grading.BUDGET_FACTOR * grading.reference_seconds()
                                   + grading.BUDGET_PER_CHILD * 2 * len(rubric.GROUPS))  # fmt: skip
    assert grading.reference_seconds() > 0


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_submission_stops_at_its_time_budget(tmp_path: Path, mode: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    # Every probe answers within its own limit, slowly: only the student's total budget stops it.
    monkeypatch.setattr(grading, "student_budget", lambda: 6.0)
    slow = """
import time
_orig_init = Value.__init__
def _slow(self, *args, **kwargs):
    time.sleep(0.01)
    _orig_init(self, *args, **kwargs)
Value.__init__ = _slow
"""
    root = package_with(tmp_path, "slow", slow)
    start = time.monotonic()
    result = grade_package(root, "slow", sandbox=sandbox(mode))
    seconds = time.monotonic() - start
    assert any("time was used up" in c.output for c in result.checks)
    assert seconds < 6.0 + 20, seconds  # the budget, plus the judging and one probe's limit


@pytest.mark.parametrize("mode", MODES)
def test_a_hostile_submission_cannot_reach_the_kit_reports_or_network(tmp_path: Path, mode: str,
                                                                      listener: int) -> None:  # fmt: skip
    root = package_with(tmp_path, "snoop", hostile(tmp_path, listener))
    result = grade_package(root, "snoop", sandbox=sandbox(mode), tasks=["1.1"])
    notes = "\n".join(result.notes)
    assert "LEAK" not in notes and notes.count("ok ") == 9, notes
    assert not (tmp_path / "pwned").exists()
    assert result.total == result.max_score  # the code itself is correct and still earns its points


def test_the_secret_never_reaches_a_child(tmp_path: Path) -> None:
    """Neither the environment nor a file: children start with an empty environment."""
    env_probe = "import os, sys\nprint('ENV', sorted(os.environ), file=sys.stderr)\n"
    root = package_with(tmp_path, "env", env_probe)
    os.environ["GRADER_SECRET"] = "top-secret-value"
    try:
        result = grade_package(root, "env", sandbox=Sandbox(allow_unsafe=True), tasks=["1.1"])
    finally:
        del os.environ["GRADER_SECRET"]
    notes = "\n".join(result.notes)
    assert "ENV" in notes and "GRADER_SECRET" not in notes and "top-secret" not in notes


def test_temp_folders_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    grade_package(package_with(tmp_path, "tidy"), "tidy", sandbox=Sandbox(allow_unsafe=True), tasks=["1.1"])
    assert not list(private.iterdir())


@pytest.mark.parametrize("mode", MODES)
def test_an_allowed_package_is_importable_and_nothing_else(tmp_path: Path, mode: str) -> None:
    uses = "import numpy as _np\n_add = Value.__add__\n"
    uses += "Value.__add__ = lambda s, o: _add(s, o) if _np.float64(1) else None\n"
    root = package_with(tmp_path, "np", uses)
    refused = grade_package(root, "np", sandbox=sandbox(mode), tasks=["1.1"])
    assert refused.total == 0 and any("`import numpy` is not allowed" in n for n in refused.notes)
    if mode == "container":
        pytest.skip("numpy's C extension needs its shared libraries, which the image built from the jail lacks")
    box = sandbox(mode, allow_imports=("numpy",))
    try:
        allowed = grade_package(root, "np", sandbox=box, tasks=["1.1"], allow_imports=("numpy",))
    finally:
        box.close()
    assert allowed.total == allowed.max_score, [c.output for c in allowed.checks if c.status == "failed"]


def test_the_request_file_holds_inputs_never_expected_values(tmp_path: Path) -> None:
    # The child can read its own request: it must hold nothing the judge compares against.
    show = "import sys\nprint('REQUEST', open(sys.argv[1]).read(), file=sys.stderr)\n"
    root = package_with(tmp_path, "reader", show)
    result = grade_package(root, "reader", sandbox=Sandbox(allow_unsafe=True), tasks=["3.2"])
    notes = "\n".join(result.notes)
    assert "REQUEST" in notes
    assert "24.704" not in notes and "138.83" not in notes  # the seed expression's g and dg/da


def test_the_launcher_sets_every_limit_before_the_program_runs(tmp_path: Path) -> None:
    from grader.sandbox import Limits

    limits = Limits().rlimits("uid")
    spec = tmp_path / "spec.marshal"
    spec.write_bytes(marshal.dumps({"limits": limits, "env": {}}))
    show = "import json, resource; print(json.dumps({n: resource.getrlimit(getattr(resource, n))[0] for n in %r}))"
    cmd = [sys.executable, "-I", "-S", "-B", str(LAUNCH), str(spec), "--", sys.executable, "-I", "-S", "-c",
           show % list(limits)]  # fmt: skip
    seen = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert seen == limits


def test_a_probe_that_runs_past_its_limit_costs_that_check_only(tmp_path: Path) -> None:
    slow_mul = "import time\n_mul = Value.__mul__\nValue.__mul__ = lambda s, o: (time.sleep(4), _mul(s, o))[1]\n"
    root = package_with(tmp_path, "sleepy", slow_mul)
    result = grade_package(root, "sleepy", sandbox=Sandbox(allow_unsafe=True), tasks=["1.1"])
    by_id = {c.id: c for c in result.checks}
    assert by_id["1.1/public/0"].status == "passed"
    assert "did not finish within 2 s" in by_id["1.1/public/1"].output


@pytest.mark.skipif(not HAVE_PODMAN, reason="podman is not installed")
def test_the_container_of_a_child_stopped_for_time_is_removed(tmp_path: Path) -> None:
    """Killing the engine's client leaves its container running: the grader removes it."""
    root = package_with(tmp_path, "spin", "while True:\n    pass")
    result = grade_package(root, "spin", sandbox=sandbox("container"), tasks=["1.1"])
    assert result.total == 0 and any(c.status == "failed" for c in result.checks)
    left = subprocess.run(["podman", "ps", "--all", "--quiet", "--filter", "name=micrograd-child"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert left.stdout.strip() == "", left.stdout
