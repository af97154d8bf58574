"""Trust nothing a submission says: isolation, limits and broken input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader.grading import grade_package
from grader.intake import SubmissionError, discover, find_package, safe_unzip
from grader.rubric import build
from grader.samples import REFERENCE, SKELETON, build_sample_class, package_with
from grader.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
MAX = sum(c.points for c in build(0))
HAVE_BWRAP = Sandbox().mode == "bwrap"
MODES = [pytest.param(None, id="bwrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bwrap unusable here")),
         pytest.param(False, id="subprocess")]  # fmt: skip

if os.environ.get("CI") and not HAVE_BWRAP:  # CI installs bubblewrap: its real path must be tested
    raise RuntimeError("CI is set but bubblewrap is missing or unusable: " + Sandbox().warning)


@pytest.mark.parametrize("use_bwrap", MODES)
def test_forged_results_on_stdout_earn_nothing(tmp_path: Path, use_bwrap: bool | None) -> None:
    # The skeleton computes nothing, but prints the right answer of the first
    # public check, in the runner's own protocol, before any probe runs.
    forged = {"id": "1.1/public/0", "result": {"data": [2.0, -3.0, -1.0], "children": [[], [], [0, 1]]}}
    prefix = f"print({json.dumps(json.dumps({'ready': True}))}); print({json.dumps(json.dumps(forged))})"
    root = package_with(tmp_path, "forger", prefix, source=SKELETON)
    result = grade_package(root, "forger", tasks=["1.1"], sandbox=Sandbox(use_bwrap=use_bwrap))
    assert result.total == 0
    assert '"ready": true' in "\n".join(result.notes)  # shown back to the student as their own output


@pytest.mark.parametrize("use_bwrap", MODES)
def test_reference_hidden_probes_and_processes_are_out_of_reach(tmp_path: Path, use_bwrap: bool | None) -> None:
    probe = f"""
import os
for path in {str(REFERENCE / "engine.py")!r}, {str(ROOT)!r}, "/root", {str(tmp_path)!r}:
    try:
        open(path).read() if path.endswith(".py") else os.listdir(path)
        print("LEAK", path)
    except Exception as exc:
        print("blocked", type(exc).__name__)
for attempt in (lambda: os.system("true"), lambda: os.fork(), lambda: open("/tmp/x", "w")):
    try:
        attempt()
        print("LEAK process or write")
    except Exception as exc:
        print("blocked", type(exc).__name__)
