"""nbgrader's steps through its Python API, several in one process.

Each `nbgrader` command pays about a second of imports before it does anything;
a class run needs one release per assignment, one autograde per notebook, one
feedback page per notebook and one export. Run from a course root (where
`nbgrader_config.py` is):

    python -m grader.nbgrader_steps release ASSIGNMENT...          record each assignment's source cells
    python -m grader.nbgrader_steps prepare --assignments A... --students S... [--template DB]
                                                                  release, then a copy of the gradebook with no
                                                                  student (DB), then every student registered
    python -m grader.nbgrader_steps grade ASSIGNMENT STUDENT [--from SEED --results-fd FD]
                                                                  autograde one notebook (in the boundary: copy
                                                                  the course from SEED to the working folder
                                                                  first, send the results as a tar on FD)
    python -m grader.nbgrader_steps feedback ASSIGNMENT STUDENT... the feedback pages of autograded notebooks
    python -m grader.nbgrader_steps export CSV                     every grade, as `nbgrader export` writes them

`grade` is what runs inside the trust boundary (`grader/notebook_boundary.py`):
it executes the student's notebook. The other steps execute nothing a student
wrote, so the grader also calls them in its own process. Exit status 0 when
every step succeeded; nbgrader's log goes to stderr when a step fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

CONFIG_FILE = "nbgrader_config.py"


def api(course_root: Path) -> Any:
    """nbgrader's API on `course_root`, configured by its nbgrader_config.py as the commands are."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG_FILE, path=str(course_root)).load_config()
    config.CourseDirectory.root = str(course_root)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _report(step: str, result: dict[str, Any]) -> bool:
    if result.get("success"):
        return True
    for part in ("log", "error"):
        if result.get(part):
            print(f"--- {step}: {part}\n{result[part]}", file=sys.stderr)
    return False


def release(course_root: Path, assignments: list[str]) -> bool:
    """`nbgrader generate_assignment --force` for each assignment, in one process."""
    nb = api(course_root)
    return all([_report(f"generate_assignment {a}", nb.generate_assignment(a, force=True)) for a in assignments])


def prepare(course_root: Path, assignments: list[str], students: list[str], template: Path | None) -> bool:
    """What a class run needs before its autogrades, in one process: the release, the
    throwaway courses' gradebook (`template`: the course's, with no student in it) and
    every student registered (concurrent autogrades would race to insert them)."""
    import shutil

    from nbgrader.api import Gradebook

    if assignments and not release(course_root, assignments):
        return False
    db = course_root / "gradebook.db"
    if template is not None:
        shutil.copyfile(db, template)
        with Gradebook(f"sqlite:///{template}") as gb:
            for student in list(gb.students):
                gb.remove_student(student.id)
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in students:
            gb.update_or_create_student(student)
    return True


def grade(course_root: Path, assignment: str, student: str) -> bool:
    """`nbgrader autograde` for one notebook."""
    return _report("autograde", api(course_root).autograde(assignment, student, force=True, create=True))


def results(course_root: Path, assignment: str, student: str) -> list[str]:
    """What an autograde produced, relative to the course root: the autograded files and the gradebook."""
    graded = course_root / "autograded" / student / assignment
    files = sorted(p for p in graded.rglob("*") if p.is_file() and not p.is_symlink()) if graded.is_dir() else []
    return [str(p.relative_to(course_root)) for p in files] + ["gradebook.db"]


def grade_in_boundary(seed: Path, assignment: str, student: str, fd: int) -> bool:
    """Inside the boundary: the course is copied from the read-only `seed` into the working
    folder (a size-capped tmpfs: a notebook that writes without end fills only that), graded,
    and its results leave as a tar on `fd`, a pipe only this process holds (the kernel is
    started with close_fds): nothing the kernel does can write on the grader's disk."""
    import shutil
    import tarfile

    root = Path.cwd()
    shutil.copytree(seed, root, dirs_exist_ok=True)
    ok = grade(root, assignment, student)
    with os.fdopen(fd, "wb") as pipe, tarfile.open(fileobj=pipe, mode="w|") as tar:
        for name in results(root, assignment, student):
            if (root / name).is_file():
                tar.add(root / name, arcname=name, recursive=False)
    return ok


def feedback(course_root: Path, assignment: str, students: list[str], nb: Any = None) -> bool:
    """`nbgrader generate_feedback` for autograded notebooks (hidden tests removed by the
    course's config). `nb`: an `api(course_root)` to reuse (the HTML templates compile once)."""
    nb = nb or api(course_root)
    return all([_report(f"generate_feedback {assignment} {s}", nb.generate_feedback(assignment, s, force=True))
                for s in students])  # fmt: skip


def export(course_root: Path, csv_path: Path) -> bool:
    """`nbgrader export --to=CSV`: nbgrader's own CSV of every grade in gradebook.db."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    nb = api(course_root)
    plugin = CsvExportPlugin(parent=nb)
    plugin.to = str(csv_path)
    with Gradebook(nb.coursedir.db_url, course_id=nb.coursedir.course_id) as gb:
        plugin.export(gb)
    return True


def main(argv: list[str]) -> int:
    root = Path.cwd()
    step, args = argv[0], argv[1:]
    if step == "prepare":
        import argparse

        parser = argparse.ArgumentParser(prog="python -m grader.nbgrader_steps prepare")
        parser.add_argument("--assignments", nargs="*", default=[])
        parser.add_argument("--students", nargs="*", default=[])
        parser.add_argument("--template", type=Path)
        opts = parser.parse_args(args)
        ok = prepare(root, opts.assignments, opts.students, opts.template)
    elif step == "release":
        ok = release(root, args)
    elif step == "grade" and "--from" in args:
        ok = grade_in_boundary(Path(args[args.index("--from") + 1]), args[0], args[1],
                               int(args[args.index("--results-fd") + 1]))  # fmt: skip
    elif step == "grade":
        ok = grade(root, args[0], args[1])
    elif step == "feedback":
        ok = feedback(root, args[0], args[1:])
    elif step == "export":
        ok = export(root, Path(args[0]))
    else:
        print(f"unknown step {step!r}: prepare, release, grade, feedback or export", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
