"""A built assignment as files: the notebook's JSON (with the notebook contract's metadata) and the files beside it."""

from __future__ import annotations

from pathlib import Path

import nbformat

from builder.cells import Assignment, Cell
from builder.reference_code import REFERENCE, Source
from builder.student_checks import render_checker
from grader import notebook_contract as contract
from grader.notebook_contract import PACKAGE_MODULES

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _metadata(cell: Cell) -> dict[str, object]:
    meta: dict[str, object] = {}
    if cell.module in PACKAGE_MODULES:
        meta[contract.KEY] = {contract.MODULE: cell.module}
    if cell.timeout is not None:
        meta[contract.KEY] = {contract.TIMEOUT: cell.timeout}
    if cell.grade_id is None:
        return meta
    nb = {"grade_id": cell.grade_id, "schema_version": 3, "task": False}
    if cell.role == "given":
        nb |= {"grade": False, "solution": False, "locked": True}
    elif cell.role == "solution":
        nb |= {"grade": False, "solution": True, "locked": False}
    elif cell.role == "test":
        nb |= {"grade": True, "solution": False, "locked": True, "points": _number(cell.points)}
    elif cell.role == "written":
        nb |= {"grade": True, "solution": True, "locked": False, "points": _number(cell.points)}
    meta["nbgrader"] = nb
    return meta


def to_notebook(assignment: Assignment, reference: Path = REFERENCE) -> nbformat.NotebookNode:
    """The source notebook. Cell ids are stable (grade ids, or the position) so a
    rebuild is byte for byte the same."""
    cells = []
    for index, cell in enumerate(assignment.cells):
        cid = (cell.grade_id or f"cell-{index:03d}").replace("_", "-")
        make = nbformat.v4.new_code_cell if cell.kind == "code" else nbformat.v4.new_markdown_cell
        cells.append(make(cell.source, id=cid, metadata=_metadata(cell)))
    prologue = {
        module: "\n".join(["from __future__ import annotations", *Source.load(module, reference).package_imports()])
        for module in PACKAGE_MODULES
    }
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        contract.KEY: {
            contract.ASSIGNMENT: assignment.name,
            contract.TASKS: assignment.tasks,
            contract.PROLOGUE: prologue,
        },
    }
    nbformat.validate(nb)
    return nb


def requirements_txt(assignment: Assignment) -> str:
    """What a student installs to run the notebook from its folder alone."""
    lines = [
        f"# {assignment.name}: what this notebook needs, in a fresh virtualenv: pip install -r requirements.txt",
        "# The check cells need only Python (micrograd_check/ is beside the notebook); the course kit is not needed.",
        "jupyterlab>=4",
        *assignment.requirements,
    ]
    return "\n".join(lines) + "\n"


def folder_files(assignment: Assignment, repo: Path) -> dict[str, str]:
    """The files beside an assignment's notebook: its public checks and its requirements."""
    return {**render_checker(repo, assignment.tasks), "requirements.txt": requirements_txt(assignment)}
