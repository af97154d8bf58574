"""The student skeleton: no drift, no leaks, strict markers, and public tests that
pass on the reference and fail on every untouched stub with its task's message."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from builder.__main__ import main
from builder.markers import BEGIN_RE, END_RE, parse_regions
from builder.skeleton import OUTPUT, collect_stubs, package_sources, pytest_markers
from builder.tree import IGNORED, compare_trees, walk
from grader.tasks import TASKS, task_marker

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference"
STUDENT = REPO / OUTPUT
STUB_MESSAGE = re.compile(r"^NotImplementedError: Task (\d+\.\d+):")


def run(*args: str | Path, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python ARGS` without writing caches into the tree; PYTHONPATH picks which micrograd is imported."""
    # No third-party pytest plugins: the public tests need none, and loading them is most of the start-up time.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def build_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m builder ARGS`, run from the repository."""
    return run("-m", "builder", *args, cwd=REPO)


# ------------------------------------------------------------------ drift


def test_committed_student_is_a_fresh_build(tmp_path: Path) -> None:
    result = build_cli("skeleton", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    drift = compare_trees(tmp_path / OUTPUT, STUDENT)
    assert not drift, "student/ differs from a fresh build; run `nox -s build` and commit:\n" + "\n".join(drift)


def test_check_lists_drifted_files(tmp_path: Path) -> None:
    shutil.copytree(STUDENT, tmp_path / OUTPUT, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (tmp_path / OUTPUT / "micrograd" / "engine.py").write_text("# edited by hand\n")
    (tmp_path / OUTPUT / "extra.py").write_text("")
    result = build_cli("skeleton", "--check", "--out", tmp_path)
    assert result.returncode == 1
    assert "student/micrograd/engine.py: changed" in result.stderr
    assert "student/extra.py: not generated" in result.stderr


def test_output_is_lf_and_parses() -> None:
    for relative in walk(STUDENT):
        data = (STUDENT / relative).read_bytes()
        assert b"\r" not in data, f"{relative}: CR line endings"
        if relative.suffix == ".py":
            ast.parse(data, filename=str(relative))


def test_student_pyproject() -> None:
    student = tomllib.loads((STUDENT / "pyproject.toml").read_text())
    reference = tomllib.loads((REFERENCE / "pyproject.toml").read_text())
    assert student["project"]["name"] == "micrograd"
    assert student["project"]["dependencies"] == reference["project"]["dependencies"]
    assert student["tool"]["setuptools"]["packages"] == ["micrograd"]
    for config in (student, reference):
        options = config["tool"]["pytest"]["ini_options"]
        assert options["markers"] == pytest_markers()
        assert "--strict-markers" in options["addopts"]
    assert [m.split(":")[0] for m in pytest_markers()] == [task_marker(t) for t in TASKS]


def test_student_builds_as_a_package(tmp_path: Path) -> None:
    """`pip install student` works: a wheel named micrograd with every module (built from a copy: no clutter)."""
    pytest.importorskip("setuptools")  # offline: build with the installed setuptools, not an isolated download
    shutil.copytree(STUDENT, tmp_path / "src", ignore=shutil.ignore_patterns(*IGNORED))
    result = run(
        "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", tmp_path / "src",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("micrograd-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("micrograd/")}
    assert shipped == {f"micrograd/{p.name}" for p in package_sources(REFERENCE)}


# ------------------------------------------------------------------ leaks


def solution_lines() -> set[str]:
    """Non-trivial lines inside the reference's regions that appear nowhere outside them."""
    inside: set[str] = set()
    outside: set[str] = set()
    for path in package_sources(REFERENCE):
        if path.suffix != ".py":
            continue
        lines = path.read_text().splitlines()
        body = {n for region in parse_regions(path) for n in region.body}
        for number, line in enumerate(lines, start=1):
            (inside if number in body else outside).add(line.strip())
    # Short lines (`else:`, `continue`, `return x`) say nothing about a solution.
    return {line for line in inside - outside if len(line) >= 10 and not line.startswith("#")}


def test_no_solution_in_student() -> None:
    secret = solution_lines()
    assert "self.grad += out.grad" in secret  # the check has teeth
    leaks = []
    for relative in walk(STUDENT):
        for number, line in enumerate((STUDENT / relative).read_text().splitlines(), start=1):
            if BEGIN_RE.match(line) or END_RE.match(line) or "SOLUTION" in line:
                leaks.append(f"{relative}:{number}: marker: {line.strip()}")
            elif line.strip() in secret:
                leaks.append(f"{relative}:{number}: solution line: {line.strip()}")
    assert not leaks, "\n".join(leaks)


def test_hidden_tests_not_in_student() -> None:
    public = {p.name for p in (REFERENCE / "tests").iterdir() if p.is_file()}
    shipped = {p.name for p in (STUDENT / "tests").iterdir() if p.is_file()}
    assert shipped == public
    assert not (STUDENT / "grader").exists()


# ------------------------------------------------------------------ marker errors

GOOD = """\
def f(x):
    ### BEGIN SOLUTION [1.1] Return x plus one.
    return x + 1
    ### END SOLUTION
"""


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        ("def f():\n    return 1\n    ### END SOLUTION\n", 3, "without a matching BEGIN"),
        ("def f():\n    ### BEGIN SOLUTION [1.1] One.\n    return 1\n", 2, "never closed"),
        (
            "def f():\n    ### BEGIN SOLUTION [1.1] A.\n    ### BEGIN SOLUTION [1.2] B.\n"
            "    return 1\n    ### END SOLUTION\n    ### END SOLUTION\n",
            3,
            "nested",
        ),
        ("def f():\n    ### BEGIN SOLUTION Return one.\n    return 1\n    ### END SOLUTION\n", 2, "without a task id"),
        ("def f():\n    ### BEGIN SOLUTION [9.9] One.\n    return 1\n    ### END SOLUTION\n", 2, "unknown task id"),
        ("def f():\n    ### BEGIN SOLUTION [1.1]\n    return 1\n    ### END SOLUTION\n", 2, "without a description"),
        ("def f():\n    ## BEGIN SOLUTION [1.1] One.\n    return 1\n    ## END SOLUTION\n", 2, "malformed"),
    ],
    ids=["end-without-begin", "unclosed", "nested", "no-task", "unknown-task", "no-description", "malformed"],
)
def test_build_refuses_bad_markers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, line: int, reason: str
) -> None:
    bad = fake_reference(tmp_path, source)
    # The CLI's entry point in-process (the subprocess test below covers the real command line).
    status = main(["skeleton", "--reference", str(tmp_path / "reference"), "--out", str(tmp_path / "out")])
    stderr = capsys.readouterr().err
    assert status != 0
    assert f"{bad.resolve()}:{line}:" in stderr, stderr
    assert reason in stderr, stderr
    assert not (tmp_path / "out" / OUTPUT / "micrograd" / "__init__.py").exists()  # nothing half-written


def fake_reference(tmp_path: Path, bad_source: str | None = None) -> Path:
    """A reference project with one good region in __init__.py and, if given, micrograd/bad.py; return bad.py."""
    reference = tmp_path / "reference"
    (reference / "micrograd").mkdir(parents=True)
    shutil.copy(REFERENCE / "pyproject.toml", reference / "pyproject.toml")
    (reference / "micrograd" / "__init__.py").write_text(GOOD)
    bad = reference / "micrograd" / "bad.py"
    if bad_source is not None:
        bad.write_text(bad_source)
    return bad


def test_cli_exit_status_and_message(tmp_path: Path) -> None:
    bad = fake_reference(tmp_path, "x = 1\n### END SOLUTION\n")
    result = build_cli("skeleton", "--reference", tmp_path / "reference", "--out", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {bad.resolve()}:2: END SOLUTION without a matching BEGIN SOLUTION"


def test_build_of_a_good_marker(tmp_path: Path) -> None:
    fake_reference(tmp_path)
    assert main(["skeleton", "--reference", str(tmp_path / "reference"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / OUTPUT / "micrograd" / "__init__.py").read_text() == textwrap.dedent(
        """\
        def f(x):
            raise NotImplementedError("Task 1.1: Return x plus one.")
        """
    )


# ------------------------------------------------------------------ the stubs


def test_every_task_has_a_stub() -> None:
    stubs = collect_stubs(REFERENCE)
    assert {stub.region.task for stub in stubs} == set(TASKS)


def test_stubs_replace_regions_in_place() -> None:
    """Each stubbed function raises its task's message where the region was, and nothing else of it is left."""
    for stub in collect_stubs(REFERENCE):
        tree = ast.parse((STUDENT / stub.module).read_text())
        found = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Raise)
            and isinstance(node.exc, ast.Call)
            and getattr(node.exc.func, "id", None) == "NotImplementedError"
            and ast.literal_eval(node.exc.args[0]) == f"Task {stub.region.task}: {stub.region.description}"
        ]
        assert len(found) == 1, f"{stub.module} {stub.where}: expected one stub for [{stub.region.task}]"
        assert found[0].col_offset == len(stub.region.indent)


def test_code_outside_regions_is_unchanged() -> None:
    """Take the regions out of the reference and the stubs out of the skeleton: the rest is identical."""
    for path in package_sources(REFERENCE):
        relative = path.relative_to(REFERENCE)
        ours = (STUDENT / relative).read_bytes()
        if path.suffix != ".py":
            assert ours == path.read_bytes(), relative
            continue
        region_lines = {n for region in parse_regions(path) for n in range(region.start, region.end + 1)}
        reference = [line for n, line in enumerate(path.read_text().split("\n"), 1) if n not in region_lines]
        text = ours.decode()
        stubs = {
            n
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Raise) and "NotImplementedError" in ast.unparse(node)
            for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)
        }
        student = [line for n, line in enumerate(text.split("\n"), 1) if n not in stubs]
        assert student == reference, f"{relative}: code outside the regions differs from the reference"


