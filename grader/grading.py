"""Grade one submission: run each group of probes in the sandbox, judge here.

The pipeline, one small stage each:

1. `clean_copy` (intake): exactly the `.py` files that are graded, with the
   problems found before running anything (a missing file, a file that is not
   UTF-8, an import the sandbox does not allow). A problem costs only the
   groups that need that file.
2. `expectations`: the reference's and PyTorch's answers, computed here; the
   time the reference takes sets the student's time budget.
3. `run_groups`: each group in the sandbox, public probes and hidden probes in
   separate children. What a child prints is shown only if it held neither
   hidden inputs nor reference code.
4. `screen`: every answer is checked against the shape of the reference's
   answer; free text from a child that held hidden inputs or reference code
   is reduced to what the grader can verify itself.
5. `judge` each check, here, and wrap it as a `CheckResult`.
"""

from __future__ import annotations

import builtins
import functools
import gc
import hashlib
import hmac
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grader import rubric
from grader.child.probes import run_probe
from grader.intake import allowed_modules, clean_copy
from grader.judge import judge
from grader.oracle import REFERENCE, expected, reference_api
from grader.sandbox import IMPORT_TIMEOUT, MALFORMED, Sandbox
from grader.types import CheckResult, CleanCopy, Outcome, ProbeRequest, SubmissionResult, Verdict

TIMEOUT_AFTER_TIMEOUT = 1.5  # seconds per probe once a submission has looped
SECTION_NEEDS = {"3": ("1", "2"), "4": ("1", "2", "3"), "5": ("1", "2", "3", "4")}
# The student's whole time: a floor for process start-up, plus a generous
# multiple of what the reference itself needs for the rubric's probes, measured
# once per process (so a loaded machine gets a proportionally longer budget).
BUDGET_FLOOR = 15.0
BUDGET_FACTOR = 15.0
BUDGET_PER_CHILD = 1.0
ANSWER_MIN_BYTES = 4096
ANSWER_FACTOR = 4  # an answer may be this many times longer than the reference's
BUILTIN_ERRORS = frozenset(
    name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,80}")


def student_seed(secret: bytes, student: str) -> int:
    """Hidden probes per student: from the instructor's secret, so a student who
    reads this code still cannot compute their own hidden inputs."""
    return int.from_bytes(hmac.new(secret, student.encode(), hashlib.sha256).digest()[:8], "big")


def fingerprint(files: dict[str, bytes] | None, seed: int, tasks: Sequence[str] | None = None) -> str:
    """Changes when the graded files, the rubric, the judge, the tasks or the student's seed change."""
    h = hashlib.sha256(f"{seed}:{sorted(tasks or [])}".encode())
    for path in [Path(rubric.__file__), Path(__file__).with_name("judge.py")]:
        h.update(path.read_bytes())
    for rel, data in sorted((files or {}).items()):
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def not_graded(student: str, reason: str, *, tasks: Sequence[str] | None = None, seed: int = 0,
               hidden: bool = True) -> SubmissionResult:  # fmt: skip
    """A row for a submission nothing could be graded of: one note, a short line per check."""
    result = SubmissionResult(student=student, notes=[reason])
    for check in rubric.build(seed, hidden=hidden, tasks=set(tasks) if tasks else None):
        result.checks.append(_check_result(check, Verdict(False, "not graded: see the note at the top", 0.0,
                                                          "nothing could be graded"), None))  # fmt: skip
    result.fingerprint = fingerprint(None, seed)
    return result


def grade_package(
    package_root: Path | None,
    student: str,
    *,
    tasks: Sequence[str] | None = None,
    seed: int = 0,
    hidden: bool = True,
    sandbox: Sandbox | None = None,
    allow_imports: Sequence[str] = (),
) -> SubmissionResult:
    """Grade the `micrograd/` package in `package_root` (None: nothing found)."""
    if package_root is None:
        return not_graded(student, "No micrograd/ package was found in this submission (expected micrograd/engine.py).",
                          tasks=tasks, seed=seed, hidden=hidden)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="grader-copy-") as tmp:
        copy = clean_copy(package_root, Path(tmp) / "copy", allowed_modules(allow_imports))
        return grade_copy(copy, student, tasks=tasks, seed=seed, hidden=hidden, sandbox=sandbox)


