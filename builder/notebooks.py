"""Build the nbgrader course in assignments/ from the reference package.

One source of truth: every code cell that defines part of the package is cut
out of reference/micrograd/*.py. The regions of an assignment's own tasks keep
their solution markers (nbgrader's `### BEGIN SOLUTION`, which it matches as a
substring, so the reference's `### BEGIN SOLUTION [1.1] ...` works as is);
regions of earlier tasks are given as solved code without markers; code of
later tasks does not appear at all (a BuildError says so if it would).

    python -m builder notebooks            write assignments/source, release/ and submitted/
    python -m builder notebooks --check    fail if the committed files differ from a fresh build

Each definitional cell carries `"micrograd": {"module": "engine"}` in its
metadata, and each notebook lists its tasks and the imports each module needs
(`"micrograd": {"tasks": [...], "prologue": {...}}`): grader/notebooks.py
rebuilds a `micrograd/` package from a submission with them.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import nbformat

from builder import REPO, Context
from builder.cells import TASK_POINTS, Assignment, Cell
from builder.course import course
from builder.notebook_json import folder_files, to_notebook
from builder.reference_code import REFERENCE, Source
from builder.samples import SAMPLES, Sample, sample_notebook, solved
from builder.tree import sync_tree, walk
from grader.notebooks import run_nbgrader

__all__ = ["COURSE", "OUTPUTS", "REFERENCE", "SAMPLES", "TASK_POINTS", "Assignment", "Cell", "Sample", "Source",
           "build", "course", "sample_notebook", "solved", "to_notebook"]  # fmt: skip

COURSE = REPO / "assignments"


def generate_release(course_root: Path, names: Sequence[str]) -> None:
    """`nbgrader generate_assignment --force` for each assignment (without
    --force nbgrader silently keeps an existing release)."""
    proc = run_nbgrader(course_root, "release", *names)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment {' '.join(names)} failed:\n{proc.stderr[-3000:]}")


# What the step writes under the root it is given (the registry's `outputs`).
# nbgrader_config.py is hand-written: the step copies it into a scratch root.
OUTPUTS = ("assignments/source", "assignments/release", "assignments/submitted")
CONFIG = "nbgrader_config.py"


def build(ctx: Context | None = None) -> list[str]:
    """Write assignments/source, release (with nbgrader) and the sample
    submissions under `ctx.root`; return the files that changed."""
    ctx = ctx or Context()
    reference = ctx.reference / "micrograd"
    course_root = ctx.root / "assignments"
    course_root.mkdir(parents=True, exist_ok=True)
    if (course_root / CONFIG).resolve() != (COURSE / CONFIG).resolve():
        shutil.copyfile(COURSE / CONFIG, course_root / CONFIG)
    assignments = course(reference)
    sources = {a.name: to_notebook(a, reference) for a in assignments}
    files = {f"{a}/{a}.ipynb": nbformat.writes(nb) + "\n" for a, nb in sources.items()}
    for a in assignments:
        # nbgrader copies every other file of source/<a>/ into release/<a>/ (and, trusted, into autograded/).
        files |= {f"{a.name}/{name}": text for name, text in folder_files(a, ctx.repo).items()}
    changed = [f"source/{name}" for name in sync_tree(files, course_root / "source")]
    before = {rel: (course_root / "release" / rel).read_bytes() for rel in map(str, walk(course_root / "release"))}
    generate_release(course_root, list(sources))
    after = {rel: (course_root / "release" / rel).read_bytes() for rel in map(str, walk(course_root / "release"))}
    changed += [f"release/{rel}" for rel in sorted(set(before) | set(after)) if before.get(rel) != after.get(rel)]
    releases = {a: nbformat.read(course_root / "release" / a / f"{a}.ipynb", as_version=4) for a in sources}
    samples = {
        f"{s.student}/{s.assignment}/{s.assignment}.ipynb": sample_notebook(
            s, sources[s.assignment], releases[s.assignment]
        )
        for s in SAMPLES
    }
    changed += [f"submitted/{name}" for name in sync_tree(samples, course_root / "submitted")]
    return [f"assignments/{name}" for name in changed]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m builder.notebooks`: the same as `python -m builder notebooks`."""
    for name in build():
        print(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
