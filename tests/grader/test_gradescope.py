"""The Gradescope bundle, unpacked and run as Gradescope would: run_autograder under a
temporary $AUTOGRADER_ROOT on each kind of upload, results.json checked against
Gradescope's documented schema; setup.sh checked with `bash -n` and its dry run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.gradescope import assignment_tasks, build_bundle, max_score, student_identity, torch_pin
from grader.tasks import TASKS

KIT = Path(__file__).resolve().parents[2]
REFERENCE = KIT / "reference" / "micrograd"
NOTEBOOK = KIT / "assignments" / "submitted" / "s01_correct" / "a1_value" / "a1_value.ipynb"
TASKS_GRADED = ["1.1", "2.1"]
SECRET = "gradescope-tests"

# Gradescope's results.json (gradescope-autograders.readthedocs.io, "Autograder Specifications").
TOP_KEYS = {
    "score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
    "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard",
}  # fmt: skip
TEST_KEYS = {
    "score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
    "visibility", "extra_data",
}  # fmt: skip
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def check_schema(data: dict) -> None:
    assert set(data) <= TOP_KEYS, set(data) - TOP_KEYS
    assert "score" in data or ("tests" in data and all("score" in t for t in data["tests"]))
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in VISIBILITY
    assert isinstance(data.get("output", ""), str)
    assert isinstance(data.get("execution_time", 0), int | float)
    for t in data.get("tests", []):
        assert set(t) <= TEST_KEYS, set(t) - TEST_KEYS
        assert isinstance(t["score"], int | float) and isinstance(t["max_score"], int | float)
        assert 0 <= t["score"] <= t["max_score"]
        assert t.get("status", "passed") in {"passed", "failed"}
        assert t.get("visibility", "visible") in VISIBILITY
        assert isinstance(t.get("name", ""), str) and isinstance(t.get("output", ""), str)
        assert all(isinstance(tag, str) for tag in t.get("tags", []))


def check_nothing_hidden_derivable(data: dict) -> None:
    """Before the due date a student sees the visible tests only: no total, and no
    `hidden` test with points (Gradescope shows the total while only those exist)."""
    tests = data["tests"]
    assert "score" not in data
    assert all(t["visibility"] in {"visible", "after_due_date"} for t in tests)
    assert any(t["visibility"] == "after_due_date" for t in tests)  # this is what hides the total


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    build_bundle(out, tasks=TASKS_GRADED, secret=SECRET)
    return out


def unpack(bundle: Path, root: Path) -> Path:
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # extractall drops the mode bits
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, metadata: object = None) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    if metadata is not None:
        (root / "submission_metadata.json").write_text(
            metadata if isinstance(metadata, str) else json.dumps(metadata), encoding="utf-8"
        )
    env = {k: v for k, v in os.environ.items() if k not in {"GRADER_SECRET", "PYTHONPATH"}}
    env |= {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    proc = subprocess.run(
        [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=600
    )
    results = root / "results" / "results.json"
    return proc, json.loads(results.read_text()) if results.exists() else None


META = {"users": [{"email": "student@example.edu", "id": 1234, "name": "A Student"}], "assignment": {}}


def _loose(sub: Path) -> None:
    for name in ("engine", "nn", "train"):
        shutil.copy(REFERENCE / f"{name}.py", sub / f"{name}.py")


def _folder(sub: Path) -> None:
    shutil.copytree(REFERENCE, sub / "micrograd")


def _zip_of_folder(sub: Path) -> None:
    with zipfile.ZipFile(sub / "mine.zip", "w") as zf:
        for path in REFERENCE.glob("*.py"):
            zf.write(path, f"project/micrograd/{path.name}")


def _zip_of_loose(sub: Path) -> None:
    with zipfile.ZipFile(sub / "mine.zip", "w") as zf:
        for name in ("engine", "nn", "train"):
            zf.write(REFERENCE / f"{name}.py", f"{name}.py")


def _notebook(sub: Path) -> None:
    shutil.copy(NOTEBOOK, sub / "a1_value.ipynb")


@pytest.mark.parametrize("upload", [_loose, _folder, _zip_of_folder, _zip_of_loose, _notebook])
def test_run_autograder_grades_every_upload_kind(bundle: Path, tmp_path: Path, upload) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    upload(root / "submission")
    proc, data = run_autograder(root, META)
    assert proc.returncode == 0, proc.stderr
    assert data is not None
    check_schema(data)
    check_nothing_hidden_derivable(data)
    top = max_score(TASKS_GRADED)
    assert sum(t["max_score"] for t in data["tests"]) == top
    assert {t["tags"][0] for t in data["tests"]} == {f"task {t}" for t in TASKS_GRADED}
    assert sum(t["score"] for t in data["tests"]) == top, data["output"]
    assert data["extra_data"]["student"] == "student@example.edu"


def test_nothing_to_grade_scores_zero_and_says_what_to_upload(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    (root / "submission" / "notes.txt").write_text("hello")
    proc, data = run_autograder(root, META)
    assert proc.returncode == 0, proc.stderr
    check_schema(data)
    assert sum(t["score"] for t in data["tests"]) == 0
    assert "upload engine.py, nn.py and train.py" in data["output"]


@pytest.mark.parametrize("metadata", [None, "{not json", {"users": []}, {"users": [{"name": "no email"}]}])
def test_missing_identity_says_misconfigured_never_a_shared_id(bundle: Path, tmp_path: Path, metadata) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    _loose(root / "submission")
    proc, data = run_autograder(root, metadata)
    assert proc.returncode == 0, proc.stderr
    check_schema(data)
    assert data["tests"] == [] and data["score"] == 0
    assert "misconfigured" in data["output"] and "submission_metadata.json" in data["output"]


def test_missing_secret_says_misconfigured(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    (root / "source" / "grader-secret").unlink()
    _loose(root / "submission")
    proc, data = run_autograder(root, META)
    assert proc.returncode == 0, proc.stderr
    assert "misconfigured" in data["output"] and "secret" in data["output"]


def test_outside_a_container_it_refuses_and_writes_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_ROOT"}
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "gradescope", "--root", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300, cwd=KIT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "AUTOGRADER_ROOT" in proc.stdout
    assert not (tmp_path / "results").exists()


def test_a_hidden_failure_leaves_no_trace_in_the_visible_output() -> None:
    from grader.gradescope import results_json
    from grader.grading import _cross_task_hints
    from grader.types import CheckResult, SubmissionResult

    def check(task: str, hidden: bool, passed: bool) -> CheckResult:
        kind = "hidden" if hidden else "public"
        return CheckResult(
            f"{task}/{kind}/x", task, f"Task {task}: x", float(passed), 1.0, "passed" if passed else "failed",
            "", "after_due_date" if hidden else "visible",
        )  # fmt: skip

    result = SubmissionResult("s", [check("1.1", False, True), check("1.1", True, False),
                                    check("3.1", False, True), check("3.1", True, False)])  # fmt: skip
    _cross_task_hints(result)
    data = results_json(result)
    assert data["output"] == "" and "score" not in data
    assert sum(t["score"] for t in data["tests"] if t["visibility"] == "visible") == 2


def test_group_identity_is_every_member_sorted(tmp_path: Path) -> None:
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps({"users": [{"email": "b@x"}, {"email": "a@x"}]}))
    assert student_identity(meta) == ("a@x+b@x", "")


def test_bundle_layout_and_maximum(tmp_path: Path) -> None:
    out = tmp_path / "a.zip"
    info = build_bundle(out, assignment="a2_backprop", secret="s")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("config.json"))
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "grader-secret", "kit/grader/gradescope.py"} <= names
    assert "kit/reference/micrograd/engine.py" in names
    assert not any("__pycache__" in n or n.startswith("kit/student") or "/tests/" in n for n in names)
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert config["tasks"] == assignment_tasks("a2_backprop") == ["3.1", "3.2"]
    assert info.max_score == config["max_score"] == max_score(["3.1", "3.2"]) < max_score(list(TASKS))
    assert torch_pin() in setup and "download.pytorch.org/whl/cpu" in setup and "@TORCH_PIN@" not in setup
    assert info.secret_file is None


def test_bundle_without_a_secret_makes_one_and_saves_it_privately(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    info = build_bundle(tmp_path / "b.zip", tasks=["1.1"])
    assert info.secret_file is not None and info.secret_file.stat().st_mode & 0o077 == 0
    with zipfile.ZipFile(info.path) as zf:
        assert zf.read("grader-secret").decode().strip() == info.secret_file.read_text().strip()


def test_setup_sh_parses_and_its_dry_run_builds_a_pinned_cpu_venv(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    setup = root / "source" / "setup.sh"
    assert subprocess.run(["bash", "-n", str(setup)]).returncode == 0
    env = dict(os.environ, AUTOGRADER_ROOT=str(root))
    out = subprocess.run([str(setup), "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    python = next(line.split()[-1] for line in lines if line.startswith("Using "))
    check = subprocess.run([python, "-c", "import sys; assert sys.version_info >= (3, 11)"])
    assert check.returncode == 0
    assert f"+ {python} -m venv {root}/venv" in lines
    pip = f"+ {root}/venv/bin/python -m pip install"
    assert f"{pip} {torch_pin()} --index-url https://download.pytorch.org/whl/cpu" in lines
    assert f"{pip} -e {root}/source/kit/reference -e {root}/source/kit" in lines
    assert "+ apt-get install -y bubblewrap" in lines
    assert not (root / "venv").exists()


def test_setup_sh_installs_a_python_when_the_image_has_only_an_old_one(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\nexit 1\n")  # a Python 3.10 fails the version check the same way
    (fake / "python3").chmod(0o755)
    env = {"AUTOGRADER_ROOT": str(root), "PATH": str(fake)}
    out = subprocess.run(
        ["/bin/bash", str(root / "source" / "setup.sh"), "--dry-run"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "+ apt-get install -y python3.12 python3.12-venv" in out.stdout