def grade_copy(
    copy: CleanCopy,
    student: str,
    *,
    tasks: Sequence[str] | None = None,
    seed: int = 0,
    hidden: bool = True,
    sandbox: Sandbox | None = None,
) -> SubmissionResult:
    """Grade a clean copy (see `intake.clean_copy`)."""
    start = time.monotonic()
    checks = rubric.build(seed, hidden=hidden, tasks=set(tasks) if tasks else None)
    result = SubmissionResult(student=student, notes=list(copy.notes))
    result.notes += list(dict.fromkeys(copy.problems.values()))
    wants = expectations(checks)
    sandbox = sandbox or Sandbox()
    result.sandbox = sandbox.mode
    outcomes = run_groups(copy, checks, wants, sandbox, result, time.monotonic() + student_budget())
    for check in checks:
        outcome = screen(check, outcomes[check.id], wants.get(check.id), copy)
        want = wants.get(check.id)
        try:
            verdict = judge(check, outcome, want if outcome.status == "ok" else None)
        except Exception as exc:  # a bug of the kit's: say so, never blame the student
            verdict = Verdict(False, f"internal grader error ({type(exc).__name__}: {exc}); tell your instructor", 0.0)
            result.notes.append(f"Internal grader error in {check.id}: {type(exc).__name__}: {exc}")
        result.checks.append(_check_result(check, verdict, None if check.hidden else _evidence(check, outcome, want)))
    _cross_task_hints(result)
    result.fingerprint = fingerprint(copy.files, seed, tasks)
    result.seconds = round(time.monotonic() - start, 3)
    return result


def _check_result(check: rubric.Check, verdict: Verdict, evidence: dict[str, Any] | None) -> CheckResult:
    return CheckResult(
        id=check.id,
        task=check.task,
        name=f"Task {check.task}: {check.title}" + (" [hidden]" if check.hidden else ""),
        score=verdict.score,
        max_score=check.points,
        status="passed" if verdict.passed else "failed",
        output=verdict.output,
        visibility="after_due_date" if check.hidden else "visible",
        diagnosis=verdict.diagnosis,
        evidence=evidence,
    )


# ------------------------------------------------------------ expectations


def expectations(checks: list[rubric.Check]) -> dict[str, dict[str, Any]]:
    """The reference's (and PyTorch's) answer to every check."""
    return {check.id: expected(check.probe) for check in checks}


@functools.cache
def reference_seconds() -> float:
    """What the reference needs for every probe of the rubric, in this process."""
    api = reference_api()
    checks = rubric.build(0)
    was_enabled = gc.isenabled()
    gc.disable()
    start = time.perf_counter()
    try:
        for check in checks:
            run_probe(api, check.probe)
    finally:
        if was_enabled:
            gc.enable()
    return time.perf_counter() - start


def student_budget() -> float:
    """Wall-clock seconds for all of one student's children together."""
    return BUDGET_FLOOR + BUDGET_FACTOR * reference_seconds() + BUDGET_PER_CHILD * 2 * len(rubric.GROUPS)


def _evidence(check: rubric.Check, outcome: Outcome, want: dict[str, Any] | None) -> dict[str, Any] | None:
    """Plain numbers for the pictures of a public check: the probe, what came back, what was expected."""
    if outcome.status != "ok" or want is None:
        return None
    expected_numbers = {k: v for k, v in want.items() if k != "torch"}
    return {"probe": check.probe, "result": outcome.result, "expected": expected_numbers}


# -------------------------------------------------------------- the children


