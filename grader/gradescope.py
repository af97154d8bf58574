"""Gradescope: build the autograder zip, and grade one submission inside Gradescope's container.

`build_bundle` writes the zip Gradescope takes: `setup.sh` and `run_autograder`
at its root (templates in grader/templates/gradescope/), the kit under `kit/`
(grader, the reference, the assignments' source notebooks), `config.json` (the
tasks graded, hence the maximum) and `grader-secret` (seeds the hidden inputs).

`run_autograder` is what `python -m grader gradescope` does in the container:
it reads the student's identity from `submission_metadata.json`, finds their
package in `submission/` (a `micrograd/` folder, loose `engine.py nn.py
train.py`, a zip of either, or the assignment's notebook), grades the chosen
tasks and writes `results/results.json` under `$AUTOGRADER_ROOT` (default
`/autograder`).

Hidden results before the due date: Gradescope hides a student's total score
while any test is `after_due_date` (tests marked `hidden` do not hide it, so no
test with points is ever `hidden`). results.json therefore has no top-level
`score` (Gradescope sums the tests, so there is no total to compare with the
visible tests) and every hidden check is `after_due_date`.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.intake import SubmissionError, locate
from grader.tasks import TASKS
from grader.types import Upload

KIT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates" / "gradescope"
TORCH_PIN_FILE = KIT / "requirements" / "torch-cpu.txt"
COURSE = KIT / "assignments"
DEFAULT_ROOT = "/autograder"
CONFIG = "config.json"
SECRET = "grader-secret"
METADATA = "submission_metadata.json"
# What goes into kit/: the code and data the grader reads at run time, nothing generated or private.
KIT_PARTS = ("pyproject.toml", "grader", "builder", "reference/pyproject.toml", "reference/micrograd", "requirements")
SKIP_PARTS = {"__pycache__", ".pytest_cache", "tests"}


# --------------------------------------------------------------------------- bundle


@dataclass
class Bundle:
    """What `build_bundle` wrote."""

    path: Path
    tasks: list[str]
    max_score: float
    files: int
    bytes: int
    secret_file: Path | None = None
    """Where a newly made secret was saved (None when the instructor gave one)."""


def torch_pin() -> str:
    """The pinned torch requirement (one line in requirements/torch-cpu.txt), shared with noxfile.py."""
    lines = [ln.strip() for ln in TORCH_PIN_FILE.read_text(encoding="utf-8").splitlines()]
    return next(ln for ln in lines if ln and not ln.startswith("#"))


def assignment_tasks(assignment: str, course: Path = COURSE) -> list[str]:
    """The tasks an nbgrader assignment teaches (its source notebook's metadata)."""
    source = course / "source" / assignment / f"{assignment}.ipynb"
    if not source.is_file():
        known = ", ".join(sorted(p.name for p in (course / "source").iterdir() if p.is_dir()))
        raise SubmissionError(f"no assignment {assignment!r} in {course / 'source'} (known: {known})")
    meta = json.loads(source.read_text(encoding="utf-8")).get("metadata", {}).get("micrograd", {})
    return [t for t in meta.get("tasks", []) if t in TASKS]


def choose_tasks(assignment: str | None, tasks: list[str] | None) -> list[str]:
    """The tasks to grade: an assignment's, a list, or all of them (in teaching order)."""
    if assignment and tasks:
        raise SubmissionError("give --assignment or --tasks, not both")
    if assignment:
        return assignment_tasks(assignment)
    if tasks:
        unknown = [t for t in tasks if t not in TASKS]
        if unknown:
            raise SubmissionError(f"unknown task(s) {', '.join(unknown)}; the tasks are {', '.join(TASKS)}")
        return [t for t in TASKS if t in tasks]
    return list(TASKS)


def max_score(tasks: list[str]) -> float:
    from grader import rubric

    return sum(c.points for c in rubric.build(0, tasks=set(tasks)))


def _kit_files() -> list[tuple[Path, str]]:
    """(file, name in the zip) for the kit's code, the reference and the source notebooks."""
    files: list[tuple[Path, str]] = []
    parts = [KIT / p for p in KIT_PARTS] + sorted((COURSE / "source").glob("*/*.ipynb"))
    for part in parts:
        found = [part] if part.is_file() else sorted(p for p in part.rglob("*") if p.is_file())
        for path in found:
            rel = path.relative_to(KIT)
            if SKIP_PARTS & set(rel.parts) or path.is_symlink() or path.suffix in {".pyc", ".secret"}:
                continue
            files.append((path, f"kit/{rel.as_posix()}"))
    return files


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


def build_bundle(
    out: Path,
    *,
    assignment: str | None = None,
    tasks: list[str] | None = None,
    secret: str | None = None,
) -> Bundle:
    """Write Gradescope's autograder zip to `out`.

    `secret` seeds every student's hidden inputs; without one (and without
    $GRADER_SECRET) a new one is made and saved beside the zip (`OUT.secret`),
    which the instructor keeps to reproduce grades with `python -m grader grade --secret`.
    """
    chosen = choose_tasks(assignment, tasks)
    saved: Path | None = None
    secret = secret or os.environ.get("GRADER_SECRET")
    if not secret:
        secret = secrets.token_hex(32)
        saved = out.with_suffix(".secret")
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.unlink(missing_ok=True)
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
    config = {"assignment": assignment, "tasks": chosen, "max_score": max_score(chosen), "torch": torch_pin()}
    setup = (TEMPLATES / "setup.sh").read_text(encoding="utf-8").replace("@TORCH_PIN@", torch_pin())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    files = _kit_files()
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", setup.encode(), executable=True)
        _add(zf, "run_autograder", (TEMPLATES / "run_autograder").read_bytes(), executable=True)
        _add(zf, CONFIG, (json.dumps(config, indent=2) + "\n").encode())
        _add(zf, SECRET, (secret + "\n").encode())
        for path, name in files:
            _add(zf, name, path.read_bytes())
    os.replace(tmp, out)
    return Bundle(out, chosen, config["max_score"], len(files) + 4, out.stat().st_size, saved)


# ------------------------------------------------------------------- run_autograder


def student_identity(metadata: Path) -> tuple[str | None, str]:
    """(the student id, or None; why not) from Gradescope's submission_metadata.json.

    The id is every submitter's email (else Gradescope's user id), sorted and
    joined with `+`, so a group shares one id and one set of hidden inputs."""
    try:
        users = json.loads(metadata.read_text(encoding="utf-8"))["users"]
        ids = sorted(str(u.get("email") or u.get("id") or "").strip() for u in users)
    except FileNotFoundError:
        return None, f"{metadata} does not exist"
    except (OSError, ValueError) as exc:
        return None, f"{metadata} could not be read ({type(exc).__name__}: {exc})"
    except (KeyError, TypeError, AttributeError):
        return None, f"{metadata} has no list of users with an email or id"
    if not ids or not all(ids):
        return None, f"{metadata} has a user without an email or id"
    return "+".join(ids), ""


def stage_upload(submission: Path, work: Path, assignment: str | None = None, course: Path = COURSE) -> Upload:
    """Find the package in a Gradescope upload with the grader's intake (`grader.intake.locate`):
    a `micrograd/` folder, loose module files, one zip of either, or the assignment's notebook.
    `work` is an empty scratch folder. Nothing gradable: an Upload without a root, and one note."""
    try:
        return locate(submission, work, course)
    except SubmissionError as exc:
        return Upload(None, [f"Nothing could be graded: {exc}. Upload engine.py, nn.py and train.py, a micrograd/ "
                             "folder holding them, a zip of either, or the assignment's notebook."])  # fmt: skip


def results_json(result: Any) -> dict[str, Any]:
    """Gradescope's results.json for a SubmissionResult, with nothing hidden derivable before the due date."""
    from grader.report import gradescope_json

    data = gradescope_json(result)
    data.pop("score", None)  # Gradescope sums the tests: no total to set against the visible tests
    for test in data["tests"]:
        if test.get("visibility") == "hidden":  # `hidden` tests would not hide the total
            test["visibility"] = "after_due_date"
    data["stdout_visibility"] = "hidden"
    return data


def misconfigured_json(reason: str) -> dict[str, Any]:
    """results.json when the autograder cannot grade anyone correctly (never a shared or random id)."""
    return {
        "score": 0.0,
        "output": (
            "The autograder is misconfigured, so this submission was not graded: "
            f"{reason}. Please tell your instructor; your upload is kept and can be regraded."
        ),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"misconfigured": reason},
    }


