"""The nbgrader course: built from the reference, released without solutions,
graded by real nbgrader and scored by the sandbox.

Fast tests read the committed notebooks; `slow` ones run nbgrader (and the
sample class takes about a minute and a half on two cores)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from builder import Context
from builder.markers import parse_regions
from builder.notebooks import COURSE, REFERENCE, SAMPLES, course, to_notebook
from grader.notebooks import TEST_ID, extract_package, nbgrader_env

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
        assert "### BEGIN HIDDEN TESTS" in hidden and f'check("{task}", globals(), hidden=True)' in hidden
        assert cells[f"test_{tid}"]["metadata"]["nbgrader"]["points"] > 0
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


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_has_no_solution_and_no_hidden_test(name: str) -> None:
    released = text_of(load("release", name))
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True"):
        assert marker not in released
    tasks = set(load("source", name)["metadata"]["micrograd"]["tasks"])
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
                    assert code not in released, f"{name}: solution line {path.name}:{n} leaked into release/"
    # The written answer's model answer is not released either.
    source = load("source", name)
    for cell in source["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "markdown" and meta.get("solution"):
            assert "".join(cell["source"])[:60] not in released


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_keeps_the_package_tags(name: str) -> None:
    def tags(nb: dict) -> dict[str, str]:
        return {
            c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["micrograd"]["module"]
            for c in nb["cells"]
            if "micrograd" in c["metadata"]
        }

    assert tags(load("release", name)) == tags(load("source", name))
    assert set(tags(load("source", name)).values()) <= {"engine", "nn", "train"}


def test_nbgrader_config() -> None:
    text = (COURSE / "nbgrader_config.py").read_text(encoding="utf-8")
    assert "c.Execute.timeout = 10" in text
    assert "c.OverwriteCells.add_missing_cells = True" in text
    assert "ClearHiddenTests" in text and "course_id" in text


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
    assert "nbgrader 24/24 automatic points" in notes["s01_correct"]
    assert "DISAGREEMENT" not in notes["s01_correct"]
    assert "test_2_1" in notes["s04_deleted_test"] and "deleted" in notes["s04_deleted_test"]
    assert "stopped" in notes["s03_infinite_loop"] and "infinite loop" in notes["s03_infinite_loop"]
    assert "not valid JSON" in notes["s05_invalid_json"]
    feedback = (out / "s04_deleted_test" / "feedback.md").read_text(encoding="utf-8")
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
    _, out, _ = graded_class
    pages = list(out.glob("*/notebooks/*.html"))
    assert len(pages) >= 5
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in html and "hidden=True" not in html, page


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


def test_register_students_is_idempotent(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    from grader.notebooks import register_students

    register_students(tmp_path, ["s01", "s02"])
    register_students(tmp_path, ["s02", "s03"])
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", course_id="micrograd") as gb:
        assert sorted(s.id for s in gb.students) == ["s01", "s02", "s03"]


def test_context_default_points_at_the_repo() -> None:
    assert Context().root == REPO


def test_test_cell_ids_name_their_task() -> None:
    assert TEST_ID.match("hidden_2_1") and not TEST_ID.match("engine_add")
