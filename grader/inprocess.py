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

import copy
import functools
import random
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from grader.child.probes import Api, ProbeTimeout, run_probe, time_limit
from grader.judge import judge
from grader.oracle import TORCH_KINDS, reference_api
from grader.rubric import BUILDER_OF_SECTION, Check, build
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


# One draw of hidden inputs per process (a notebook's kernel), shared by every
# hidden cell of the notebook. (The sandbox draws its own, per student: this
# score is only compared.)
KERNEL_SEED = random.SystemRandom().randrange(1 << 62)


@functools.lru_cache(maxsize=8)
def _checks(seed: int, section: str) -> tuple[Check, ...]:
    """The checks of one section, built once per kernel: only that section's builder runs,
    so a notebook without training never draws the moons (importing scikit-learn takes seconds)."""
    builder = BUILDER_OF_SECTION.get(section)
    if builder is None:  # a section the rubric does not know: build everything
        return tuple(build(seed, hidden=True))
    return tuple(builder(random.Random(f"{builder.__name__}:{seed}")))


def _time_limit() -> tuple[Any, type[BaseException]]:
    """The public checker's time limit where the notebook imported it (its `micrograd_check`):
    one memory of stopped code for the public and the hidden checks, so a loop the public
    cell already waited for costs the hidden cell one short wait."""
    shipped = sys.modules.get("micrograd_check.probes")
    if shipped is not None and hasattr(shipped, "time_limit") and hasattr(shipped, "ProbeTimeout"):
        return shipped.time_limit, shipped.ProbeTimeout
    return time_limit, ProbeTimeout


def reference_expected(probe: dict[str, Any]) -> dict[str, Any]:
    """The reference's answer, standing in for PyTorch's as well.

    In a notebook's kernel this score is only compared with the sandbox's (which
    counts, and whose oracle checks the reference against PyTorch), and
    importing torch would cost every kernel seconds."""
    answer = run_probe(reference_api(), probe)
    if probe["kind"] in TORCH_KINDS:
        answer["torch"] = copy.deepcopy(answer)
    return answer


def run_checks(task: str, namespace: Mapping[str, Any], *, hidden: bool = False, seed: int | None = None) -> list:
    """Judge every public (or hidden) check of `task` against `namespace`."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    api = Api(namespace)
    limiter, stopped = _time_limit()
    verdicts = []
    for c in _checks(KERNEL_SEED if seed is None else seed, task.split(".")[0]):
        if c.task != task or c.hidden != hidden:
            continue
        if any(v.output.startswith("stopped after") for _, v in verdicts):
            # One endless loop is enough to know: do not wait for it again.
            skipped = Outcome("skipped", message="not run: an earlier check of this task was stopped")
            verdicts.append((c, judge(c, skipped, None)))
            continue
        try:
            with limiter(api, c.timeout) as limit:  # the grading machine's own limit, as in the sandbox
                outcome = Outcome("ok", result=run_probe(api, c.probe))
        except stopped:
            outcome = Outcome("timeout", message=f"stopped after {limit:g} s: an endless loop?")
        except Exception as exc:
            outcome = Outcome("error", error=_describe(exc))
        verdict = judge(c, outcome, reference_expected(c.probe) if outcome.status == "ok" else None)
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