@dataclass
class Run:
    """What run_autograder did."""

    results: Path
    student: str | None
    score: float
    max_score: float
    message: str


def _read_secret(source: Path, given: str | None) -> str | None:
    if given or os.environ.get("GRADER_SECRET"):
        return given or os.environ["GRADER_SECRET"]
    try:
        return (source / SECRET).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _read_config(source: Path) -> dict[str, Any]:
    try:
        config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"assignment": None, "tasks": list(TASKS)}
    if not isinstance(config, dict) or not all(t in TASKS for t in config.get("tasks", [])):
        raise ValueError(f"{source / CONFIG} does not list known tasks")
    return config


def run_autograder(root: Path, *, secret: str | None = None) -> Run:
    """Grade `root/submission` into `root/results/results.json` (Gradescope's layout).

    Raises SubmissionError when `root` is not an autograder container (no
    `submission/` folder), so that nothing is written outside one."""
    from grader.grading import grade_package, student_seed
    from grader.report import atomic_write

    submission, results = root / "submission", root / "results" / "results.json"
    if not submission.is_dir():
        raise SubmissionError(
            f"{submission} does not exist: this command runs inside Gradescope's autograder container. "
            "Elsewhere, set $AUTOGRADER_ROOT (or --root) to a folder holding submission/ and submission_metadata.json."
        )
    source = root / "source"
    problems: list[str] = []
    student, why = student_identity(root / METADATA)
    if student is None:
        problems.append(f"no student identity ({why})")
    key = _read_secret(source, secret)
    if key is None:
        problems.append(f"no secret for the hidden inputs ({source / SECRET} is missing and $GRADER_SECRET is unset)")
    try:
        config = _read_config(source)
    except (OSError, ValueError) as exc:
        problems.append(f"the bundle's {CONFIG} is unreadable ({exc})")
        config = {}
    if problems:
        reason = "; ".join(problems)
        atomic_write(results, json.dumps(misconfigured_json(reason), indent=2) + "\n")
        return Run(results, student, 0.0, 0.0, f"misconfigured: {reason}")
    assert student is not None and key is not None
    tasks = config.get("tasks") or list(TASKS)
    with tempfile.TemporaryDirectory(prefix="upload-") as tmp:
        upload = stage_upload(submission, Path(tmp), config.get("assignment"))
        result = grade_package(upload.root, student, tasks=tasks, seed=student_seed(key.encode(), student))
    result.notes[:0] = upload.notes
    atomic_write(results, json.dumps(results_json(result), indent=2) + "\n")
    return Run(results, student, result.total, result.max_score, "graded")
