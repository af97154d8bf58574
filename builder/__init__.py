"""Everything generated from the reference: the student skeleton and the nbgrader course.

Run `python -m builder all` (what `nox -s build` does); `python -m builder --help`
lists the steps. Each step is one entry of `builder.__main__.STEPS` and gets a
`Context`: where the reference is, where to write.

    markers.py         the solution-marker grammar (the only one)
    skeleton.py        student/: stubs, public tests, README (task notes: prose/student_tasks.md)
    student_checks.py  micrograd_check/: the public checks with stored answers (runtime in checker/)
    reference_code.py  reading the reference and cutting definitions out of it
    cells.py           the cell model (a notebook before it is JSON)
    course.py          the three assignments (their prose: prose/<assignment>.md)
    notebook_json.py   notebooks as JSON, with grader/notebook_contract.py's metadata
    samples.py         the sample submissions
    notebooks.py       the notebooks step: source/, release/ (nbgrader), submitted/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Context:
    """What a build step reads and where it writes."""

    root: Path = REPO  # outputs go under here: the repository, or a scratch folder (--out)
    reference: Path = REPO / "reference"  # the reference project: pyproject.toml, micrograd/, tests/
    repo: Path = REPO  # the kit itself (its pyproject.toml holds the ruff settings)
