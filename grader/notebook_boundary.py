"""nbgrader's autograde inside the trust boundary.

`nbgrader autograde` executes a student's notebook in a Jupyter kernel. Run as
it is, that kernel has the instructor's rights: it could read the secret,
rewrite gradebook.db or other students' reports. Here each autograde runs

- on a throwaway copy of the course holding only what nbgrader needs for this
  one notebook: the config, the assignment's source, this student's submission
  and a gradebook with no other student in it. The copy is read-only inside;
  nbgrader works on a copy of it in a size-capped tmpfs, and the results leave
  as a tar on a pipe the kernel does not hold: a notebook that writes without
  end fills only its own tmpfs, never the grader's disk;
- inside bubblewrap: no network (the kernel talks to nbgrader over the
  sandbox's own loopback), the runtime, the virtualenv and the kit's `grader`
  and `reference` packages read-only, the course copy the only writable folder;
  the real course, the reports, the secret and the class do not exist inside.

The grader's process then merges the result back: the autograded notebook is
copied into the real course and the cell scores are written into the real
gradebook through nbgrader's API. Without bubblewrap nbgrader is not run at
all (see `available`): the notebook's final score comes from the sandboxed
grader either way, so nothing is lost but nbgrader's comparison column.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from grader.sandbox import Sandbox, site_dirs

KIT = Path(__file__).resolve().parent.parent
TEMPLATE_DB = "template-gradebook.db"
_MERGE = threading.Lock()
KERNEL_TMP_BYTES = 64 << 20
COURSE_BYTES = 128 << 20  # the working copy of the course, the autograded notebook included
RESULTS_BYTES = 64 << 20  # the results tar read back
# The public checks in nbgrader's kernel get the sandbox's time limits, not a laptop's slack.
KERNEL_ENV = {"MICROGRAD_CHECK_SLACK": "1"}


def available(sandbox: Sandbox) -> bool:
    """Can notebooks be autograded inside the boundary here?"""
    return sandbox.mode == "bwrap"


def _command(sandbox: Sandbox, course: Path, args: list[str]) -> list[str]:
    venv = Path(sys.prefix).resolve()
    cmd = sandbox.bwrap_base(KERNEL_TMP_BYTES)  # Jupyter's runtime files live in /tmp
    if not str(venv).startswith("/usr/"):
        cmd += ["--ro-bind", str(venv), str(venv)]
    for d in site_dirs():  # what the kernel needs comes from the virtualenv
        if not Path(d).resolve().is_relative_to(venv):
            cmd += ["--tmpfs", d]
    for package in ("grader", "reference"):
        cmd += ["--ro-bind", str(KIT / package), f"/kit/{package}"]
    cmd += ["--ro-bind", str(course), "/seed", "--size", str(COURSE_BYTES), "--tmpfs", "/course", "--chdir", "/course"]
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": "/kit:/kit/reference",
           "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "LC_ALL": "C.UTF-8", **KERNEL_ENV}  # fmt: skip
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return [*cmd, f"{venv}/bin/python", "-m", "grader.nbgrader_steps", *args]


def autograde(course_root: Path, assignment: str, student: str, sandbox: Sandbox, template: Path,
              timeout: float) -> tuple[float, bool, str]:  # fmt: skip
    """`nbgrader autograde` of one notebook in the boundary, merged back: (seconds, succeeded, log tail)."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grader-nbgrader-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        shutil.copyfile(course_root / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(course_root / "source" / assignment, course / "source" / assignment)
        shutil.copytree(course_root / "submitted" / student / assignment, course / "submitted" / student / assignment,
                        symlinks=False, ignore_dangling_symlinks=True)  # fmt: skip
        shutil.copyfile(template, course / "gradebook.db")
        read, write = os.pipe()
        args = ["grade", assignment, student, "--from", "/seed", "--results-fd", str(write)]
        received: list[bytes] = []
        reader = threading.Thread(target=_read_capped, args=(read, received), daemon=True)
        reader.start()
        try:
            proc = subprocess.Popen(_command(sandbox, course, args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, env={}, pass_fds=(write,), start_new_session=True)  # fmt: skip
        finally:
            os.close(write)
        try:
            _, log = proc.communicate(timeout=timeout)
            ok = proc.returncode == 0
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            ok, log = False, f"nbgrader autograde took longer than {timeout:g} s and was stopped"
        reader.join(timeout=60)
        data = b"".join(received)
        if len(data) > RESULTS_BYTES:
            ok, log = False, f"the autograded results exceed {RESULTS_BYTES >> 20} MB\n" + log
        elif data:
            _unpack(data, course, assignment, student)
        graded = course / "autograded" / student / assignment
        ok = ok and (graded / f"{assignment}.ipynb").is_file()
        if ok:
            with _MERGE:  # one writer of the real gradebook at a time
                merge_back(course, course_root, assignment, student)
    return round(time.monotonic() - start, 2), ok, log[-2000:]


def _read_capped(fd: int, into: list[bytes]) -> None:
    """Read the results pipe to its end, keeping at most RESULTS_BYTES (+1 to know it was more)."""
    kept = 0
    with os.fdopen(fd, "rb") as pipe:
        while chunk := pipe.read(1 << 16):
            if kept <= RESULTS_BYTES:
                into.append(chunk)
                kept += len(chunk)


def _unpack(data: bytes, course: Path, assignment: str, student: str) -> None:
    """The results tar into the throwaway course: regular files under autograded/STUDENT/ASSIGNMENT/
    and gradebook.db, nothing else (no links, no `..`)."""
    prefix = f"autograded/{student}/{assignment}/"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            name = member.name
            parts = Path(name).parts
            if not member.isfile() or name.startswith("/") or ".." in parts:
                continue
            if name != "gradebook.db" and not name.startswith(prefix):
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            target = course / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())


def merge_back(course: Path, course_root: Path, assignment: str, student: str) -> None:
    """The throwaway course's result into the real one: the autograded files, then the scores."""
    from nbgrader.api import Gradebook

    target = course_root / "autograded" / student / assignment
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(course / "autograded" / student / assignment, target, symlinks=False,
                    ignore_dangling_symlinks=True)  # fmt: skip
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as scratch, \
            Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as real:  # fmt: skip
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from inside nbgrader's API
        done = scratch.find_submission(assignment, student)
        if not any(s.id == student for s in real.students):
            real.add_student(student)
        real.update_or_create_submission(assignment, student, timestamp=done.timestamp)
        for notebook in done.notebooks:
            for grade in notebook.grades:
                mine = real.find_grade(grade.name, notebook.name, assignment, student)
                _copy(grade, mine, ("auto_score", "manual_score", "extra_credit", "needs_manual_grade"))
            for comment in notebook.comments:
                mine = real.find_comment(comment.name, notebook.name, assignment, student)
                _copy(comment, mine, ("auto_comment", "manual_comment"))
        real.db.commit()


def _copy(src: Any, dst: Any, fields: tuple[str, ...]) -> None:
    for name in fields:
        setattr(dst, name, getattr(src, name))
