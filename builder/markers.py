"""Solution markers: find the marked regions of a reference module.

The reference marks each piece of solution code with nbgrader's markers,
extended with a task id and a description of what to implement:

    ### BEGIN SOLUTION [1.1] Addition, forward: make `out` holding ...
    out = Value(self.data + other.data, (self, other), "+")
    ### END SOLUTION

A region whose markers are wrong would leak its solution into student/ or
stub the wrong code, so any doubt is a `BuildError` naming file:line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.tasks import TASKS

# `### BEGIN SOLUTION [1.1] description`: the task id in brackets is required.
BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?:[ \t]+\[(?P<task>[^\]]*)\])?(?P<rest>.*)$")
END_RE = re.compile(r"^(?P<indent>[ \t]*)### END SOLUTION[ \t]*$")
# Anything that looks like a marker but does not match the grammar above
# (`## BEGIN SOLUTION`, `### END SOLUTION here`, ...) is refused, not ignored:
# an ignored BEGIN would leave its solution in the skeleton.
LOOSE_RE = re.compile(r"\b(BEGIN|END)[ _]SOLUTION\b", re.IGNORECASE)


class BuildError(Exception):
    """A problem in the reference that stops the build; the message starts with file:line."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class Region:
    """One marked region. Lines are 1-based and include both marker lines."""

    file: Path
    start: int  # the BEGIN marker's line
    end: int  # the END marker's line
    task: str  # "1.1"
    description: str  # what the student implements
    indent: str  # the BEGIN marker's leading whitespace: where the stub goes

    @property
    def body(self) -> range:
        """The 1-based line numbers of the solution code between the markers."""
        return range(self.start + 1, self.end)


def parse_regions(path: Path, text: str | None = None, tasks: Mapping[str, str] = TASKS) -> list[Region]:
    """Every marked region of one file, in file order.

    Raises BuildError (with file:line) on an unbalanced, nested, empty,
    malformed, task-less or unknown-task marker, or on code in a region that
    is indented less than its BEGIN marker (the stub would not fit there).
    """
    if text is None:
        text = path.read_text(encoding="utf-8")
    # split('\n'), not splitlines(): a form feed inside a line must not shift the line numbers.
    lines = text.replace("\r\n", "\n").split("\n")
    regions: list[Region] = []
    open_at: tuple[int, str, str, str] | None = None  # (line, task, description, indent)
    for number, line in enumerate(lines, start=1):
        begin = BEGIN_RE.match(line)
        end = END_RE.match(line)
        if begin:
            if open_at is not None:
                raise BuildError(
                    path, number, f"nested BEGIN SOLUTION: the region opened at line {open_at[0]} is not closed yet"
                )
            task = begin["task"]
            if task is None:
                raise BuildError(path, number, "BEGIN SOLUTION without a task id: write `### BEGIN SOLUTION [1.1] ...`")
            task = task.strip()
            if task not in tasks:
                known = ", ".join(tasks)
                raise BuildError(path, number, f"unknown task id [{task}] (grader/tasks.py knows {known})")
            description = begin["rest"].strip()
            if not description:
                raise BuildError(path, number, f"BEGIN SOLUTION [{task}] without a description of what to implement")
            open_at = (number, task, description, begin["indent"])
        elif end:
            if open_at is None:
                raise BuildError(path, number, "END SOLUTION without a matching BEGIN SOLUTION")
            start, task, description, indent = open_at
            if end["indent"] != indent:
                raise BuildError(
                    path, number, f"END SOLUTION is not indented like its BEGIN SOLUTION at line {start}"
                )
            if number == start + 1:
                raise BuildError(path, start, f"empty region [{task}]: nothing between BEGIN and END SOLUTION")
            for inner in range(start + 1, number):
                code = lines[inner - 1]
                if code.strip() and not code.startswith(indent):
                    raise BuildError(
                        path, inner, f"code in region [{task}] is indented less than its BEGIN SOLUTION (line {start})"
                    )
            regions.append(Region(path, start, number, task, description, indent))
            open_at = None
        elif LOOSE_RE.search(line):
            raise BuildError(
                path,
                number,
                "malformed solution marker: use `### BEGIN SOLUTION [x.y] description` and `### END SOLUTION`",
            )
    if open_at is not None:
        raise BuildError(path, open_at[0], f"BEGIN SOLUTION [{open_at[1]}] is never closed by an END SOLUTION")
    return regions

