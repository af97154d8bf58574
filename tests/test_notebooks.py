"""The nbgrader course: built from the reference, released without solutions,
graded by real nbgrader and scored by the sandbox.

Fast tests read the committed notebooks; `slow` ones run nbgrader (and the
sample class takes about a minute and a half on two cores)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from builder import Context
from builder.markers import parse_regions
from builder.notebooks import COURSE, REFERENCE, SAMPLES, TASK_POINTS, course, to_notebook
from grader.notebook_contract import CELL_TIMEOUT, TEST_ID, cell_id
from grader.notebooks import extract_package, nbgrader_env

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = [a.name for a in course()]


def load(kind: str, name: str) -> dict:
    return json.loads((COURSE / kind / name / f"{name}.ipynb").read_text(encoding="utf-8"))


def text_of(nb: dict) -> str:
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def grade_ids(nb: dict) -> list[str]:
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"] if "nbgrader" in c["metadata"]]


# ------------------------------------------------------------------ build and drift


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_notebooks_match_a_fresh_build(name: str) -> None:
    fresh = {a.name: a for a in course()}[name]
    assert nbformat.writes(to_notebook(fresh)) + "\n" == (COURSE / "source" / name / f"{name}.ipynb").read_text(
        encoding="utf-8"
    ), "assignments/source is out of date: run `python -m builder notebooks` and commit"


@pytest.mark.slow
def test_release_and_samples_match_a_fresh_build() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "builder", "notebooks", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_teaching_order_and_tasks() -> None:
    tasks = [load("source", a)["metadata"]["micrograd"]["tasks"] for a in ASSIGNMENTS]
    assert tasks == [
        ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4"],
        ["3.1", "3.2"],
        ["4.1", "4.2", "4.3", "5.1", "5.2"],
    ]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_task_has_public_and_hidden_tests_and_one_written_answer(name: str) -> None:
    nb = load("source", name)
    tasks = nb["metadata"]["micrograd"]["tasks"]
    ids = grade_ids(nb)
    for task in tasks:
        tid = task.replace(".", "_")
        assert f"test_{tid}" in ids and f"hidden_{tid}" in ids
    cells = {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if "nbgrader" in c["metadata"]}
    for task in tasks:
        tid = task.replace(".", "_")
        assert f'check("{task}", globals())' in "".join(cells[f"test_{tid}"]["source"])
        hidden = "".join(cells[f"hidden_{tid}"]["source"])
        assert "### BEGIN HIDDEN TESTS" in hidden and f'grader_check("{task}", globals(), hidden=True)' in hidden
        # The visible part of the hidden cell only asks whether the task is started: no second charge.
        assert hidden.split("### BEGIN HIDDEN TESTS")[0].strip().endswith(f'started("{task}", globals())')
        # nbgrader's points are the sandbox's: one scale.
        points = (cells[f"test_{tid}"]["metadata"]["nbgrader"]["points"],
                  cells[f"hidden_{tid}"]["metadata"]["nbgrader"]["points"])  # fmt: skip
        assert points == TASK_POINTS[task] and min(points) > 0
    written = [
        c for c in nb["cells"] if c["cell_type"] == "markdown" and c["metadata"].get("nbgrader", {}).get("grade")
    ]
    assert len(written) == 1 and written[0]["metadata"]["nbgrader"]["solution"]


def test_solution_code_is_the_references() -> None:
    """Every line of every region of an assignment's tasks is in its source notebook."""
    for name in ASSIGNMENTS:
        nb_text = text_of(load("source", name))
        tasks = set(load("source", name)["metadata"]["micrograd"]["tasks"])
        for module in ("engine", "nn", "train"):
            path = REFERENCE / f"{module}.py"
            lines = path.read_text(encoding="utf-8").splitlines()
            for region in parse_regions(path):
                if region.task in tasks:
                    for n in region.body:
                        assert lines[n - 1].strip() in nb_text, f"{name}: {path.name}:{n} is missing"