def _answer_bytes(want: dict[str, Any] | None) -> int:
    size = len(json.dumps({k: v for k, v in (want or {}).items() if k != "torch"}))
    return max(ANSWER_MIN_BYTES, ANSWER_FACTOR * size + 256)


def _group_copy(copy: CleanCopy, group: rubric.Group, dest: Path) -> Path:
    """The student's copy with the group's reference modules swapped in."""
    if not group.reference:
        return copy.root
    shutil.copytree(copy.root, dest)
    for name in group.reference:
        shutil.copyfile(REFERENCE / f"{name}.py", dest / "micrograd" / f"{name}.py")
    return dest


def run_groups(
    copy: CleanCopy,
    checks: list[rubric.Check],
    wants: dict[str, dict[str, Any]],
    sandbox: Sandbox,
    result: SubmissionResult,
    deadline: float,
) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    looping: dict[frozenset[str], Outcome] = {}  # student modules whose import never finished
    cap = float("inf")  # once a probe has timed out, later probes get short timeouts
    with tempfile.TemporaryDirectory(prefix="grader-groups-") as tmp:
        for name, group in rubric.GROUPS.items():
            members = sorted((c for c in checks if c.group == name), key=lambda c: c.run_order)
            if not members:
                continue
            blocking = [copy.problems[m] for m in group.student if m in copy.problems]
            if blocking:
                for c in members:
                    outcomes[c.id] = Outcome("import_error", message=f"{blocking[0]}; these checks need it")
                continue
            root = _group_copy(copy, group, Path(tmp) / name)
            modules = [*group.reference, *group.student]
            for hidden in (False, True):
                part = [c for c in members if c.hidden == hidden]
                stuck = next((o for mods, o in looping.items() if mods <= set(group.student)), None)
                if stuck:  # importing these modules already looped once: do not wait for it again
                    outcomes.update({c.id: Outcome("timeout", message=stuck.message) for c in part})
                    continue
                if not part:
                    continue
                probes = [ProbeRequest(c.id, c.probe, min(c.timeout, cap), _answer_bytes(wants.get(c.id)))
                          for c in part]  # fmt: skip
                looped = cap < float("inf")
                keep_output = not hidden and not group.reference
                # Each section keeps its own restarts where sections share a child (1-3 share "engine").
                sections = len({c.task.split(".")[0] for c in part})
                restarts = 0 if looped else sandbox.limits.max_restarts * sections
                run = sandbox.run_group(root, modules, probes, deadline, keep_output=keep_output,
                                        max_restarts=restarts)  # fmt: skip
                outcomes.update(run.outcomes)
                if any(o.status == "timeout" for o in run.outcomes.values()):
                    cap = TIMEOUT_AFTER_TIMEOUT
                first = next(iter(run.outcomes.values()), None)
                if first and first.status == "timeout" and first.message.startswith(IMPORT_TIMEOUT):
                    looping[frozenset(group.student)] = first
                result.notes.extend(run.notes)
                if keep_output:
                    _report_public_run(name, modules, run.stderr, run.outcomes, result)
    return outcomes


def _report_public_run(name: str, modules: list[str], stderr: str, outcomes: dict[str, Outcome],
                       result: SubmissionResult) -> None:  # fmt: skip
    if stderr.strip():
        result.notes.append(f"Output of your code while grading `{name}` (public checks, first lines):\n"
                            + _head(stderr))  # fmt: skip
    first = next(iter(outcomes.values()), None)
    if first and first.status == "import_error" and first.error:
        err = first.error
        where = err.get("where") or {}
        place = f" ({where.get('file')}:{where.get('line')})" if isinstance(where, dict) and where else ""
        note = f"Importing {', '.join(modules)} failed: {err.get('type')}: {err.get('message')}{place}"
        if note not in result.notes:
            result.notes.append(note)


def _head(text: str, lines: int = 12) -> str:
    kept = text.strip().splitlines()[:lines]
    return "\n".join(line[:300] for line in kept)


# ------------------------------------------------------------------ screening


