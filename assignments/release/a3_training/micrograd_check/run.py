"""Run the stored public checks on a notebook's names or on a micrograd folder.

Standard library only: the probes and the judge are the course grader's own
(copied here when the course was built), and each check's expected answer is
stored in checks.json. Nothing here knows a solution.
"""

from __future__ import annotations

import ast
import importlib
import json
import linecache
import os
import re
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from micrograd_check import support
from micrograd_check.judge import judge
from micrograd_check.probes import Api, ProbeTimeout, run_probe, time_limit
from micrograd_check.support import TASKS, Check, Outcome, Verdict

HERE = Path(__file__).resolve().parent
# The modules the grader imports from a submission: what it grades.
GRADED_MODULES = ("engine", "nn", "train")
# A check's own time limit is what the grader allows (the reference needs
# milliseconds); a student's laptop gets this much more. The grading machine
# sets MICROGRAD_CHECK_SLACK=1 in nbgrader's kernel: the sandbox's limits.
SLACK = 2.0
STUB_PREFIX = "Task "
STUB_COMMENT = re.compile(r"^\s*# (Task \d+\.\d+: .*\S)\s*$")

__all__ = ["TASKS", "check", "check_package", "started"]


def load_checks(long: bool = True) -> list[tuple[Check, dict[str, Any]]]:
    """Every stored check with its expected answer, in task order (without the long ones if not `long`)."""
    rows = json.loads((HERE / "checks.json").read_text(encoding="utf-8"))
    return [
        (
            Check(r["id"], r["task"], r["title"], r["points"], False, r["probe"], r["judge"], r["timeout"], r["info"]),
            r["expected"],
        )
        for r in rows["checks"]
        if long or not r["long"]
    ]


def tasks_here() -> list[str]:
    """The tasks this copy of the checker has checks for."""
    return list(json.loads((HERE / "checks.json").read_text(encoding="utf-8"))["tasks"])