def released_text(name: str) -> dict[str, str]:
    """Every file of a released assignment folder: what a student is handed."""
    folder = COURSE / "release" / name
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_has_no_solution_and_no_hidden_test(name: str) -> None:
    files = released_text(name)
    assert set(files) >= {f"{name}.ipynb", "requirements.txt", "micrograd_check/checks.json"}
    released = text_of(load("release", name))
    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True", "grader_check", "from grader")
    for marker in markers:
        assert marker not in released, marker
    tasks = set(load("source", name)["metadata"]["micrograd"]["tasks"])
    leaks = []
    for module in ("engine", "nn", "train"):
        path = REFERENCE / f"{module}.py"
        lines = path.read_text(encoding="utf-8").splitlines()
        for region in parse_regions(path):
            if region.task not in tasks:
                continue
            for n in region.body:
                code = lines[n - 1].strip()
                # Short lines (`return out`, `else:`) also occur in given code, and
                # a description may spell a one-liner out on purpose (the stub's hint).
                if len(code) > 20 and code not in region.description:
                    leaks += [f"{path.name}:{n} in {file}" for file, text in files.items() if code in text]
    assert not leaks, f"{name}: solution lines leaked into release/: {leaks}"
    # The checker carries public checks only, and nothing from the kit.
    checks = json.loads(files["micrograd_check/checks.json"])
    assert checks["tasks"] == load("source", name)["metadata"]["micrograd"]["tasks"]
    assert all(not c["id"].split("/")[1].startswith("hidden") for c in checks["checks"])
    assert {c["task"] for c in checks["checks"]} == tasks
    code = "\n".join(text for file, text in files.items() if file.endswith(".py"))
    imported = set(re.findall(r"^\s*(?:from|import) (\w+)", code, re.MULTILINE))
    assert imported <= set(sys.stdlib_module_names) | {"micrograd_check"}, imported
    # The written answer's model answer is not released either.
    source = load("source", name)
    for cell in source["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "markdown" and meta.get("solution"):
            assert "".join(cell["source"])[:60] not in released


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_requirements_name_public_packages_and_torch_only_where_compared(name: str) -> None:
    lines = [line for line in released_text(name)["requirements.txt"].splitlines() if line and line[0] != "#"]
    assert "jupyterlab>=4" in lines
    compares = "import torch" in text_of(load("release", name))
    assert ("torch==2.13.0" in lines) == compares
    if compares:
        assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert not any(line.split("=")[0].split(">")[0] in ("micrograd", "grader", "nbgrader") for line in lines)


# Runs a released notebook's graded cells (set-up, package, checks) in plain Python, from its folder.
RUN_CELLS = """
import __future__, json, linecache, sys
nb = json.load(open(sys.argv[1], encoding="utf-8"))
ns, results = {"__name__": "__main__"}, {}
for cell in nb["cells"]:
    meta = cell["metadata"].get("nbgrader", {})
    if cell["cell_type"] != "code" or "grade_id" not in meta:
        continue
    source = "".join(cell["source"])
    source = "\\n".join(l for l in source.split("\\n") if not l.lstrip().startswith(("%", "!")))
    name = f"<cell {meta['grade_id']}>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # as IPython does
    code = compile(source, name, "exec", __future__.annotations.compiler_flag, dont_inherit=True)
    try:
        exec(code, ns)
        results[meta["grade_id"]] = "passed"
    except Exception as exc:
        results[meta["grade_id"]] = f"{type(exc).__name__}: {exc}"
print(json.dumps(results))
"""


def run_released_cells(folder: Path, notebook: Path) -> dict[str, str]:
    """Each graded cell's outcome, run with `python -S` (no site-packages: no kit, no torch) in `folder`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-S", "-c", RUN_CELLS, str(notebook)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_released_folder_alone_checks_untouched_and_solved_work(name: str, tmp_path: Path) -> None:
    """A released folder copied to a new place: every check cell runs with Python alone; untouched,
    each fails with its task's NotImplementedError message; solved (the sample s01_correct), each passes."""
    folder = tmp_path / name
    shutil.copytree(COURSE / "release" / name, folder)
    tasks = load("source", name)["metadata"]["micrograd"]["tasks"]
    untouched = run_released_cells(folder, folder / f"{name}.ipynb")
    assert untouched["setup"] == "passed", untouched["setup"]
    for task in tasks:
        for grade_id in (cell_id(task), cell_id(task, hidden=True)):
            outcome = untouched[grade_id]
            assert outcome.startswith("AssertionError: Task "), (grade_id, outcome)
            own = f"not implemented yet: Task {task}:" in outcome
            assert own or "cannot be checked until Task" in outcome, (grade_id, outcome)
    shutil.copy(COURSE / "submitted" / "s01_correct" / name / f"{name}.ipynb", folder / "solved.ipynb")
    solved = run_released_cells(folder, folder / "solved.ipynb")
    failed = {k: v for k, v in solved.items() if v != "passed"}
    assert not failed, failed
    assert {cell_id(t) for t in tasks} <= set(solved)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_keeps_the_package_tags(name: str) -> None:
    def tags(nb: dict) -> dict[str, str]:
        return {
            c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["micrograd"]["module"]
            for c in nb["cells"]
            if "module" in c["metadata"].get("micrograd", {})
        }

    assert tags(load("release", name)) == tags(load("source", name))
    assert set(tags(load("source", name)).values()) <= {"engine", "nn", "train"}


def course_config():
    """assignments/nbgrader_config.py as nbgrader loads it."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()


def test_nbgrader_config_limits_each_cell() -> None:
    config = course_config()
    assert config.Execute.timeout == CELL_TIMEOUT and config.OverwriteCells.add_missing_cells
    limit = config.Execute.timeout_func
    assert limit({"metadata": {}}) == CELL_TIMEOUT
    assert limit({"metadata": {"micrograd": {"timeout": 10}}}) == 10
    # A submission's metadata is the student's: it can shorten its limit, never lengthen it.
    for forged in (10**6, 0, -1, "inf", True, None):
        assert limit({"metadata": {"micrograd": {"timeout": forged}}}) == CELL_TIMEOUT, forged
    # Only options nbgrader knows (an unknown one only earns a warning on every command).
    assert "db_assignments" not in config.CourseDirectory
    from nbgrader.preprocessors import ClearHiddenTests

    assert ClearHiddenTests in config.GenerateFeedback.preprocessors


@pytest.mark.slow
def test_a_looping_cell_stops_near_its_limit() -> None:
    """nbgrader's own executor, with the course's configuration: a cell that never ends is stopped
    at its limit and the next cell still runs."""
    import time

    from nbgrader.preprocessors import Execute

    limit = 3
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('warm')"),
        nbformat.v4.new_code_cell("while True:\n    pass", metadata={"micrograd": {"timeout": limit}}),
        nbformat.v4.new_code_cell("print('after')"),
    ])  # fmt: skip
    executor = Execute(config=course_config())
    start = time.monotonic()
    executor.preprocess(nb, {})
    elapsed = time.monotonic() - start
    assert limit <= elapsed < limit + 60, elapsed  # the rest is the kernel's start-up, on a busy machine
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert any("Timeout" in o.ename for o in errors), nb.cells[1].outputs
    assert "after" in "".join(o.get("text", "") for o in nb.cells[2].outputs)


# ---------------------------------------------------------------- the package view


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_notebook_extracts_to_a_working_package(name: str, tmp_path: Path) -> None:
    """The reference's own solution, cut into cells and glued back, imports and computes."""
    source = load("source", name)
    assert extract_package(source, source, tmp_path) == []
    script = (
        "from micrograd.engine import Value\n"
        "a = Value(2.0); b = Value(-3.0); c = a * b + a\n"
        "assert c.data == -4.0\n"
    )
    if name != "a1_value":
        script += "c.backward(); assert (a.grad, b.grad) == (-2.0, 2.0)\n"
    if name == "a3_training":
        script += "from micrograd.nn import MLP\nfrom micrograd.train import svm_loss\n"
        script += "assert len(MLP(2, [16, 16, 1]).parameters()) == 337\n"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_extraction_trusts_the_source_not_the_submission(tmp_path: Path) -> None:
    """A student's edits to a given (locked) cell and tags on extra cells are ignored."""
    source = load("source", "a1_value")
    submitted = json.loads(json.dumps(source))
    for cell in submitted["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "engine_derived":
            cell["source"] = "raise SystemExit('patched')"
    submitted["cells"].append({"cell_type": "code", "metadata": {"micrograd": {"module": "engine"}}, "source": "X=1"})
    extract_package(source, submitted, tmp_path)
    engine = (tmp_path / "micrograd" / "engine.py").read_text(encoding="utf-8")
    assert "patched" not in engine and "X=1" not in engine


# ------------------------------------------------------------------------ nbgrader


def validate(path: Path, invert: bool = False) -> dict:
    from nbgrader.validator import Validator

    old = dict(os.environ)
    os.environ.update(nbgrader_env())  # the kernel must import `grader`
    try:
        return Validator(invert=invert).validate(str(path))
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_validate_passes_on_source_and_fails_on_release(name: str) -> None:
    source = validate(COURSE / "source" / name / f"{name}.ipynb")
    assert not source.get("failed") and not source.get("changed"), source
    released = COURSE / "release" / name / f"{name}.ipynb"
    assert validate(released).get("failed"), "the released notebook passes its tests without any work"
    assert not validate(released, invert=True).get("passed"), "some test passes on the released notebook"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory):
    """The embedded sample class, graded once in a copy of the course."""
    from grader.notebooks import grade_notebook_class

    root = tmp_path_factory.mktemp("course") / "assignments"
    root.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", root)
    for part in ("source", "release", "submitted"):
        shutil.copytree(COURSE / part, root / part)
    out = root.parent / "reports"
    results = grade_notebook_class(root, out, jobs=2, secret=b"test-secret")
    return root, out, {r.student: r for r in results}


@pytest.mark.slow
def test_sample_class_scores(graded_class) -> None:
    _, _, results = graded_class
    assert set(results) == {s.student for s in SAMPLES}
    correct = results["s01_correct"]
    assert correct.total == correct.max_score > 0
    for student in ("s02_buggy", "s04_deleted_test"):
        scores = results[student].task_scores
        assert scores["2.1"][0] < scores["2.1"][1], student
        assert all(s == m for t, (s, m) in scores.items() if t != "2.1"), (student, scores)
    loop = results["s03_infinite_loop"].task_scores
    # 3.2 keeps its checks run on the probe's own order; it loses only its integration checks
    assert loop["3.1"][0] == 0 and loop["3.2"][0] < loop["3.2"][1]
    assert results["s05_invalid_json"].total == 0


@pytest.mark.slow
def test_sample_class_messages(graded_class) -> None:
    _, out, results = graded_class
    notes = {s: "\n".join(r.notes) for s, r in results.items()}
    # One scale: the correct notebooks get nbgrader's full points, which are the sandbox's.
    for name in ASSIGNMENTS:
        tasks = load("source", name)["metadata"]["micrograd"]["tasks"]
        full = sum(sum(TASK_POINTS[t]) for t in tasks)
        assert f"Notebook {name}: nbgrader {full:g}/{full:g} automatic points" in notes["s01_correct"], notes
    assert "DISAGREEMENT" not in notes["s01_correct"]
    assert "test_2_1" in notes["s04_deleted_test"] and "deleted" in notes["s04_deleted_test"]
    assert "stopped" in notes["s03_infinite_loop"] and "infinite loop" in notes["s03_infinite_loop"]
    assert "not valid JSON" in notes["s05_invalid_json"]
    feedback = (out / "students" / "s04_deleted_test" / "feedback.md").read_text(encoding="utf-8")
    assert "test_2_1" in feedback


@pytest.mark.slow
def test_deleted_test_cell_is_put_back_and_fails(graded_class) -> None:
    root, out, _ = graded_class
    autograded = json.loads((root / "autograded/s04_deleted_test/a1_value/a1_value.ipynb").read_text(encoding="utf-8"))
    assert "test_2_1" in grade_ids(autograded)
    rows = {(r["student"], r["assignment"]): r for r in read_csv(out / "notebooks.csv")}
    assert rows[("s04_deleted_test", "a1_value")]["nbgrader_score"] == rows[("s02_buggy", "a1_value")]["nbgrader_score"]


@pytest.mark.slow
def test_feedback_html_hides_hidden_tests(graded_class) -> None:
    import html as html_lib

    _, out, _ = graded_class
    pages = list(out.glob("students/*/notebooks/*.html"))
    assert len(pages) >= 5
    for page in pages:
        # IPython's highlighting splits code into <span>s: compare the text a reader sees.
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert 'started("' in text, page  # the visible part of a hidden cell is there: the stripping works
        for hidden in ("BEGIN HIDDEN TESTS", "hidden=True", "grader_check"):
            assert hidden not in text, (page, hidden)


@pytest.mark.slow
def test_a_notebook_that_fools_nbgrader_is_flagged_and_the_sandbox_counts(graded_class) -> None:
    _, out, results = graded_class
    rows = {(r["student"], r["assignment"]): r for r in read_csv(out / "notebooks.csv")}
    row = rows[("s06_fools_nbgrader", "a1_value")]
    assert row["disagree"] == "yes" and "2.1" in row["disagreeing_tasks"].split(), row
    assert float(row["nbgrader_score"]) == float(row["nbgrader_max"]), row  # nbgrader was fooled
    final = results["s06_fools_nbgrader"]
    assert final.total == float(row["sandbox_score"]) < float(row["nbgrader_score"])
    assert final.task_scores["2.1"][0] < final.task_scores["2.1"][1]
    assert "DISAGREEMENT on task 2.1" in "\n".join(final.notes)


@pytest.mark.slow
def test_nbgrader_export_and_comparison_csv(graded_class) -> None:
    _, out, _ = graded_class
    export = (out / "nbgrader_grades.csv").read_text(encoding="utf-8")
    assert export.startswith("assignment,duedate,timestamp,student_id")
    rows = read_csv(out / "notebooks.csv")
    assert {r["student"] for r in rows} == {s.student for s in SAMPLES}
    assert all(r["disagree"] == "no" for r in rows if r["student"] == "s01_correct")
    # Every notebook nbgrader can read was autograded: two autogrades running
    # at once (jobs=2) never lose the gradebook race for a new student.
    failed = {(r["student"], r["assignment"]) for r in rows if r["nbgrader_ok"] == "no"}
    assert failed == {("s05_invalid_json", "a1_value")}


def test_preparing_registers_students_idempotently_and_the_template_has_none(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    from grader.nbgrader_steps import prepare

    shutil.copyfile(COURSE / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    assert prepare(tmp_path, [], ["s01", "s02"], None)
    assert prepare(tmp_path, [], ["s02", "s03"], tmp_path / "template.db")
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", course_id="micrograd") as gb:
        assert sorted(s.id for s in gb.students) == ["s01", "s02", "s03"]
    with Gradebook(f"sqlite:///{tmp_path / 'template.db'}", course_id="micrograd") as gb:
        assert list(gb.students) == []


def test_context_default_points_at_the_repo() -> None:
    assert Context().root == REPO


def test_test_cell_ids_name_their_task() -> None:
    assert TEST_ID.match("hidden_2_1") and not TEST_ID.match("engine_add")


@pytest.mark.slow
def test_a_hostile_notebook_cannot_reach_the_course_the_reports_or_other_students(tmp_path: Path) -> None:
    """nbgrader's kernel runs inside the boundary: a throwaway course copy under bubblewrap,
    read-only, worked on in a size-capped tmpfs (a notebook cannot fill the grader's disk)."""
    from grader.notebook_boundary import COURSE_BYTES, available
    from grader.notebooks import grade_notebook_class
    from grader.sandbox import Sandbox

    if not available(Sandbox(allow_unsafe=True)):
        pytest.skip("bubblewrap is not usable here: nbgrader is then not run at all (tested in CI)")
    root = tmp_path / "assignments"
    root.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", root)
    shutil.copytree(COURSE / "source" / "a1_value", root / "source" / "a1_value")
    shutil.copytree(COURSE / "submitted" / "s01_correct" / "a1_value", root / "submitted" / "s01_correct" / "a1_value")
    out = tmp_path / "reports"
    out.mkdir()
    (out / ".grader-secret").write_text("the-instructors-secret")
    nb_path = root / "submitted" / "zz_hostile" / "a1_value" / "a1_value.ipynb"
    nb_path.parent.mkdir(parents=True)
    nb = json.loads((COURSE / "submitted" / "s01_correct" / "a1_value" / "a1_value.ipynb").read_text())
    attack = f"""
import os
for what, act in [("secret", lambda: open({str(out / '.grader-secret')!r}).read()),
                  ("gradebook", lambda: open({str(root / 'gradebook.db')!r}, "ab").write(b"x")),
                  ("other students", lambda: os.listdir({str(root / 'submitted')!r})),
                  ("kit", lambda: open({str(REPO / 'README.md')!r}).read()),
                  ("its course copy", lambda: open("/seed/nbgrader_config.py", "a").write("x")),
                  ("the disk", lambda: open("fill.bin", "wb").write(b"0" * ({COURSE_BYTES} + (8 << 20))))]:
    try:
        print("LEAK", what, str(act())[:40])
    except Exception as exc:
        print("blocked", what, type(exc).__name__)
if os.path.exists("fill.bin"):
    os.remove("fill.bin")  # so that nbgrader can still write this notebook's results, read below
"""
    setup = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "engine_add")
    setup["source"] = attack + "".join(setup["source"])
    nb_path.write_text(json.dumps(nb))
    results = {r.student: r for r in grade_notebook_class(root, out, jobs=1, secret=b"s")}
    graded = json.loads((root / "autograded" / "zz_hostile" / "a1_value" / "a1_value.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in graded["cells"] for o in c.get("outputs", []))
    assert "LEAK" not in printed and printed.count("blocked") == 6, printed[:2000]
    assert results["s01_correct"].total == results["s01_correct"].max_score > 0  # the other student is intact
    assert "the-instructors-secret" not in printed