PROBES = r"""
import ast
import importlib
import pkgutil
import textwrap
import types

import micrograd

names = [info.name for info in pkgutil.iter_modules(micrograd.__path__)]
modules = {name: importlib.import_module(f"micrograd.{name}") for name in names}
print("modules |", " ".join(sorted(modules)))
engine, nn, train = modules["engine"], modules["nn"], modules["train"]
Value, Neuron, Layer, MLP = engine.Value, nn.Neuron, nn.Layer, nn.MLP

probes = {
    "1.1": lambda: Value(1.0) + Value(2.0),
    "1.1*": lambda: Value(1.0) * Value(2.0),
    "1.2": lambda: Value(2.0) ** 2,
    "1.2/": lambda: Value(2.0) / Value(4.0),
    "1.3": lambda: Value(1.0).exp(),
    "1.3l": lambda: Value(1.0).log(),
    "1.4": lambda: Value(1.0).tanh(),
    "1.4s": lambda: Value(1.0).sigmoid(),
    "1.4r": lambda: Value(1.0).relu(),
    "3.1": lambda: Value(1.0)._topo_order(),
    "3.2": lambda: Value(1.0).backward(),
    "4.1": lambda: Neuron(2),
    "4.1z": lambda: nn.Module.zero_grad(types.SimpleNamespace(parameters=lambda: [Value(1.0)])),
    "4.2": lambda: Layer(2, 2),
    "4.3": lambda: MLP(2, [2]),
    "5.1": lambda: train.svm_loss([Value(1.0)], [1.0]),
    "5.2": lambda: train.learning_rate(1, 2),
}
# The rules (tasks 2.x) sit behind the forward stubs, where Python does not
# even compile them: compile each nested `_backward` on its own, with the
# names it closes over, and call it on an `out` whose `_prev` holds as many
# inputs as the rule unpacks (`self, other = out._prev` or `(self,) = out._prev`).
source = open(engine.__file__).read()
for method in ast.walk(ast.parse(source)):
    if isinstance(method, ast.FunctionDef):
        for rule in method.body:
            if isinstance(rule, ast.FunctionDef) and rule.name == "_backward":
                body = textwrap.indent(textwrap.dedent(ast.get_source_segment(source, rule)), "    ")
                namespace = {}
                exec(f"def make(self, other, n):\n{body}\n    return _backward", vars(engine), namespace)
                made = namespace["make"](Value(2.0), Value(3.0), 2.0)
                first = rule.body[0]
                unpacks = isinstance(first, ast.Assign) and isinstance(first.targets[0], ast.Tuple)
                inputs = (Value(2.0), Value(3.0))[: len(first.targets[0].elts) if unpacks else 2]
                probes["rule " + method.name] = lambda made=made, inputs=inputs: made(Value(1.0, inputs))
for name, probe in probes.items():
    try:
        probe()
    except NotImplementedError as err:
        print(name, "|", err)
    else:
        print(name, "| no error")
"""


