"""Write grades: REPORTS/grades.csv, and per student results.json and feedback.md.

results.json follows Gradescope's autograder schema (one test per check), so
the same file can be uploaded or read by course scripts. Every file is written
to a temporary name and renamed into place, so an interrupted run never leaves
a half-written report; results.json is written last and marks a student done.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from grader.rubric import TOLERANCE
from grader.tasks import TASKS
from grader.types import SubmissionResult

RESULTS = "results.json"
FEEDBACK = "feedback.md"
STUDENTS = "students"  # REPORTS/students/<id>/: no student id can collide with a class-level file


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write `path` whole or not at all (a temp file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fmt_points(x: float) -> str:
    return f"{x:g}"


def gradescope_json(result: SubmissionResult) -> dict[str, object]:
    tests = [
        {
            "name": c.name,
            "number": c.id,
            "score": c.score,
            "max_score": c.max_score,
            "status": c.status,
            "output": c.output,
            "visibility": c.visibility,
            "tags": [f"task {c.task}"],
        }
        for c in result.checks
    ]
    hidden = [c for c in result.checks if c.visibility != "visible"]
    output = "\n\n".join(result.notes)
    return {
        "score": result.total,
        "execution_time": result.seconds,
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student": result.student,
            "max_score": result.max_score,
            "task_scores": {t: list(v) for t, v in result.task_scores.items()},
            "hidden_checks": len(hidden),
            "sandbox": result.sandbox,
            "fingerprint": result.fingerprint,
            "result": result.to_dict(),
        },
    }


def feedback_markdown(result: SubmissionResult) -> str:
    """The student's feedback: a per-task table, then every failing check."""
    lines = [f"# Feedback for {result.student}", ""]
    lines.append(f"**Score: {fmt_points(result.total)} / {fmt_points(result.max_score)}**")
    lines.append("")
    lines += ["| Task | | Score |", "|---|---|---|"]
    for task, (score, top) in result.task_scores.items():
        mark = "✅" if score == top else ("❌" if score == 0 else "⚠️")
        lines.append(f"| {task} | {TASKS[task]} | {mark} {fmt_points(score)} / {fmt_points(top)} |")
    lines.append("")
    failing = [c for c in result.checks if c.status == "failed"]
    hidden_failing = [c for c in failing if c.visibility != "visible"]
    if not failing:
        lines.append("Every check passed, the hidden ones included.")
    else:
        lines.append(f"## {len(failing)} failing check{'s' if len(failing) > 1 else ''}")
        lines.append("")
        by_output: dict[str, list[str]] = {}
        for c in failing:
            by_output.setdefault(c.output, []).append(c.name)
        for output, names in by_output.items():
            # One block for checks that failed for one reason (a missing file, an import error).
            lines.append(f"### {names[0]}" if len(names) == 1 else f"### {len(names)} checks: {names[0]}, ...")
            lines.append("")
            if len(names) > 1:
                lines += [f"- {n}" for n in names] + [""]
            lines.append("```")
            lines.append(output)
            lines.append("```")
            lines.append("")
        if hidden_failing and len(hidden_failing) == len(failing):
            lines.append(
                "All public checks passed, but hidden checks did not: they run the same operations on other "
                "inputs. Test your code on more inputs than the public examples."
            )
            lines.append("")
    if result.notes:
        lines.append("## Notes")
        lines.append("")
        for note in result.notes:
            lines.append("```" if "\n" in note else "")
            lines.append(note)
            lines.append("```" if "\n" in note else "")
        lines.append("")
    lines.append(f"Numbers are compared with PyTorch (float64) and the reference within {TOLERANCE}.")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def signature(result: dict[str, object], key: bytes) -> str:
    """HMAC of a stored result under the instructor's secret: a re-run trusts only what it signed."""
    return hmac.new(key, json.dumps(result, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def student_folder(out: Path, student: str) -> Path:
    return out / STUDENTS / student


def write_student(out: Path, result: SubmissionResult, key: bytes | None = None) -> None:
    """feedback.md, feedback.html, then results.json (written last: it marks the student done)."""
    from grader.html_report import write_feedback_html  # it builds on this module

    folder = student_folder(out, result.student)
    atomic_write(folder / FEEDBACK, feedback_markdown(result))
    write_feedback_html(folder, result)
    data = gradescope_json(result)
    if key is not None:
        data["extra_data"]["signature"] = signature(data["extra_data"]["result"], key)  # type: ignore[index]
    atomic_write(folder / RESULTS, json.dumps(data, indent=2) + "\n")


def load_student(folder: Path, key: bytes | None = None) -> SubmissionResult | None:
    """A stored result, or None if it is missing, unreadable, or (with `key`) not signed by us."""
    try:
        data = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
        stored = data["extra_data"]["result"]
        if key is not None and not hmac.compare_digest(str(data["extra_data"].get("signature", "")),
                                                       signature(stored, key)):  # fmt: skip
            return None
        return SubmissionResult.from_dict(stored)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def grades_csv(results: Iterable[SubmissionResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *TASKS, "total", "max"])
    for r in sorted(results, key=lambda r: r.student):
        scores = r.task_scores
        writer.writerow([r.student, *(fmt_points(scores.get(t, (0.0, 0.0))[0]) for t in TASKS),
                         fmt_points(r.total), fmt_points(r.max_score)])  # fmt: skip
    return buffer.getvalue()


def write_reports(out: Path, results: list[SubmissionResult], key: bytes | None = None) -> None:
    """Each student's files, then grades.csv over every student graded into `out`."""
    for r in results:
        write_student(out, r, key)
    write_class_csv(out, key)


def write_class_csv(
    out: Path, key: bytes | None = None, students: Iterable[str] | None = None
) -> list[SubmissionResult]:
    """grades.csv from the stored results under `out` (so resumed runs lose nothing);
    only `students` when given (the class's current entries)."""
    root = out / STUDENTS
    if students is None:
        students = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    names = sorted(students)
    results = [r for name in names if (r := load_student(root / name, key))]
    atomic_write(out / "grades.csv", grades_csv(results))
    from grader.html_report import write_class_reports  # it builds on this module

    write_class_reports(out, results)
    return results
