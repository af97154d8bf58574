"""The embedded sample submissions: released notebooks, solved, then spoiled on purpose."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import nbformat

from builder.markers import BEGIN_RE, END_RE, BuildError
from builder.reference_code import REFERENCE


def solved(source: str) -> str:
    """A solution cell as a student who got it right would hand it in."""
    return "\n".join(line for line in source.split("\n") if not (BEGIN_RE.match(line) or END_RE.match(line)))


@dataclass(frozen=True)
class Sample:
    """An embedded submission: a released notebook, solved, then spoiled on purpose."""

    student: str
    assignment: str
    what: str
    edits: dict[str, tuple[str, str]] = field(default_factory=dict)  # grade_id -> (old, new) in solved code
    delete: tuple[str, ...] = ()  # grade ids of cells the student deleted
    append: dict[str, str] = field(default_factory=dict)  # grade_id -> code added at the end of the cell
    broken_json: bool = False


SAMPLES = [
    Sample("s01_correct", "a1_value", "every task right"),
    Sample("s01_correct", "a2_backprop", "every task right"),
    Sample("s01_correct", "a3_training", "every task right"),
    Sample(
        "s02_buggy",
        "a1_value",
        "multiplication's backward rule uses the wrong input (task 2.1)",
        edits={"engine_mul": ("self.grad += other.data * out.grad", "self.grad += self.data * out.grad")},
    ),
    Sample(
        "s03_infinite_loop",
        "a2_backprop",
        "_topo_order never returns (task 3.1, and 3.2 needs it)",
        edits={"engine_topo_order": ("    order: list[Value] = []", "    while True:  # never ends\n        pass")},
    ),
    Sample(
        "s04_deleted_test",
        "a1_value",
        "the same bug as s02_buggy, and the failing public check cell of task 2.1 deleted",
        edits={"engine_mul": ("self.grad += other.data * out.grad", "self.grad += self.data * out.grad")},
        delete=("test_2_1",),
    ),
    Sample("s05_invalid_json", "a1_value", "the file was cut short: not valid JSON", broken_json=True),
    Sample(
        "s06_fools_nbgrader",
        "a1_value",
        "the same bug as s02_buggy, and the notebook's checks (and the grader's, in its kernel) made to pass anything",
        edits={"engine_mul": ("self.grad += other.data * out.grad", "self.grad += self.data * out.grad")},
        append={
            "engine_mul": (
                "\n\ndef check(*args, **kwargs):  # every check cell now passes\n    pass\n\n\n"
                "started = check\n"
                "try:  # the hidden cells import the grader's check in the kernel: patch that too\n"
                "    import grader.inprocess\n\n"
                "    grader.inprocess.check = check\n"
                "except Exception:\n"
                "    pass"
            )
        },
    ),
]

WRITTEN_ANSWER = "The chain rule sums the contributions of every path, so each rule adds its own term."


def sample_notebook(sample: Sample, source: nbformat.NotebookNode, release: nbformat.NotebookNode) -> str:
    """The JSON text of one sample submission, made from the released notebook."""
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.from_dict(json.loads(nbformat.writes(release)))
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sample.delete:
            continue
        if grade_id in solutions:
            if cell.cell_type == "code":
                cell.source = solved(solutions[grade_id].source)
            else:
                cell.source = WRITTEN_ANSWER
        if grade_id in sample.edits:
            old, new = sample.edits[grade_id]
            if old not in cell.source:
                raise BuildError(REFERENCE, 1, f"sample {sample.student}: {old!r} is not in cell {grade_id}")
            cell.source = cell.source.replace(old, new)
        if grade_id in sample.append:
            cell.source += sample.append[grade_id]
        cells.append(cell)
    nb.cells = cells
    text = nbformat.writes(nb) + "\n"
    if sample.broken_json:
        text = text[: len(text) // 2]
    return text
