"""The embedded sample class graded end to end: exact scores, feedback that
names the task and the operation, hidden checks that reveal nothing."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from grader.classroom import grade_class
from grader.grading import student_seed
from grader.report import FEEDBACK, RESULTS
from grader.rubric import build
from grader.samples import MUTANTS, build_sample_class
from grader.tasks import TASKS

SECRET = "kit-tests"

# Per task: 1.1 1.2 1.3 1.4 | 2.1 2.2 2.3 2.4 | 3.1 3.2 | 4.1 4.2 4.3 | 5.1 5.2
EXPECTED = {
    "ada": [6, 5, 4, 6, 5, 5, 4, 10, 8, 14, 7, 4, 4, 6, 10],  # the reference
    "ben": [0] * 15,  # the untouched skeleton
    "chloe": [6, 5, 4, 6, 5, 5, 4, 8, 8, 12, 7, 4, 4, 6, 10],  # tanh derivative from x, not t
    "dev": [6, 5, 4, 6, 2, 5, 4, 10, 8, 5, 7, 4, 4, 6, 8],  # = instead of += in mul
    "emma": [6, 5, 4, 6, 5, 5, 4, 10, 8, 6, 7, 4, 4, 6, 8],  # breadth-first backward
    "farid": [6, 5, 4, 6, 5, 2, 4, 10, 8, 10, 7, 4, 4, 6, 10],  # power rule n*x**n
    "gia": [6, 5, 4, 6, 5, 5, 4, 10, 8, 14, 0, 0, 0, 6, 8],  # no bias in parameters()
    "hugo": [6, 5, 4, 6, 5, 5, 4, 5, 8, 12, 7, 4, 4, 6, 8],  # relu gradient inverted
    "ivan": [0] * 15,  # hostile: patches abs/isclose, __eq__ always True, prints fake results
    "jade": [6, 5, 4, 6, 5, 5, 4, 10, 0, 10, 7, 4, 4, 6, 8],  # endless loop in the topological sort
    "kai": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 4, 4, 6, 8],  # syntax error in engine.py
    "lena": [6, 5, 4, 6, 5, 5, 4, 10, 8, 14, 0, 0, 0, 6, 8],  # os._exit while importing nn.py
    "milo": [6, 5, 4, 6, 5, 5, 4, 10, 8, 14, 7, 4, 4, 0, 0],  # train.py in Latin-1
    "nora": [0] * 15,  # an empty folder
    "omar": [6, 5, 4, 6, 5, 5, 4, 10, 8, 14, 7, 4, 4, 6, 10],  # the reference as a .zip
}
MAX = sum(EXPECTED["ada"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("class")
    out = base / "reports"
    results, warnings = grade_class(build_sample_class(base / "class"), out, jobs=2, secret=SECRET, progress=False)
    assert not [w for w in warnings if "grader failed" in w], warnings
    assert len(results) == len(EXPECTED)
    return out


def results_json(out: Path, student: str) -> dict:
    return json.loads((out / "students" / student / RESULTS).read_text())


def failing(out: Path, student: str) -> list[dict]:
    return [t for t in results_json(out, student)["tests"] if t["status"] == "failed"]


def test_max_score_is_the_rubric_total() -> None:
    assert sum(c.points for c in build(0)) == MAX


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_exact_score_per_task(graded: Path, student: str) -> None:
    rows = {r["student"]: r for r in csv.DictReader((graded / "grades.csv").open())}
    row = rows[student]
    got = [float(row[t]) for t in TASKS]
    assert got == EXPECTED[student], f"{student}: {dict(zip(TASKS, got))}"
    assert float(row["total"]) == sum(EXPECTED[student]) and float(row["max"]) == MAX


def test_grades_csv_columns(graded: Path) -> None:
    header = (graded / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == ["student", *TASKS, "total", "max"]


def test_results_json_follows_gradescope_schema(graded: Path) -> None:
    data = results_json(graded, "dev")
    assert {"score", "execution_time", "output", "visibility", "tests"} <= data.keys()
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= test.keys()
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_due_date")
    assert data["score"] == sum(t["score"] for t in data["tests"]) == sum(EXPECTED["dev"])


@pytest.mark.parametrize(
    ("student", "task", "words"),
    [
        ("chloe", "2.4", ["tanh", "1 - t**2"]),
        ("dev", "2.1", ["a * b", "+="]),
        ("emma", "3.2", ["diamond", "topological order"]),
        ("farid", "2.2", ["power", "n * x**(n-1)"]),
        ("gia", "4.1", ["parameters", "bias"]),
        ("hugo", "2.4", ["relu", "x > 0"]),
        ("jade", "3.1", ["did not finish", "endless loop"]),
        ("kai", "1.1", ["SyntaxError", "engine.py"]),
        ("lena", "4.1", ["exited while importing", "exit code 3"]),
        ("milo", "5.1", ["not UTF-8", "train.py"]),
        ("nora", "1.1", ["not graded: see the note at the top"]),
    ],
)
def test_feedback_names_task_operation_and_cause(graded: Path, student: str, task: str, words: list[str]) -> None:
    mine = [t for t in failing(graded, student) if t["name"].startswith(f"Task {task}")]
    public = [t for t in mine if t["visibility"] == "visible"]
    assert public, f"{student} has no failing public check in task {task}"
    text = "\n".join(t["name"] + "\n" + t["output"] for t in public)
    for word in words:
        assert word in text, f"{word!r} not in {student}'s feedback for task {task}:\n{text}"
    assert f"Task {task}" in (graded / "students" / student / FEEDBACK).read_text()


def test_public_failure_shows_inputs_expected_and_got(graded: Path) -> None:
    out = next(t["output"] for t in failing(graded, "dev") if t["name"] == "Task 2.1: local derivative of a * b")
    assert "a = 2.0, b = -3.0" in out and "expected: a.grad = -1.25" in out and "got:      a.grad = -1.5" in out
    assert "hint:" in out


def _numbers(obj: object) -> set[float]:
    if isinstance(obj, float):
        return {obj}
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list):
        return set().union(*(_numbers(x) for x in obj)) if obj else set()
    return set()


def test_hidden_checks_reveal_no_inputs_or_expected_values(graded: Path) -> None:
    for student in EXPECTED:
        checks = {c.id: c for c in build(student_seed(SECRET.encode(), student))}
        for test in failing(graded, student):
            if test["visibility"] == "visible":
                continue
            check = checks[test["number"]]
            assert "\n  expected" not in test["output"] and "got " not in test["output"], test
            # Hidden inputs have several random decimals: none may appear in the feedback.
            for x in _numbers(check.probe):
                if x != round(x, 1):
                    assert repr(x) not in test["output"] and f"{x:.10g}" not in test["output"], (x, test)
    hidden = [t for t in failing(graded, "chloe") if t["visibility"] != "visible"]
    assert any("hidden check failed: wrong local derivative of tanh" in t["output"] for t in hidden)


def test_never_all_passed_while_a_hidden_check_fails(graded: Path) -> None:
    for student in EXPECTED:
        feedback = (graded / "students" / student / FEEDBACK).read_text()
        if failing(graded, student):
            assert "Every check passed" not in feedback
    assert "Every check passed" in (graded / "students" / "ada" / FEEDBACK).read_text()


def test_hostile_submission_earns_nothing_and_its_prints_are_ignored(graded: Path) -> None:
    data = results_json(graded, "ivan")
    assert data["score"] == 0
    assert '"score": 100' in data["output"]  # what it printed is shown to it as its own output, nothing more
    assert "could read" not in data["output"]  # the reference, /work and home are out of reach


def test_no_process_outlives_grading(graded: Path) -> None:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 1000" not in ps


def test_mutants_are_described() -> None:
    assert {m.student for m in MUTANTS} <= EXPECTED.keys() and all(m.bug for m in MUTANTS)


def test_an_ungradable_upload_says_why_once_at_the_top(graded: Path) -> None:
    feedback = (graded / "students" / "nora" / FEEDBACK).read_text()
    assert feedback.count("no micrograd/engine.py and no engine.py was found; the folder is empty") == 1
    assert feedback.count("not graded: see the note at the top") == 1  # one block for every check
