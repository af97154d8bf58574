"""Shared set-up of the public tests: one task per test, and failures that name it.

Every test carries exactly one task marker (`@pytest.mark.task2_1`), so
`pytest -m task2_1` runs that task's tests. A test can only run once the tasks
it builds on are done: the gradient of `a * b` needs `a * b` itself (Task 1.1).
When a test stops at an earlier task's stub, the failure says so, naming the
test's own task first: "Task 2.1: cannot be checked until Task 1.1 is done".
"""

from __future__ import annotations

import re
from collections.abc import Generator

import pytest

TASK_MARKER = re.compile(r"^task(\d+)_(\d+)$")
STUB_MESSAGE = re.compile(r"^Task (\d+\.\d+):")


def task_of(item: pytest.Item) -> str | None:
    """The task a test checks, from its marker: task2_1 -> "2.1"."""
    tasks = [f"{m[1]}.{m[2]}" for m in (TASK_MARKER.match(mark.name) for mark in item.iter_markers()) if m]
    return tasks[0] if len(tasks) == 1 else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test without exactly one task marker; record the task (reports, JUnit XML)."""
    for item in items:
        task = task_of(item)
        if task is None:
            raise pytest.UsageError(f"{item.nodeid}: a public test needs exactly one task marker (taskX_Y)")
        item.user_properties.append(("task", task))


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Name the test's own task when it stops at another task's stub."""
    __tracebackhide__ = True  # the failure is about the student's code, not this hook
    try:
        return (yield)
    except NotImplementedError as exc:
        own = task_of(pyfuncitem)
        reached = STUB_MESSAGE.match(str(exc))
        if own is None or reached is None or reached[1] == own:
            raise
        raise NotImplementedError(
            f"Task {own}: cannot be checked until Task {reached[1]} is done; this test reached its stub: {exc}"
        ) from exc
