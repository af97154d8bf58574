"""The notebooks' contract between the builder (which writes them) and the grader (which reads them).

One place for what both sides must agree on: the metadata keys, the grade ids
of the test cells, the package modules a notebook rebuilds, and each cell's
time limit (read by nbgrader through assignments/nbgrader_config.py).

Notebook metadata, `"micrograd"`: {"assignment": name, "tasks": [...], "prologue": {module: imports}}.
Cell metadata, `"micrograd"`: {"module": "engine"} on a definitional cell (its code goes into
micrograd/engine.py), {"timeout": seconds} on a cell that runs student code and needs less
time than the default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KEY = "micrograd"  # the kit's metadata key, in a notebook and in its cells
ASSIGNMENT = "assignment"
TASKS = "tasks"
PROLOGUE = "prologue"
MODULE = "module"
TIMEOUT = "timeout"

PACKAGE_MODULES = ("engine", "nn", "train")  # what a notebook's definitional cells may build

# nbgrader's limit per cell (seconds). The slowest correct cell (training on the
# moons, a3) takes a few seconds on a busy 2-core machine and the test cells well
# under one (their expected values are stored; micrograd_check stops a looping
# check itself); a cell's metadata may only lower it.
CELL_TIMEOUT = 60

TEST_ID = re.compile(r"^(test|hidden)_(\d+)_(\d+)$")


def cell_id(task: str, hidden: bool = False) -> str:
    """The grade id of a task's public (or hidden) test cell: 2.1 -> test_2_1 / hidden_2_1."""
    return f"{'hidden' if hidden else 'test'}_{task.replace('.', '_')}"


def task_of(grade_id: str) -> str | None:
    """The task a test cell checks (None for any other cell)."""
    m = TEST_ID.match(grade_id)
    return f"{m[2]}.{m[3]}" if m else None


def cell_meta(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    """The kit's metadata of a cell (empty if none)."""
    meta = cell.get("metadata", {}).get(KEY, {})
    return meta if isinstance(meta, Mapping) else {}


def notebook_meta(notebook: Mapping[str, Any]) -> Mapping[str, Any]:
    """The kit's metadata of a notebook (empty if none)."""
    meta = notebook.get("metadata", {}).get(KEY, {})
    return meta if isinstance(meta, Mapping) else {}


def cell_timeout(cell: Mapping[str, Any]) -> int:
    """nbgrader's limit for one cell: its own (`micrograd.timeout`) if lower, else CELL_TIMEOUT.

    A submission's metadata is the student's to edit, so it can only shorten the limit."""
    own = cell_meta(cell).get(TIMEOUT)
    if isinstance(own, int | float) and not isinstance(own, bool) and 0 < own < CELL_TIMEOUT:
        return int(own)
    return CELL_TIMEOUT
