"""The instructor CLI under stress: help for every option, odd class folders, and a real
`python -m grader grade` stopped by SIGTERM or Ctrl-C (exit 143/130, no orphans,
grades.csv for what finished, a resume line that works)."""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.__main__ import build_parser
from grader.samples import build_sample_class

KIT = Path(__file__).resolve().parents[2]
STUDENTS = ["ada", "dev", "gia", "jade"]  # jade (an endless loop) comes last and takes longest


def grader(*args: str, timeout: float = 600) -> tuple[int, str]:
    """(exit code, output with rich's line wrapping undone)."""
    proc = subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=KIT, capture_output=True, text=True, timeout=timeout
    )
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_every_option_has_help_text() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) >= {"grade", "check", "gradescope", "gradescope-bundle", "sample-class"}
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest} has no help"


def test_missing_class_folder_exits_non_zero(tmp_path: Path) -> None:
    code, text = grader("grade", str(tmp_path / "nope"), "--out", str(tmp_path / "out"), "--secret", "s")
    assert code == 2
    assert "does not exist" in text
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_empty_class_folder_exits_non_zero_and_names_what_was_skipped(tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "notes.txt").write_text("not a submission")
    code, text = grader("grade", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--secret", "s")
    assert code == 2
    assert "holds no submissions" in text and "notes.txt" in text
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_out_inside_the_class_is_refused(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    shutil.copytree(KIT / "reference", klass / "ada", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    code, text = grader("grade", str(klass), "--out", str(klass / "reports"), "--secret", "s")
    assert code == 2
    assert "inside the class folder" in text
    assert not (klass / "reports").exists()


def small_class(base: Path) -> Path:
    klass = build_sample_class(base / "class")
    for entry in klass.iterdir():
        if entry.name.removesuffix(".zip") not in STUDENTS:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return klass


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state and command line) of every live process we can see (zombies are dead)."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            state, ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            found[int(d.name)] = (int(ppid), f"[{state}] {cmd}")
    return found


def _descendants(root: int) -> set[int]:
    procs, found, frontier = _processes(), set(), {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in procs.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int], marker: str) -> set[str]:
    """Which of `pids` still run, and any process whose command line names this test's folders."""
    procs = _processes()
    return {f"{p}: {procs[p][1]}" for p in pids if p in procs} | {
        f"{p}: {cmd}" for p, (_, cmd) in procs.items() if marker in cmd and p != os.getpid()
    }


def _wait_for_first_report(out: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        if any(out.glob("students/*/results.json")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    pytest.fail("no student was graded within 400 s")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "extra"),
    [(signal.SIGTERM, 143, []), (signal.SIGINT, 130, ["--no-bwrap"])],
    ids=["SIGTERM", "Ctrl-C (fallback sandbox)"],
)
def test_a_signal_stops_cleanly_and_the_run_resumes(tmp_path: Path, signum: int, code: int, extra: list[str]) -> None:
    klass, out = small_class(tmp_path), tmp_path / "out"
    cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "1", "--secret", "s"]
    # A session of its own, as a terminal's foreground job: Ctrl-C signals the whole group.
    proc = subprocess.Popen(
        [*cmd, *extra], cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        _wait_for_first_report(out, proc)
        family = _descendants(proc.pid)
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code, stdout
    assert "Traceback" not in stdout
    assert "run the same command again" in " ".join(stdout.split())
    time.sleep(1)
    assert not _alive(family, str(tmp_path)), "processes outlived the grader"

    finished = sorted(p.parent.name for p in out.glob("students/*/results.json"))
    with open(out / "grades.csv", newline="") as f:
        rows = [r["student"] for r in csv.DictReader(f)]
    assert rows == finished and 1 <= len(finished) < len(STUDENTS)

    if signum == signal.SIGTERM:  # the resume: the finished are reused, the rest graded
        again = subprocess.run([*cmd, *extra], cwd=KIT, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        summary = " ".join(again.stdout.split())
        assert f"{len(STUDENTS) - len(finished)} graded, {len(finished)} reused" in summary
        with open(out / "grades.csv", newline="") as f:
            assert [r["student"] for r in csv.DictReader(f)] == STUDENTS


def test_check_accepts_what_the_grader_accepts(tmp_path: Path) -> None:
    """`grader check` finds the code as grading does: here loose files in a zip, on one task."""
    import zipfile

    reference = KIT / "reference" / "micrograd"
    upload = tmp_path / "hand-in.zip"
    with zipfile.ZipFile(upload, "w") as z:
        for name in ("engine.py", "nn.py", "train.py"):
            z.write(reference / name, name)
    code, text = grader("check", str(upload), "--task", "1.1", "--no-bwrap")
    assert code == 0, text
    assert "loose files" in text and "public checks pass" in text


def test_check_on_nothing_gradable_says_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("my notes")
    code, text = grader("check", str(tmp_path), "--no-bwrap")
    assert code == 2
    assert "Nothing to check" in text and "notes.txt" in text