class Malformed(ValueError):
    """An answer that does not have the shape of the reference's answer."""


ErrorFilter = Callable[[Any], dict[str, Any]]


def conform(got: Any, want: Any, error: ErrorFilter, depth: int = 0) -> Any:
    """`got` in the shape of `want` (numbers as floats, ints kept as ints, None for
    a node that failed), or Malformed. The errors a probe reports per case or per
    node (`error`, `errors`) pass through `error`."""
    if depth > 8:
        raise Malformed("nested too deeply")
    if isinstance(want, bool):
        if not isinstance(got, bool):
            raise Malformed("expected true or false")
        return got
    if isinstance(want, int) and got is not None:
        if isinstance(got, bool) or not isinstance(got, int) or abs(got) > 1 << 31:
            raise Malformed("expected a whole number")
        return got
    if isinstance(want, float | int):
        if got is None:
            return None
        if isinstance(got, bool) or not isinstance(got, int | float):
            raise Malformed("expected a number")
        try:
            return float(got)
        except OverflowError:
            raise Malformed("a number out of range") from None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) > 4 * len(want) + 64:
            raise Malformed("expected a list of the right length")
        if not want:
            return [conform(g, 0.0, error, depth + 1) for g in got]
        return [conform(g, want[min(i, len(want) - 1)], error, depth + 1) for i, g in enumerate(got)]
    if isinstance(want, dict):
        if not isinstance(got, dict):
            raise Malformed("expected an object")
        kept = {k: conform(got[k], v, error, depth + 1) for k, v in want.items() if k != "torch" and k in got}
        if "error" in got and "error" not in want:
            kept["error"] = error(got["error"])
        if "errors" in got and "errors" not in want:
            if not isinstance(got["errors"], dict) or len(got["errors"]) > 400:
                raise Malformed("expected an object of errors")
            kept["errors"] = {str(k)[:8]: error(e) for k, e in got["errors"].items()}
        return kept
    if want is None:
        return None
    if isinstance(want, str):
        if not isinstance(got, str) or len(got) > 200:
            raise Malformed("expected a short text")
        return got
    raise Malformed(f"unexpected {type(want).__name__}")


def screen(check: rubric.Check, outcome: Outcome, want: dict[str, Any] | None, copy: CleanCopy) -> Outcome:
    """What the judge may see of one outcome.

    Answers must have the reference answer's shape. A child that saw hidden
    inputs or held reference code may have written anything into its error
    texts, so for those only what the grader can verify stays: a built-in
    exception's name and a location in the student's own files, with the code
    line read from the clean copy, not from the child."""
    tainted = check.hidden or bool(rubric.GROUPS[check.group].reference)

    def error(err: Any) -> dict[str, Any]:
        return _safe_error(err, copy, check) if tainted else _plain_error(err)

    # A public check whose child held reference code: Python's own messages about names
    # ("'Neuron' object has no attribute 'parameters'") stay when every name in them is
    # one of the student's or the course's, so no text of the reference can ride along.

    if outcome.status == "ok":
        result = outcome.result or {}
        try:
            missing = [k for k in (want or {}) if k != "torch" and k not in result]
            if missing and not ("error" in result or "errors" in result):
                raise Malformed(f"missing {', '.join(missing)}")
            return Outcome("ok", result=conform(result, want or {}, error))
        except Malformed as exc:
            return Outcome("malformed", message=f"{MALFORMED}{exc}")
    if outcome.error is None:
        return outcome
    return Outcome(outcome.status, error=error(outcome.error), message=outcome.message)


def _plain_error(err: Any) -> dict[str, Any]:
    """An error from a child that held only public inputs and the student's code: capped, typed."""
    if not isinstance(err, dict):
        raise Malformed("expected an error object")
    where = err.get("where") if isinstance(err.get("where"), dict) else None
    place = None
    if where is not None:
        line = where.get("line")
        place = {k: str(where.get(k, ""))[:200] for k in ("file", "function", "code")}
        place["line"] = line if isinstance(line, int) and not isinstance(line, bool) else 0
    return {"type": str(err.get("type", "Error"))[:100], "message": str(err.get("message", ""))[:600], "where": place}