def _describe(exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = None
    message = str(exc)
    if frames:
        last = frames[-1]
        where = {"file": last.filename.rsplit("/", 1)[-1], "line": last.lineno, "function": last.name,
                 "code": (last.line or "")[:200]}  # fmt: skip
        if isinstance(exc, NotImplementedError) and not message:
            message = _stub_comment(last.filename, last.lineno or 0)
    return {"type": type(exc).__name__, "message": message[:600], "where": where}


def _stub_comment(filename: str, line: int) -> str:
    """A notebook's stub is a bare `raise NotImplementedError()` under a `# Task x.y: ...`
    comment: that comment is its message (IPython keeps each cell's lines in linecache)."""
    lines = linecache.getlines(filename)
    for number in range(line - 2, max(line - 4, -1), -1):
        found = STUB_COMMENT.match(lines[number]) if number < len(lines) else None
        if found:
            return found[1]
    return ""


def slack() -> float:
    """SLACK, or MICROGRAD_CHECK_SLACK where it is a sensible number."""
    try:
        value = float(os.environ.get("MICROGRAD_CHECK_SLACK", SLACK))
    except ValueError:
        return SLACK
    return value if 0 < value < 100 else SLACK


def run_one(api: Api, c: Check, expected: dict[str, Any]) -> Verdict:
    """One check: run its probe on the code under test and judge the answer."""
    try:
        with time_limit(api, c.timeout * slack()) as limit:
            outcome = Outcome("ok", result=run_probe(api, c.probe))
    except ProbeTimeout:
        message = f"stopped after {limit:g} s: an endless loop? (the reference needs milliseconds)"
        outcome = Outcome("timeout", message=message)
    except Exception as exc:  # the student's code may raise anything: that is the finding
        outcome = Outcome("error", error=_describe(exc))
    support.STUDENT_API[:] = [api]  # judge_fit measures the trained weights with the code under test
    verdict = judge(c, outcome, expected if outcome.status == "ok" else None)
    reached = _earlier_stub(c.task, outcome)
    if reached:
        verdict.output = f"Task {c.task} cannot be checked until Task {reached} is done; its stub was reached:\n" + (
            verdict.output
        )
    return verdict


def _errors_in(outcome: Outcome) -> list[dict[str, Any]]:
    """The errors an outcome carries: the probe's own, or its cases' and nodes' one by one."""
    if outcome.status == "error":
        return [outcome.error or {}]
    result = outcome.result or {}
    cases = result.get("cases") if isinstance(result.get("cases"), list) else []
    nodes = result.get("errors") if isinstance(result.get("errors"), dict) else {}
    found = [c["error"] for c in cases if isinstance(c, dict) and isinstance(c.get("error"), dict)]
    return found + [e for e in nodes.values() if isinstance(e, dict)]


def _earlier_stub(task: str, outcome: Outcome) -> str | None:
    """The other task whose stub a check of `task` ran into, if any."""
    for err in _errors_in(outcome):
        message = str(err.get("message", ""))
        if err.get("type") != "NotImplementedError" or not message.startswith(STUB_PREFIX):
            continue
        reached = message[len(STUB_PREFIX) :].split(":", 1)[0]
        if reached != task and reached in TASKS:
            return reached
    return None


def long_checks(task: str) -> list[str]:
    """The titles of `task`'s long checks (training runs)."""
    rows = json.loads((HERE / "checks.json").read_text(encoding="utf-8"))["checks"]
    return [r["title"] for r in rows if r["task"] == task and r["long"]]


def run_checks(task: str, api: Api, long: bool = True) -> list[tuple[Check, Verdict]]:
    """Judge every stored public check of `task` (but the long ones if not `long`)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    checks = [(c, e) for c, e in load_checks(long) if c.task == task]
    if not checks:
        here = ", ".join(tasks_here())
        raise ValueError(f"this copy of micrograd_check has no checks for Task {task} (it has {here})")
    verdicts: list[tuple[Check, Verdict]] = []
    for c, e in checks:
        if any(v.output.startswith("stopped after") for _, v in verdicts):
            # One endless loop is enough to know: do not wait for it again.
            skipped = Outcome("skipped", message="not run: an earlier check of this task was stopped")
            verdicts.append((c, judge(c, skipped, None)))
        else:
            verdicts.append((c, run_one(api, c, e)))
    return verdicts


def report(task: str, verdicts: list[tuple[Check, Verdict]]) -> tuple[bool, str]:
    """(all passed, the text a student reads)."""
    failed = [(c, v) for c, v in verdicts if not v.passed]
    if not failed:
        return True, f"Task {task} ({TASKS[task]}): all {len(verdicts)} public checks pass."
    lines = [f"Task {task} ({TASKS[task]}): {len(failed)} of {len(verdicts)} public checks fail."]
    for c, v in failed:
        lines.append(f"\n✘ {c.title}\n{v.output}")
    return False, "\n".join(lines)


def check(task: str, namespace: Mapping[str, Any], *, hidden: bool = False, full: bool = False) -> None:
    """The public checks of one task on a notebook's names (`globals()`): print a
    summary, raise AssertionError listing every failure. A long check (a training
    run) waits for grading unless `full`, so the cell takes well under a second."""
    if hidden:
        raise ValueError("hidden checks run only when your work is graded, not on your machine")
    ok, text = report(task, run_checks(task, Api(namespace), long=full))
    if not ok:
        raise AssertionError(text)
    waiting = [] if full else long_checks(task)
    if waiting:
        text += (
            f"\n(Not run here, to keep this cell quick: {'; '.join(waiting)}. It runs when your notebook "
            f'is graded; `check("{task}", globals(), full=True)` runs it now.)'
        )
    print(text)


def started(task: str, namespace: Mapping[str, Any]) -> None:
    """Fail while `task` (or a task it needs) is still a stub, or loops; say nothing otherwise.

    The notebook's hidden-test cells start with this: they must fail on the
    untouched notebook, and must not charge a wrong answer twice (the public
    cell already did)."""
    api = Api(namespace)
    for c, expected in load_checks():
        if c.task != task:
            continue
        verdict = run_one(api, c, expected)
        if "not implemented yet" in verdict.output:
            raise AssertionError(f"Task {task} is not done yet:\n{verdict.output}")
        if verdict.output.startswith("stopped after"):
            # The hidden checks would loop too, with nothing to stop them but the cell's limit.
            raise AssertionError(f"Task {task}: {verdict.output}")
        return


# ----------------------------------------------------------------- a folder


def foreign_imports(package: Path) -> list[str]:
    """Imports the grader refuses: graded code may import only the standard library and micrograd."""
    problems = []
    for module in GRADED_MODULES:
        path = package / f"{module}.py"
        if not path.is_file():
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # importing it reports this, with the line
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "micrograd" and top not in sys.stdlib_module_names:
                    problems.append(
                        f"micrograd/{module}.py line {node.lineno} imports `{name}`: graded code may import only "
                        "Python's standard library and micrograd itself (the grader refuses the rest)."
                    )
    return problems


def load_package(folder: Path) -> tuple[Api | None, str]:
    """The names the checks use, imported from `folder/micrograd` (and nowhere else)."""
    folder = folder.resolve()
    package = folder / "micrograd"
    if not (package / "engine.py").is_file():
        return None, f"no micrograd/engine.py under {folder}: run this in the folder that holds micrograd/"
    for name in [n for n in sys.modules if n == "micrograd" or n.startswith("micrograd.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        modules = {}
        for module in GRADED_MODULES:
            try:
                modules[module] = importlib.import_module(f"micrograd.{module}")
            except ModuleNotFoundError as exc:
                if exc.name != f"micrograd.{module}":
                    raise
    except Exception as exc:  # a syntax error or a crash at import: the student's to fix
        where = _describe(exc)["where"] or {}
        return None, f"micrograd does not import: {type(exc).__name__}: {exc} ({where.get('file')}:{where.get('line')})"
    finally:
        sys.path.remove(str(folder))
    found = Path(modules["engine"].__file__ or "").resolve().parent
    if found != package:
        return None, f"micrograd was imported from {found}, not from {package}: run this from your own folder"
    names = {}
    for module in modules.values():
        names.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    return Api(names), ""


def check_package(folder: Path, tasks: list[str] | None = None) -> bool:
    """Every (or the given) task's public checks on `folder/micrograd`; print the results."""
    problems = foreign_imports(folder / "micrograd")
    for problem in problems:
        print(f"✘ {problem}")
    api, error = load_package(folder)
    if api is None:
        print(f"✘ {error}")
        return False
    passed = not problems
    for task in tasks or tasks_here():
        ok, text = report(task, run_checks(task, api))
        print(text if ok else text + "\n")
        passed = passed and ok
    return passed