def test_student_imports_and_every_stub_names_its_task() -> None:
    result = run("-c", PROBES, cwd=REPO, pythonpath=STUDENT)
    assert result.returncode == 0, result.stderr
    outcomes = dict(line.split(" | ", 1) for line in result.stdout.splitlines())
    modules = outcomes.pop("modules").split()
    assert modules == sorted(p.stem for p in package_sources(REFERENCE) if p.suffix == ".py" and p.stem != "__init__")
    rules = [name for name in outcomes if name.startswith("rule ")]
    assert len(rules) == sum(stub.where.endswith("._backward") for stub in collect_stubs(REFERENCE)), rules
    for name, message in outcomes.items():
        task = name[:3] if not name.startswith("rule ") else None
        assert message.startswith("Task "), f"{name}: {message}"
        if task:
            assert message.startswith(f"Task {task}: "), f"{name}: {message}"
        else:
            assert message.split(":")[0] in {"Task 2.1", "Task 2.2", "Task 2.3", "Task 2.4"}, f"{name}: {message}"
    seen = {m.split(":")[0].removeprefix("Task ") for m in outcomes.values()}
    assert seen == set(TASKS)


# ------------------------------------------------------------------ the public tests


def pytest_junit(
    tmp_path: Path, folder: Path, *args: str, pythonpath: Path | None = None
) -> list[tuple[str, str, str]]:
    """Run `folder`'s tests from `folder`; return (test, task, outcome message) per test."""
    report = tmp_path / "report.xml"
    result = run(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *args,
        cwd=folder, pythonpath=pythonpath,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 0 all passed, 1 some failed
    cases = []
    for case in ET.parse(report).getroot().iter("testcase"):
        task = next(p.get("value") for p in case.iter("property") if p.get("name") == "task")
        problem = next(iter([*case.iter("failure"), *case.iter("error")]), None)
        outcome = "passed" if problem is None else problem.get("message", "")
        cases.append((f"{case.get('classname')}.{case.get('name')}", task, outcome))
    assert cases, result.stdout
    return cases


def copy_of_student(tmp_path: Path, solved: bool = False) -> Path:
    """student/ copied to `tmp_path`, untouched or with the reference's package in place of the stubs."""
    folder = tmp_path / "mine"
    shutil.copytree(STUDENT, folder, ignore=shutil.ignore_patterns(*IGNORED))
    if solved:
        shutil.rmtree(folder / "micrograd")
        shutil.copytree(REFERENCE / "micrograd", folder / "micrograd", ignore=shutil.ignore_patterns(*IGNORED))
    return folder


def test_public_tests_pass_on_the_reference(tmp_path: Path) -> None:
    cases = pytest_junit(tmp_path, copy_of_student(tmp_path, solved=True))
    failed = [f"{name}: {outcome}" for name, _, outcome in cases if outcome != "passed"]
    assert not failed, "\n".join(failed)
    counts = Counter(task for _, task, _ in cases)
    assert set(counts) == set(TASKS), counts
    assert min(counts.values()) >= 3, counts


@pytest.fixture(scope="module")
def skeleton_run(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """The public tests on the untouched skeleton (one run, shared)."""
    tmp_path = tmp_path_factory.mktemp("skeleton")
    # The kit's reference importable too, as when a self-learner installs both in one environment:
    # the tests must still test the student's copy (and pass nothing).
    return pytest_junit(tmp_path, copy_of_student(tmp_path), pythonpath=REFERENCE)


def test_public_tests_fail_on_the_skeleton_naming_their_task(skeleton_run: list[tuple[str, str, str]]) -> None:
    cases = skeleton_run
    wrong = []
    for name, task, outcome in cases:
        match = STUB_MESSAGE.match(outcome)
        if match is None or match[1] != task:
            wrong.append(f"{name} [{task}]: {outcome[:160]}")
    assert not wrong, "these tests do not fail with NotImplementedError('Task x.y: ...') of their task:\n" + "\n".join(
        wrong
    )
    assert {task for _, task, _ in cases} == set(TASKS)


def test_marker_selects_one_task(tmp_path: Path, skeleton_run: list[tuple[str, str, str]]) -> None:
    everything = skeleton_run
    selected = pytest_junit(tmp_path, copy_of_student(tmp_path), "-m", "task1_1")
    assert {task for _, task, _ in selected} == {"1.1"}
    assert sorted(name for name, _, _ in selected) == sorted(name for name, task, _ in everything if task == "1.1")


def test_tests_refuse_a_micrograd_from_elsewhere(tmp_path: Path) -> None:
    """With the student's package missing and the reference importable, pytest stops and names both places."""
    folder = copy_of_student(tmp_path)
    shutil.rmtree(folder / "micrograd")
    result = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=folder, pythonpath=REFERENCE)
    assert result.returncode not in (0, 1), result.stdout
    text = result.stdout + result.stderr
    assert str((REFERENCE / "micrograd").resolve()) in text and str(folder / "micrograd") in text, text


# ------------------------------------------------------------------ the student-side checker


def checker(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -S -m micrograd_check` in `folder`: no site-packages, so nothing of the kit (nor torch) is there."""
    return run("-S", "-m", "micrograd_check", *args, cwd=folder)


def test_checker_fails_every_task_of_the_skeleton_with_its_stub(tmp_path: Path) -> None:
    result = checker(copy_of_student(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    headers = [f"Task {task} ({title}): " for task, title in TASKS.items()]
    for task, header, after in zip(TASKS, headers, [*headers[1:], None]):
        assert header in result.stdout, f"no result for Task {task}:\n{result.stdout}"
        block = result.stdout.split(header, 1)[1]
        block = block.split(after, 1)[0] if after else block
        assert re.match(r"(\d+) of \1 public checks fail", block), block
        # Its own stub, or (said so first) the stub of a task it needs.
        assert f"not implemented yet: Task {task}:" in block or "cannot be checked until Task" in block, block


def test_checker_passes_the_reference_and_names_foreign_imports(tmp_path: Path) -> None:
    folder = copy_of_student(tmp_path, solved=True)
    result = checker(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("public checks pass.") == len(TASKS)
    engine = folder / "micrograd" / "engine.py"
    lines = engine.read_text(encoding="utf-8").splitlines()
    at = lines.index("from __future__ import annotations") + 1  # after the module's docstring
    lines.insert(at, "import numpy  # noqa")
    engine.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = checker(folder, "1.1")
    assert result.returncode == 1
    assert f"micrograd/engine.py line {at + 1} imports `numpy`" in result.stdout, result.stdout


def test_checker_carries_no_hidden_check_and_no_reference() -> None:
    shipped = "\n".join((STUDENT / "micrograd_check" / p).read_text(encoding="utf-8") for p in os.listdir(
        STUDENT / "micrograd_check") if p.endswith((".py", ".json")))
    assert "/hidden/" not in shipped and '"hidden": true' not in shipped
    imports = re.findall(r"^\s*(?:from|import) (\w+)", shipped, re.MULTILINE)
    assert set(imports) <= set(sys.stdlib_module_names) | {"micrograd_check"}, imports


def test_demo_graph_labels_a_students_unlabelled_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid Neuron written `self.b + sum(...)` makes a constant leaf 0 with no label: the demo names it."""
    from micrograd import demo
    from micrograd.engine import Value

    class SumNeuron(demo.Neuron):
        def __call__(self, x: list[Value]) -> Value:
            act = self.b + sum(wi * xi for wi, xi in zip(self.w, x))  # sum() starts from the int 0
            return act.relu() if self.nonlin else act

    monkeypatch.setattr(demo, "Neuron", SumNeuron)
    out = demo.neuron_graph()
    labels = [node.label for node in out._topo_order()]
    assert "" not in labels and "0" in labels, labels


def test_bundler_takes_only_what_is_used_and_refuses_foreign_imports(tmp_path: Path) -> None:
    from builder.markers import BuildError
    from builder.student_checks import bundle_support

    pkg = tmp_path / "grader"
    pkg.mkdir()
    (pkg / "one.py").write_text(
        "import math\nimport numpy\nfrom grader.two import helper\n\nUNUSED = numpy.zeros(3)\n\n\n"
        "def wanted(x: float) -> float:\n    return helper(math.sqrt(x))\n\n\n"
        "def foreign() -> object:\n    return numpy.ones(2)\n"
    )
    (pkg / "two.py").write_text(
        "def helper(x: float) -> float:\n    return x + 1\n\n\ndef other() -> None:\n    pass\n"
    )
    text = bundle_support(tmp_path, {"grader.one": {"wanted"}})
    namespace: dict[str, object] = {}
    exec(compile(text, "support.py", "exec"), namespace)
    assert namespace["wanted"](4.0) == 3.0  # type: ignore[operator]
    assert "numpy" not in text and "UNUSED" not in text and "def other" not in text
    with pytest.raises(BuildError, match="cannot ship `numpy`"):
        bundle_support(tmp_path, {"grader.one": {"foreign"}})
