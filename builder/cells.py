"""The cell model: a notebook as a list of cells before it becomes JSON, and what each kind of cell holds."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from builder.markers import BEGIN_RE, END_RE, BuildError
from builder.reference_code import FUTURE_RE, PACKAGE_IMPORT_RE, REFERENCE, squeeze_blank_lines
from grader import notebook_contract as contract
from grader.rubric import build as build_rubric
from grader.tasks import TASKS

WRITTEN_POINTS = 2


def task_points() -> dict[str, tuple[float, float]]:
    """(public, hidden) points of each task in the sandbox: its nbgrader cells are worth the same,
    so nbgrader's total and the sandbox's are on one scale."""
    points: dict[str, list[float]] = {task: [0.0, 0.0] for task in TASKS}
    for c in build_rubric(0):
        points[c.task][1 if c.hidden else 0] += c.points
    return {task: (public, hidden) for task, (public, hidden) in points.items()}


TASK_POINTS = task_points()


@dataclass
class Cell:
    """One notebook cell before it becomes JSON."""

    kind: str  # "markdown" | "code"
    source: str
    grade_id: str | None = None
    module: str | None = None  # the package module a definitional cell belongs to
    role: str = "plain"  # plain | given | solution | test | written
    timeout: int | None = None  # nbgrader's limit for this cell, if lower than the default
    points: float = 0


@dataclass
class Assignment:
    """An assignment: its tasks (solved by the student) and its cells."""

    name: str
    title: str
    tasks: list[str]
    cells: list[Cell] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    # What the notebook needs beyond Python and Jupyter (requirements.txt lines).
    requirements: list[str] = field(default_factory=list)

    def md(self, text: str) -> None:
        self.cells.append(Cell("markdown", textwrap.dedent(text).strip("\n")))

    def code(self, text: str, timeout: int | None = None) -> None:
        """A demo cell: not part of the package, never graded."""
        self.cells.append(Cell("code", textwrap.dedent(text).strip("\n"), timeout=timeout))

    def setup(self, extra: str = "") -> None:
        lines = [
            "# Run this cell first. `check` runs the course grader's public checks on your code",
            "# (micrograd_check/, beside this notebook: no solutions in it, nothing to install).",
            "from __future__ import annotations",
            "",
            "from micrograd_check import check, started",
        ]
        if extra:
            lines += ["", extra]
        self.cells.append(Cell("code", "\n".join(lines), grade_id="setup", role="given"))

    def define(self, grade_id: str, module: str, lines: list[str]) -> None:
        """A definitional cell cut from the reference: marked regions of this
        assignment's tasks stay (a solution cell), others are given solved."""
        source, solve = self._render_regions(module, grade_id, lines)
        self.modules.add(module)
        role = "solution" if solve else "given"
        self.cells.append(Cell("code", source, grade_id=grade_id, module=module, role=role))

    def tests(self, task: str, intro: str = "") -> None:
        """The public and the hidden autograded cells of one task, worth what the sandbox gives them."""
        title = TASKS[task]
        public_points, hidden_points = TASK_POINTS[task]
        public = f"# Task {task}: {title}. The same public checks as the course grader.\n"
        public += f'check("{task}", globals())'
        if intro:
            self.md(intro)
        self.cells.append(Cell("code", public, grade_id=contract.cell_id(task), role="test", points=public_points))
        # The visible line fails only while the task is a stub (so `nbgrader
        # validate --invert` still fails on the released notebook) and prints
        # nothing: a wrong answer is charged once, in the public cell above.
        hidden = (
            f"# Task {task}: hidden checks, on fresh inputs, run when your notebook is graded.\n"
            f'started("{task}", globals())\n'
            "### BEGIN HIDDEN TESTS\n"
            "from grader.inprocess import check as grader_check\n\n"
            f'grader_check("{task}", globals(), hidden=True)\n'
            "### END HIDDEN TESTS"
        )
        hidden_id = contract.cell_id(task, hidden=True)
        self.cells.append(Cell("code", hidden, grade_id=hidden_id, role="test", points=hidden_points))

    def written(self, grade_id: str, question: str, model_answer: str) -> None:
        """A manually graded written answer: the question, then the answer cell."""
        self.md(question)
        answer = textwrap.dedent(model_answer).strip("\n")
        self.cells.append(Cell("markdown", answer, grade_id=grade_id, role="written", points=WRITTEN_POINTS))

    def _render_regions(self, module: str, grade_id: str, lines: list[str]) -> tuple[str, bool]:
        out: list[str] = []
        solve = False
        open_task: str | None = None
        for line in lines:
            if PACKAGE_IMPORT_RE.match(line) or FUTURE_RE.match(line):
                continue
            begin = BEGIN_RE.match(line)
            if begin:
                indent, task, description = begin["indent"], (begin["task"] or "").strip(), begin["rest"].strip()
                open_task = task
                if task in self.tasks:
                    solve = True
                    # The description survives into the released stub as a
                    # comment: nbgrader drops the marker line itself.
                    out.append(f"{indent}# Task {task}: {description}")
                    out.append(f"{indent}### BEGIN SOLUTION")
                elif _task_key(task) > _task_key(max(self.tasks, key=_task_key)):
                    raise BuildError(
                        REFERENCE / f"{module}.py", 1, f"cell {grade_id} of {self.name} would contain later task {task}"
                    )
                continue
            if END_RE.match(line):
                if open_task in self.tasks:
                    out.append(line)
                open_task = None
                continue
            out.append(line)
        return "\n".join(squeeze_blank_lines(out)), solve


def _task_key(task: str) -> tuple[int, ...]:
    return tuple(int(p) for p in task.split("."))
