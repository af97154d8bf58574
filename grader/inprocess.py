"""The rubric in the current process: what nbgrader's test cells call.

    from grader.inprocess import check
    check("1.1", globals())               # public checks of Task 1.1
    check("1.1", globals(), hidden=True)  # hidden checks, inputs drawn now

The same checks, probes, judges and messages as `python -m grader`, so a
check means the same in a notebook. Running in the student's kernel, this is
not a trusted score (the student's code could patch anything here): the final
score of a notebook comes from the sandboxed grader, see grader/notebooks.py.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Mapping
from typing import Any

from grader.child.probes import Api, run_probe
from grader.judge import judge
from grader.oracle import expected
from grader.rubric import build
from grader.tasks import TASKS
from grader.types import Outcome


def _describe(exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = None
    if frames:
        last = frames[-1]
        where = {"file": last.filename.rsplit("/", 1)[-1], "line": last.lineno, "function": last.name,
                 "code": (last.line or "")[:200]}  # fmt: skip
    return {"type": type(exc).__name__, "message": str(exc)[:600], "where": where}


def run_checks(task: str, namespace: Mapping[str, Any], *, hidden: bool = False, seed: int | None = None) -> list:
    """Judge every public (or hidden) check of `task` against `namespace`."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    api = Api(namespace)
    seed = random.SystemRandom().randrange(1 << 62) if seed is None else seed
    verdicts = []
    for c in build(seed, hidden=True, tasks={task}):
        if c.hidden != hidden:
            continue
        try:
            outcome = Outcome("ok", result=run_probe(api, c.probe))
        except Exception as exc:
            outcome = Outcome("error", error=_describe(exc))
        verdict = judge(c, outcome, expected(c.probe) if outcome.status == "ok" else None)
        verdicts.append((c, verdict))
    return verdicts


def check(task: str, namespace: Mapping[str, Any], *, hidden: bool = False, seed: int | None = None) -> None:
    """Run the checks of one task; print a summary; raise AssertionError on failure."""
    verdicts = run_checks(task, namespace, hidden=hidden, seed=seed)
    failed = [(c, v) for c, v in verdicts if not v.passed]
    kind = "hidden" if hidden else "public"
    if not failed:
        print(f"Task {task} ({TASKS[task]}): all {len(verdicts)} {kind} checks pass.")
        return
    report = [f"Task {task} ({TASKS[task]}): {len(failed)} of {len(verdicts)} {kind} checks fail."]
    for c, v in failed:
        report.append(f"\n✘ {c.title}\n{v.output}")
    raise AssertionError("\n".join(report))
