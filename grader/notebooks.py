"""Grade notebook submissions: nbgrader for the notebook, the sandbox for the score.

Submissions sit where nbgrader wants them,
`assignments/submitted/<student>/<assignment>/<assignment>.ipynb`. For each:

1. real nbgrader, through its Python API (`grader/nbgrader_steps.py`: one
   process per notebook, configured by assignments/nbgrader_config.py):
   `autograde` (a time limit per cell, deleted test cells put back), then
   `generate_feedback` (hidden tests and their tracebacks removed), and once
   for the class `export` (its CSV), all recorded in assignments/gradebook.db;
2. the sandbox: nbgrader runs student code inside its kernel with the
   instructor's rights (a student can patch builtins or rewrite the
   gradebook), so the FINAL score comes from the course grader instead. The
   notebook's definitional cells (tagged in the source notebook with
   `"micrograd": {"module": ...}`) become a temporary `micrograd/` package,
   graded by `grade_package` on that assignment's tasks only;
3. a task that one side passes and the other fails is flagged: a note in the
   student's feedback.md and a row of REPORTS/notebooks.csv.

Entry point: `grade_notebook_class(course_root, out, jobs)`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import notebook_contract as contract
from grader.grading import grade_package, student_seed
from grader.notebook_contract import PACKAGE_MODULES, TEST_ID, task_of
from grader.types import SubmissionResult

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "assignments"
# An nbgrader run per notebook: start-up, kernel, every cell (each with its time limit).
AUTOGRADE_TIMEOUT = 600
AUTOGRADE_ATTEMPTS = 3
MAGIC = re.compile(r"^\s*[%!]")


@dataclass
class NotebookGrade:
    """One notebook: what nbgrader said and what the sandbox said."""

    student: str
    assignment: str
    path: Path
    tasks: list[str]
    autograde_seconds: float = 0.0
    nbgrader_ok: bool = False
    nbgrader_tasks: dict[str, tuple[float, float]] = field(default_factory=dict)
    manual_pending: float = 0.0  # points of written answers awaiting a human
    nbgrader_ran: bool = True  # False where no sandbox could hold nbgrader's kernel
    notes: list[str] = field(default_factory=list)
    result: SubmissionResult | None = None

    @property
    def nbgrader_score(self) -> tuple[float, float]:
        return (sum(s for s, _ in self.nbgrader_tasks.values()), sum(m for _, m in self.nbgrader_tasks.values()))

    def disagreements(self) -> list[str]:
        """Tasks passed in full by one side and not by the other."""
        if self.result is None or not self.nbgrader_ran:
            return []
        sandbox = self.result.task_scores
        out = []
        for task in self.tasks:
            nb_s, nb_m = self.nbgrader_tasks.get(task, (0.0, 0.0))
            sb_s, sb_m = sandbox.get(task, (0.0, 0.0))
            if (nb_m > 0 and nb_s >= nb_m) != (sb_m > 0 and sb_s >= sb_m):
                out.append(task)
        return out


# ----------------------------------------------------------------------- nbgrader


def _scripts_first(path: str) -> str:
    """PATH with this interpreter's scripts folder first: nbgrader shells out
    to `alembic`, which must be the one installed beside it."""
    scripts = str(Path(sys.executable).parent)
    parts = path.split(os.pathsep) if path else []
    return os.pathsep.join(parts if parts[:1] == [scripts] else [scripts, *parts])


def nbgrader_env() -> dict[str, str]:
    """The environment of every nbgrader command: `alembic` on PATH, and the
    grading kernel imports `grader` (the test cells' `check`) even when the
    kit is not installed."""
    from grader.notebook_boundary import KERNEL_ENV

    env = dict(os.environ) | KERNEL_ENV
    env["PATH"] = _scripts_first(env.get("PATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    return env


def run_nbgrader(course_root: Path, *args: str, timeout: float = AUTOGRADE_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """nbgrader's steps (`grader/nbgrader_steps.py`: release, grade, export), run from the
    course root (where its config is), several in one process."""
    return subprocess.run(
        [sys.executable, "-m", "grader.nbgrader_steps", *args],
        cwd=course_root,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def discover(course_root: Path) -> list[tuple[str, str, Path]]:
    """(student, assignment, notebook) for every submission placed nbgrader's way."""
    found = []
    for path in sorted((course_root / "submitted").glob("*/*/*.ipynb")):
        student, assignment = path.parent.parent.name, path.parent.name
        if path.stem == assignment and (course_root / "source" / assignment).is_dir():
            found.append((student, assignment, path))
    return found


def source_notebook(course_root: Path, assignment: str) -> dict[str, Any]:
    return json.loads((course_root / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))


def _grade_id(cell: dict[str, Any]) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def autograde(course_root: Path, assignment: str, student: str) -> tuple[float, bool, str]:
    """`nbgrader autograde` and the feedback page for one notebook, with the grader's
    rights (`--unsafe-no-sandbox` only): (seconds, succeeded, log tail).

    An attempt that lost a race for gradebook.db to a concurrent autograde is
    run again (up to AUTOGRADE_ATTEMPTS); the seconds count every attempt.
    """
    start = time.monotonic()
    for _ in range(AUTOGRADE_ATTEMPTS):
        shutil.rmtree(course_root / "autograded" / student / assignment, ignore_errors=True)
        try:
            proc = run_nbgrader(course_root, "grade", assignment, student)
            ok, log = proc.returncode == 0, proc.stderr
        except subprocess.TimeoutExpired:
            ok, log = False, f"nbgrader autograde took longer than {AUTOGRADE_TIMEOUT} s and was stopped"
        ok = ok and (course_root / "autograded" / student / assignment / f"{assignment}.ipynb").is_file()
        if ok or not _lost_database_race(log):
            break
    return round(time.monotonic() - start, 2), ok, log[-2000:]


def _lost_database_race(log: str) -> bool:
    return "sqlite3.IntegrityError" in log or "database is locked" in log


def _gradebook(course_root: Path) -> Any:
    """nbgrader's Gradebook on the course's gradebook.db.

    Opening it shells out to `alembic` (a new database), found on this
    process's PATH, as the nbgrader commands find it on theirs.
    """
    from nbgrader.api import Gradebook

    os.environ["PATH"] = _scripts_first(os.environ.get("PATH", ""))
    return Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", course_id="micrograd")


def read_gradebook(course_root: Path, grade: NotebookGrade) -> None:
    """nbgrader's per-task points (public + hidden cells) from gradebook.db."""
    from nbgrader.api import MissingEntry

    with _gradebook(course_root) as gb:
        try:
            nb = gb.find_submission_notebook(grade.assignment, grade.assignment, grade.student)
        except MissingEntry:
            return
        scores: dict[str, list[float]] = {}
        for g in nb.grades:
            task = task_of(g.name)
            if task is None:
                if g.needs_manual_grade or g.manual_score is None:
                    grade.manual_pending += g.max_score
                continue
            entry = scores.setdefault(task, [0.0, 0.0])
            entry[0] += g.score or 0.0
            entry[1] += g.max_score
    grade.nbgrader_tasks = {t: (s, m) for t, (s, m) in scores.items()}


def timed_out_cells(course_root: Path, grade: NotebookGrade) -> list[str]:
    """Cells of the autograded notebook that nbgrader stopped at its timeout."""
    path = course_root / "autograded" / grade.student / grade.assignment / f"{grade.assignment}.ipynb"
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and "Timeout" in output.get("ename", ""):
                out.append(_grade_id(cell) or f"cell {index + 1}")
    return out


# ------------------------------------------------------------------------ package


def extract_package(source: dict[str, Any], submitted: dict[str, Any], dest: Path) -> list[str]:
    """Write `dest/micrograd/` from a submission's definitional cells; return notes.

    Which cells define which module, and in what order, comes from the SOURCE
    notebook (the instructor's), never from the submission's metadata. A
    solution cell's code is the student's (found by its nbgrader grade id);
    a given, read-only cell's code is the source's, as nbgrader would restore it.
    """
    meta = contract.notebook_meta(source)
    prologue: dict[str, str] = meta.get(contract.PROLOGUE, {})
    student_cells = {
        _grade_id(c): c for c in submitted.get("cells", []) if _grade_id(c) and c.get("cell_type") == "code"
    }
    modules: dict[str, list[str]] = {}
    notes = []
    for cell in source.get("cells", []):
        module = contract.cell_meta(cell).get(contract.MODULE)
        grade_id = _grade_id(cell)
        if not module or not grade_id:
            continue
        nbg = cell["metadata"]["nbgrader"]
        if nbg.get("solution"):
            mine = student_cells.get(grade_id)
            if mine is None:
                notes.append(f"The solution cell `{grade_id}` is missing from the notebook; its code is not graded.")
                continue
            # Magics (`%time`, `!pip`) are notebook syntax, not Python.
            code = "\n".join(line for line in _source(mine).split("\n") if not MAGIC.match(line))
        else:
            code = _source(cell)
        modules.setdefault(module, []).append(code)
    package = dest / "micrograd"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""A micrograd package rebuilt from a notebook."""\n', encoding="utf-8")
    for module, codes in modules.items():
        head = prologue.get(module, "from __future__ import annotations")
        (package / f"{module}.py").write_text("\n\n\n".join([head, *codes]) + "\n", encoding="utf-8")
    for module in PACKAGE_MODULES:
        # Modules this assignment does not teach: empty, so importing them works.
        path = package / f"{module}.py"
        if not path.exists():
            path.write_text(f'"""micrograd/{module}.py: not part of this assignment."""\n', encoding="utf-8")
    return notes


def sandbox_grade(course_root: Path, grade: NotebookGrade, seed: int, sandbox: Any = None) -> None:
    """The final score: the sandboxed probes on the notebook's own code."""
    source = source_notebook(course_root, grade.assignment)
    try:
        submitted = json.loads(grade.path.read_text(encoding="utf-8"))
        if not isinstance(submitted, dict):
            raise ValueError("the top level is not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        grade.notes.insert(0, f"`{grade.path.name}` is not a valid notebook file ({exc}); nothing could be graded.")
        grade.result = grade_package(None, grade.student, tasks=grade.tasks, seed=seed, sandbox=sandbox)
        return
    with tempfile.TemporaryDirectory(prefix="notebook-") as tmp:
        grade.notes += extract_package(source, submitted, Path(tmp))
        grade.result = grade_package(Path(tmp), grade.student, tasks=grade.tasks, seed=seed, sandbox=sandbox)
    tests = {_grade_id(c) for c in source["cells"] if _grade_id(c) and TEST_ID.match(_grade_id(c) or "")}
    deleted = sorted(tests - {_grade_id(c) for c in submitted.get("cells", [])})
    for grade_id in deleted:
        grade.notes.append(
            f"The test cell `{grade_id}` (task {task_of(grade_id)}) was deleted from the notebook; "
            "nbgrader put it back and ran it."
        )


# -------------------------------------------------------------------------- class


def grade_notebook_class(
    course_root: Path = COURSE,
    out: Path = REPO / "reports" / "notebooks",
    jobs: int = 1,
    *,
    secret: bytes | None = None,
    sandbox: Any = None,
    use_bwrap: bool | None = None,
    allow_unsafe: bool = False,
) -> list[SubmissionResult]:
    """Grade every notebook under `course_root/submitted`, write the reports into `out`.

    One SubmissionResult per student (all their assignments together), as
    `grader.report.write_reports` writes it; nbgrader's own feedback HTML is
    copied to `out/<student>/notebooks/`, its export to `out/nbgrader_grades.csv`,
    and the comparison to `out/notebooks.csv`. `jobs` nbgrader autogrades run
    at once. `secret` seeds each student's hidden probes (as `python -m grader`).

    nbgrader's autograde runs inside the trust boundary (`grader/notebook_boundary.py`):
    a throwaway course copy under bubblewrap, merged back here. Where bubblewrap is
    not available it is not run at all unless `allow_unsafe` (then with your rights):
    the sandboxed grader's score is the notebook's score either way.
    """
    from grader import nbgrader_steps, notebook_boundary
    from grader.classroom import load_secret
    from grader.html_report import link_nbgrader_feedback
    from grader.report import atomic_write, student_folder, write_reports
    from grader.sandbox import Sandbox

    sandbox = sandbox or Sandbox(use_bwrap=use_bwrap, allow_unsafe=allow_unsafe)
    isolated = notebook_boundary.available(sandbox)

    course_root, out = course_root.resolve(), out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    key = secret or load_secret(out)
    subs = discover(course_root)
    grades = []
    for student, assignment, path in subs:
        tasks = contract.notebook_meta(source_notebook(course_root, assignment)).get(contract.TASKS, [])
        grades.append(NotebookGrade(student, assignment, path, list(tasks)))

    # The sandboxed grader (the score that counts) needs nothing from nbgrader: one
    # thread runs it beside everything below. One thread, as the `uid` mode's jail
    # is one folder per Sandbox.
    sandboxed = ThreadPoolExecutor(max_workers=1)
    scores = [sandboxed.submit(sandbox_grade, course_root, g, student_seed(key, g.student), sandbox) for g in grades]

    # nbgrader needs each assignment's source cells in its gradebook (releasing again
    # records them), the throwaway courses a gradebook with no student, and every
    # student registered first (concurrent autogrades of one student's notebooks
    # would both insert the student): one nbgrader process, beside the sandbox thread.
    assignments = sorted({g.assignment for g in grades})
    scratch = Path(tempfile.mkdtemp(prefix="grader-nbtemplate-"))
    template = scratch / notebook_boundary.TEMPLATE_DB if isolated else None
    students = sorted({g.student for g in grades})
    args = ["prepare", "--assignments", *assignments, "--students", *students]
    prepared = run_nbgrader(course_root, *args, *(["--template", str(template)] if template else []))
    if prepared.returncode != 0:
        sandboxed.shutdown(cancel_futures=True)
        shutil.rmtree(scratch, ignore_errors=True)
        raise RuntimeError(f"nbgrader generate_assignment {' '.join(assignments)} failed:\n{prepared.stderr[-2000:]}")

    def one(g: NotebookGrade) -> NotebookGrade:
        if template is not None:
            g.autograde_seconds, g.nbgrader_ok, log = notebook_boundary.autograde(
                course_root, g.assignment, g.student, sandbox, template, AUTOGRADE_TIMEOUT
            )
        elif allow_unsafe:
            g.autograde_seconds, g.nbgrader_ok, log = autograde(course_root, g.assignment, g.student)
        else:
            g.nbgrader_ran = False
            g.notes.append(
                "nbgrader's autograde was not run: without bubblewrap its kernel would run this notebook with the "
                "grader's rights. The sandboxed grader's score below is the notebook's score."
            )
            return g
        if not g.nbgrader_ok:
            invalid = "NotJSONError" in log or "JSONDecodeError" in log
            g.notes.append(
                f"nbgrader could not autograde {g.assignment} "
                f"({'the notebook is not valid JSON' if invalid else 'see its log: ' + log[-300:]})."
            )
        return g

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            # The later assignments (longer notebooks) first: the pool's last job is a short one.
            running = [pool.submit(one, g) for g in sorted(grades, key=lambda g: g.assignment, reverse=True)]
            nb = None
            for done in as_completed(running):  # each feedback page as soon as its notebook is graded
                g = done.result()
                if g.nbgrader_ok:  # nbgrader's HTML of data the kernel wrote: nothing of it runs here
                    nb = nb or nbgrader_steps.api(course_root)
                    nbgrader_steps.feedback(course_root, g.assignment, [g.student], nb)
        for future in scores:
            future.result()
    finally:
        sandboxed.shutdown(cancel_futures=True)
        shutil.rmtree(scratch, ignore_errors=True)

    nbgrader_steps.export(course_root, out / "nbgrader_grades.csv")

    for g in grades:
        read_gradebook(course_root, g)
        stopped = timed_out_cells(course_root, g)
        if stopped:
            g.notes.append(
                f"nbgrader stopped {len(stopped)} cell(s) at their time limit ({', '.join(stopped)}): an infinite loop?"
            )
        for task in g.disagreements():
            nb_s, nb_m = g.nbgrader_tasks.get(task, (0.0, 0.0))
            sb_s, sb_m = g.result.task_scores.get(task, (0.0, 0.0)) if g.result else (0.0, 0.0)
            g.notes.append(
                f"DISAGREEMENT on task {task}: nbgrader gave {nb_s:g}/{nb_m:g}, "
                f"the sandboxed grader {sb_s:g}/{sb_m:g}. The sandboxed score counts; "
                "an instructor should look at this notebook."
            )

    results = merge_by_student(grades)
    write_reports(out, results, key)
    for g in grades:
        html = course_root / "feedback" / g.student / g.assignment / f"{g.assignment}.html"
        folder = student_folder(out, g.student)
        if html.is_file() and g.nbgrader_ran:
            (folder / "notebooks").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(html, folder / "notebooks" / html.name)
            link_nbgrader_feedback(folder / "notebooks" / html.name, folder / "feedback.html")
    atomic_write(out / "notebooks.csv", comparison_csv(grades))
    return results


def merge_by_student(grades: Sequence[NotebookGrade]) -> list[SubmissionResult]:
    """One result per student: the checks of all their notebooks (tasks never overlap)."""
    merged: dict[str, SubmissionResult] = {}
    for g in grades:
        r = g.result or SubmissionResult(student=g.student)
        into = merged.setdefault(g.student, SubmissionResult(student=g.student, sandbox=r.sandbox))
        into.checks += r.checks
        nb_s, nb_m = g.nbgrader_score
        header = f"Notebook {g.assignment}: nbgrader {nb_s:g}/{nb_m:g} automatic points"
        if g.manual_pending:
            header += f" (+{g.manual_pending:g} for the written answer, graded by hand)"
        into.notes.append(header + ".")
        into.notes += [f"{g.assignment}: {n}" for n in g.notes + r.notes]
        into.seconds = round(into.seconds + r.seconds + g.autograde_seconds, 3)
        into.fingerprint = into.fingerprint or r.fingerprint
    return [merged[s] for s in sorted(merged)]


def comparison_csv(grades: Sequence[NotebookGrade]) -> str:
    """A row per notebook: both scores, the flag, the autograde time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["student", "assignment", "nbgrader_score", "nbgrader_max", "sandbox_score", "sandbox_max",
         "disagree", "disagreeing_tasks", "nbgrader_ok", "autograde_seconds"]
    )  # fmt: skip
    for g in sorted(grades, key=lambda g: (g.student, g.assignment)):
        nb_s, nb_m = g.nbgrader_score
        sb_s, sb_m = (g.result.total, g.result.max_score) if g.result else (0.0, 0.0)
        tasks = g.disagreements()
        writer.writerow(
            [g.student, g.assignment, f"{nb_s:g}", f"{nb_m:g}", f"{sb_s:g}", f"{sb_m:g}",
             "yes" if tasks else "no", " ".join(tasks), "yes" if g.nbgrader_ok else "no", f"{g.autograde_seconds:.1f}"]
        )  # fmt: skip
    return buffer.getvalue()
