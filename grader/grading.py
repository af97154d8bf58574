"""Grade one submission: run each group of probes in the sandbox, judge here.

A submission is a folder holding a `micrograd/` package. Problems found
before running anything (a missing file, a file that is not UTF-8) cost only
the groups that need that file, with a message naming the cause.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader import rubric
from grader.intake import MAX_FILE_BYTES, precheck
from grader.judge import judge
from grader.oracle import expected
from grader.sandbox import Sandbox
from grader.types import CheckResult, Outcome, SubmissionResult, Verdict

TIMEOUT_AFTER_TIMEOUT = 1.5  # seconds per probe once a submission has looped
SECTION_NEEDS = {"3": ("1", "2"), "4": ("1", "2", "3"), "5": ("1", "2", "3", "4")}


def student_seed(secret: bytes, student: str) -> int:
    """Hidden probes per student: from the instructor's secret, so a student who
    reads this code still cannot compute their own hidden inputs."""
    return int.from_bytes(hmac.new(secret, student.encode(), hashlib.sha256).digest()[:8], "big")


def fingerprint(package_root: Path | None, seed: int) -> str:
    """Changes when the submission's files, the rubric or the student's seed change."""
    h = hashlib.sha256(f"{seed}".encode())
    for path in [Path(rubric.__file__), Path(__file__).with_name("judge.py")]:
        h.update(path.read_bytes())
    if package_root:
        for path in sorted((package_root / "micrograd").rglob("*.py")):
            # Never follow a link or read a huge file in the grader's own process.
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                h.update(str(path.relative_to(package_root)).encode() + b"\0skipped")
                continue
            h.update(str(path.relative_to(package_root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def grade_package(
    package_root: Path | None,
    student: str,
    *,
    tasks: Sequence[str] | None = None,
    seed: int = 0,
    hidden: bool = True,
    sandbox: Sandbox | None = None,
) -> SubmissionResult:
    """Grade the `micrograd/` package in `package_root` (None: nothing found)."""
    start = time.monotonic()
    checks = rubric.build(seed, hidden=hidden, tasks=set(tasks) if tasks else None)
    result = SubmissionResult(student=student)
    if package_root is None:
        outcomes = {
            c.id: Outcome("import_error", message="no micrograd/ package with an engine.py was found") for c in checks
        }
        result.notes.append("No micrograd/ package was found in this submission (expected micrograd/engine.py).")
    else:
        sandbox = sandbox or Sandbox()
        result.sandbox = sandbox.mode
        outcomes = _run_groups(package_root, checks, sandbox, result)
    for check in checks:
        outcome = outcomes[check.id]
        want = None
        try:
            want = expected(check.probe) if outcome.status == "ok" else None
            verdict = judge(check, outcome, want)
        except Exception as exc:  # a bug of the kit's: say so, never blame the student
            verdict = Verdict(False, f"internal grader error ({type(exc).__name__}: {exc}); tell your instructor", 0.0)
            result.notes.append(f"Internal grader error in {check.id}: {type(exc).__name__}: {exc}")
        result.checks.append(
            CheckResult(
                id=check.id,
                task=check.task,
                name=f"Task {check.task}: {check.title}" + (" [hidden]" if check.hidden else ""),
                score=verdict.score,
                max_score=check.points,
                status="passed" if verdict.passed else "failed",
                output=verdict.output,
                visibility="after_due_date" if check.hidden else "visible",
                diagnosis=verdict.diagnosis,
                evidence=None if check.hidden else _evidence(check, outcome, want),
            )
        )
    _cross_task_hints(result)
    result.fingerprint = fingerprint(package_root, seed)
    result.seconds = round(time.monotonic() - start, 3)
    return result


def _evidence(check: rubric.Check, outcome: Outcome, want: dict[str, Any] | None) -> dict[str, Any] | None:
    """Plain numbers for the pictures of a public check: the probe, what came back, what was expected."""
    if outcome.status != "ok" or want is None:
        return None
    expected_numbers = {k: v for k, v in want.items() if k != "torch"}
    return {"probe": check.probe, "result": outcome.result, "expected": expected_numbers}


def _run_groups(
    package_root: Path, checks: list[rubric.Check], sandbox: Sandbox, result: SubmissionResult
) -> dict[str, Outcome]:
    problems = precheck(package_root)
    for problem in dict.fromkeys(problems.values()):
        result.notes.append(problem)
    outcomes: dict[str, Outcome] = {}
    cap = float("inf")  # once a probe has timed out, later groups get short timeouts
    for group, spec in rubric.GROUPS.items():
        # Until the sandbox can mount reference modules, a group imports the student's
        # own modules in their place.
        modules, budget = [m for m in ("engine", "nn", "train") if m in spec.student + spec.reference], spec.budget
        members = sorted((c for c in checks if c.group == group), key=lambda c: c.walks_graph)
        if not members:
            continue
        blocking = [problems[m] for m in modules if m in problems]
        if blocking:
            for c in members:
                outcomes[c.id] = Outcome("import_error", message=f"{blocking[0]}; these checks need it")
            continue
        probes = [(c.id, c.probe, min(c.timeout, cap)) for c in members]
        looped = cap < float("inf")
        run = sandbox.run_group(package_root, modules, probes, budget, max_restarts=0 if looped else None)
        outcomes.update(run.outcomes)
        if any(o.status == "timeout" for o in run.outcomes.values()):
            cap = TIMEOUT_AFTER_TIMEOUT
        if run.stderr.strip():
            result.notes.append(f"Output of your code while grading `{group}` (first lines):\n{_head(run.stderr)}")
        result.notes.extend(run.notes)
        first = next(iter(run.outcomes.values()), None)
        if first and first.status == "import_error" and first.error:
            err = first.error
            where = err.get("where") or {}
            place = f" ({where.get('file')}:{where.get('line')})" if isinstance(where, dict) and where else ""
            result.notes.append(
                f"Importing {', '.join(modules)} failed: {err.get('type')}: {err.get('message')}{place}"
            )
    return outcomes


def _head(text: str, lines: int = 12) -> str:
    kept = text.strip().splitlines()[:lines]
    return "\n".join(line[:300] for line in kept)


def _cross_task_hints(result: SubmissionResult) -> None:
    """A later section's failure often comes from an earlier one: say so once."""
    failing = {c.task.split(".")[0] for c in result.checks if c.status == "failed"}
    for section, needs in SECTION_NEEDS.items():
        earlier = sorted(s for s in needs if s in failing)
        if section in failing and earlier:
            many = len(earlier) > 1
            result.notes.append(
                f"Section {section} builds on section{'s' if many else ''} {', '.join(earlier)}, which also "
                f"{'have' if many else 'has'} failing checks: fix the earlier ones first."
            )