def _safe_error(err: Any, copy: CleanCopy, check: rubric.Check) -> dict[str, Any]:
    """An error from a child that held hidden inputs or reference code: only what can be
    verified. A hidden check keeps no message at all; a public one keeps Python's own
    message about a missing name when every name in it is the student's or the course's."""
    if not isinstance(err, dict):
        raise Malformed("expected an error object")
    kind = err.get("type") if isinstance(err.get("type"), str) else ""
    message = str(err.get("message", ""))
    known = NAME_MESSAGE.fullmatch(message)
    if check.hidden or not known or not all(n in _vocabulary(copy) for n in known.groups() if n):
        message = ""
    return {"type": kind if kind in BUILTIN_ERRORS or kind == "ProbeError" else "an exception",
            "message": message, "where": _verified_place(err.get("where"), copy, check)}  # fmt: skip


NAME_MESSAGE = re.compile(
    r"'(\w{1,40})' object has no attribute '(\w{1,40})'|name '(\w{1,40})' is not defined"
    r"|`(\w{1,40})` is not defined \(it belongs in micrograd/(\w{1,10})\.py\)"
)
COURSE_NAMES = frozenset({
    "Value", "Module", "Neuron", "Layer", "MLP", "data", "grad", "label", "_prev", "_op", "_backward", "_rule",
    "backward", "_topo_order", "parameters", "zero_grad", "w", "b", "neurons", "layers", "nonlin", "activation",
    "relu", "tanh", "sigmoid", "exp", "log", "svm_loss", "mse_loss", "l2_penalty", "learning_rate", "sgd_step",
    "accuracy", "engine", "nn", "train", "float", "int", "list", "tuple", "NoneType", "str",
})


def _vocabulary(copy: CleanCopy) -> frozenset[str]:
    names = set(COURSE_NAMES)
    for data in copy.files.values():
        names.update(IDENTIFIER.findall(data.decode("utf-8", "replace")))
    return frozenset(names)


def _verified_place(where: Any, copy: CleanCopy, check: rubric.Check) -> dict[str, Any] | None:
    """A location the child reported, kept only if it names a real line and
    function of the student's own files; the code is read from the copy."""
    if not isinstance(where, dict):
        return None
    file, line, function = where.get("file"), where.get("line"), where.get("function")
    if file in {f"micrograd/{name}.py" for name in rubric.GROUPS[check.group].reference}:
        return None  # the reference's file in this child, not the student's
    data = copy.files.get(file) if isinstance(file, str) else None
    if data is None or not isinstance(line, int) or isinstance(line, bool):
        return None
    lines = data.decode("utf-8", "replace").split("\n")
    if not 1 <= line <= len(lines):
        return None
    text = "\n".join(lines)
    known = isinstance(function, str) and IDENTIFIER.fullmatch(function)
    known = known and re.search(rf"\b(def|class)\s+{function}\b", text)
    return {"file": file, "line": line, "function": function if known else "", "code": lines[line - 1].strip()[:200]}


def _cross_task_hints(result: SubmissionResult) -> None:
    """A later section's failure often comes from an earlier one: say so once."""
    # Public checks only: the note is shown at once, and must not reveal a hidden failure before the due date.
    failing = {c.task.split(".")[0] for c in result.checks if c.status == "failed" and c.visibility == "visible"}
    for section, needs in SECTION_NEEDS.items():
        earlier = sorted(s for s in needs if s in failing)
        if section in failing and earlier:
            many = len(earlier) > 1
            result.notes.append(
                f"Section {section} builds on section{'s' if many else ''} {', '.join(earlier)}, which also "
                f"{'have' if many else 'has'} failing checks: fix the earlier ones first."
            )