"""
    root = package_with(tmp_path, "snoop", probe)
    result = grade_package(root, "snoop", tasks=["1.1"], sandbox=Sandbox(use_bwrap=use_bwrap))
    output = "\n".join(result.notes)
    assert "LEAK" not in output and output.count("blocked") >= 7, output
    assert result.total == result.max_score  # the code itself is correct and still earns its points


@pytest.mark.parametrize("use_bwrap", MODES)
def test_memory_hog_gets_a_clear_zero_for_what_it_breaks(tmp_path: Path, use_bwrap: bool | None) -> None:
    root = package_with(tmp_path, "hog", "_hog = bytearray(8 * 1024**3)")
    result = grade_package(root, "hog", tasks=["1.1", "4.1"], sandbox=Sandbox(use_bwrap=use_bwrap))
    scores = result.task_scores
    assert scores["1.1"][0] == 0 and any("MemoryError" in c.output for c in result.checks if c.task == "1.1")
    assert scores["4.1"][0] == scores["4.1"][1]  # nn.py is graded on the reference engine: charged once


def test_endless_loop_at_import_costs_only_time_bounded(tmp_path: Path) -> None:
    root = package_with(tmp_path, "spin", "while True:\n    pass")
    start = time.monotonic()
    result = grade_package(root, "spin", tasks=["1.1"])
    assert result.total == 0 and "did not finish" in result.checks[0].output
    assert time.monotonic() - start < 60


def test_links_and_devices_in_a_folder_are_not_followed(tmp_path: Path) -> None:
    root = package_with(tmp_path, "linker")
    (root / "micrograd" / "train.py").unlink()
    (root / "micrograd" / "train.py").symlink_to("/dev/zero")
    (root / "micrograd" / "extra.py").symlink_to("/dev/zero")
    result = grade_package(root, "linker", tasks=["1.1", "5.2"])
    assert "micrograd/train.py is missing (a link is not accepted)" in result.notes
    assert result.task_scores["1.1"][0] == result.task_scores["1.1"][1] and result.task_scores["5.2"][0] == 0


def test_a_link_to_another_package_is_not_graded(tmp_path: Path) -> None:
    student = tmp_path / "sly"
    student.mkdir()
    (student / "kit").symlink_to(ROOT)  # kit/reference/micrograd/engine.py is the reference
    assert find_package(student) is None


def test_unsafe_zips_are_refused(tmp_path: Path) -> None:
    def make(name: str, members: dict[str, bytes], link: str | None = None) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
            if link:
                info = zipfile.ZipInfo(link)
                info.external_attr = 0o120777 << 16
                zf.writestr(info, "/etc/passwd")
        return path

    cases = {
        make("escape.zip", {"../../evil.py": b"x"}): "outside the folder",
        make("absolute.zip", {"/tmp/evil.py": b"x"}): "outside the folder",
        make("link.zip", {}, link="micrograd/engine.py"): "symbolic link",
        make("bomb.zip", {"big.bin": b"0" * 30_000_000}): "more than",
    }
    (tmp_path / "notzip.zip").write_text("not a zip")
    cases[tmp_path / "notzip.zip"] = "not a valid zip"
    for archive, words in cases.items():
        with pytest.raises(SubmissionError, match=words):
            safe_unzip(archive, tmp_path / ("out-" + archive.stem))
    assert not (tmp_path.parent / "evil.py").exists()


def test_discover_names_entries_and_warns_about_the_rest(tmp_path: Path) -> None:
    (tmp_path / "amy").mkdir()
    (tmp_path / "bo b.zip").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "cy").symlink_to(ROOT / "reference")
    entries, warnings = discover(tmp_path)
    assert [e.student for e in entries] == ["amy", "bo_b"]
    assert any("notes.txt" in w for w in warnings) and any("cy: a link" in w for w in warnings)
    assert discover(tmp_path / "amy")[1] == [
        f"{tmp_path / 'amy'} holds no submissions (expected one folder or .zip per student)"
    ]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200"})  # fmt: skip


def test_check_cli_on_the_skeleton_and_on_the_reference() -> None:
    skeleton = run_cli("check", "student", "--task", "1.1")
    assert skeleton.returncode == 1
    assert "not implemented yet: Task 1.1" in skeleton.stdout
    reference = run_cli("check", "reference")
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert "public checks pass" in reference.stdout and "Hidden checks" in reference.stdout


def test_kill_9_then_rerun_grades_what_is_missing(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    klass.mkdir()
    for i in range(6):
        shutil.copytree(REFERENCE, klass / f"s{i}" / "micrograd")
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "2", "--secret", "x"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("students/*/results.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("students/*/results.json")}
    assert 2 <= len(done_before) < 6
    for report in out.glob("students/*/results.json"):  # a killed write leaves at most a temp file, never a torn report
        assert json.loads(report.read_text())["extra_data"]["signature"]
    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    rows = (out / "grades.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == [f"s{i}" for i in range(6)]
    assert all(r.endswith(f",{MAX:g},{MAX:g}") for r in rows)
    for student, mtime in done_before.items():  # finished students were not graded again
        assert (out / "students" / student / "results.json").stat().st_mtime_ns == mtime


def test_sample_class_builds_from_the_reference(tmp_path: Path) -> None:
    klass = build_sample_class(tmp_path / "c")
    assert (klass / "omar.zip").is_file() and not any((klass / "nora").iterdir())


def test_a_forged_report_is_regraded_not_trusted(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    shutil.copytree(SKELETON, klass / "zed" / "micrograd")
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "1"]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    report = out / "students" / "zed" / "results.json"
    data = json.loads(report.read_text())
    data["score"] = 88
    data["extra_data"]["result"]["checks"] = [{**c, "score": c["max_score"], "status": "passed"}
                                              for c in data["extra_data"]["result"]["checks"]]  # fmt: skip
    report.write_text(json.dumps(data))  # same fingerprint, forged scores, stale signature
    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    row = (out / "grades.csv").read_text().splitlines()[1]
    assert row.startswith("zed,") and row.endswith(f",0,{MAX:g}"), row


def test_colliding_ids_are_refused_with_both_names(tmp_path: Path) -> None:
    (tmp_path / "control").mkdir()
    (tmp_path / "_control").mkdir()
    (tmp_path / "grades.csv").mkdir()  # a student folder named like a class-level report
    entries, warnings = discover(tmp_path)
    control = [e for e in entries if e.student == "control"]
    assert len(control) == 1 and "`_control` and `control`" in control[0].problem
    assert any("`_control` and `control`" in w for w in warnings)
    assert [e.student for e in entries if not e.problem] == ["grades.csv"]


@pytest.mark.parametrize("kind", ["encrypted", "bad crc", "file and folder", "text named zip"])
def test_every_broken_upload_gets_a_row_and_one_message(tmp_path: Path, kind: str) -> None:
    from grader.classroom import grade_class

    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copytree(REFERENCE, klass / "good" / "micrograd")
    bad = klass / "bad.zip"
    if kind == "text named zip":
        bad.write_text("my homework")
    else:
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("micrograd/engine.py", "x = 1\n" * 100)
            if kind == "file and folder":
                zf.writestr("micrograd/engine.py/x.py", "y = 2\n")
        raw = bytearray(bad.read_bytes())
        if kind == "bad crc":
            at = raw.find(b"x = 1")
            raw[at] = ord("z")
        if kind == "encrypted":
            raw[6] |= 1  # the local header's "encrypted" flag
            central = raw.find(b"PK\x01\x02")
            raw[central + 8] |= 1
        bad.write_bytes(bytes(raw))
    results, _ = grade_class(klass, tmp_path / "out", jobs=1, secret="s", progress=False)
    rows = {r.student: r for r in results}
    assert rows["good"].total == rows["good"].max_score
    assert rows["bad"].total == 0 and len(rows["bad"].notes) == 1, rows["bad"].notes
    assert "bad.zip" in rows["bad"].notes[0]
    feedback = (tmp_path / "out" / "students" / "bad" / "feedback.md").read_text()
    assert feedback.count("not graded") <= 2  # one block for all checks, not one per check


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def test_a_worker_killed_mid_student_is_replaced_and_nobody_loses_a_row(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    for i in range(4):
        shutil.copytree(REFERENCE, klass / f"s{i}" / "micrograd")
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--jobs", "2", "--secret", "x"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    killed = False
    while time.monotonic() < deadline and not killed:
        # A pool worker (forked: the same command line) that has started a sandboxed child
        # is in the middle of a student.
        main = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        for worker in _children(proc.pid):
            try:
                if Path(f"/proc/{worker}/cmdline").read_bytes() == main and _children(worker):
                    os.kill(worker, signal.SIGKILL)  # as the OOM killer would
                    killed = True
                    break
            except (OSError, ProcessLookupError):
                continue
        time.sleep(0.05)
    assert killed, "no worker was seen grading"
    output, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, output
    rows = (out / "grades.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == [f"s{i}" for i in range(4)], output
    assert all(r.endswith(f",{MAX:g},{MAX:g}") for r in rows), rows
