"""The build CLI: `python -m builder STEP|all [--out DIR] [--check]`.

Steps are a registry: a step is a function that writes its outputs under a
root folder, plus the paths (relative to that root) it owns. Adding one is one
entry in STEPS; `all` runs every step in registration order, so a step may use
what an earlier one wrote under the same root.

    python -m builder all              regenerate everything in the repository
    python -m builder skeleton --out /tmp/x    write /tmp/x/student instead
    python -m builder all --check      build into a scratch folder and list what
                                       differs from the committed output (exit 1)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder import REPO, Context, notebooks, skeleton
from builder.markers import BuildError
from builder.tree import compare_trees


@dataclass(frozen=True)
class Step:
    """One build step: `build(context)` writes `outputs` (relative to context.root) and returns what changed."""

    build: Callable[[Context], list[str]]
    outputs: tuple[str, ...]
    help: str


STEPS: dict[str, Step] = {  # name -> step, in build order
    "skeleton": Step(skeleton.build, (skeleton.OUTPUT,), "student/: stubs, public tests, pyproject.toml, README.md"),
    "notebooks": Step(notebooks.build, notebooks.OUTPUTS, "assignments/: nbgrader source, release, samples"),
}


def run(names: Sequence[str], out: Path | None = None, check: bool = False, reference: Path | None = None) -> int:
    """Run the named steps; return the exit status (1 on a build error or, with check, on drift)."""
    reference = (reference or REPO / "reference").resolve()
    try:
        if not check:
            root = out or REPO
            for name in names:
                changed = STEPS[name].build(Context(root=root, reference=reference))
                summary = f"{len(changed)} file(s) changed" if changed else "up to date"
                print(f"{name}: {summary} under {root}")
                for file in changed:
                    print(f"  {file}")
            return 0
        committed = out or REPO
        drift: list[str] = []
        with tempfile.TemporaryDirectory(prefix="builder-check-") as scratch:
            for name in names:
                STEPS[name].build(Context(root=Path(scratch), reference=reference))
            for name in names:
                for output in STEPS[name].outputs:
                    problems = compare_trees(Path(scratch) / output, committed / output)
                    drift += [f"{output}/{problem}" for problem in problems]
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if drift:
        print("The committed output differs from a fresh build (run `nox -s build` and commit):", file=sys.stderr)
        for problem in drift:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{', '.join(names)}: the committed output matches a fresh build")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the steps."""
    parser = argparse.ArgumentParser(prog="python -m builder", description=__doc__.split("\n\n")[0])
    choices = [*STEPS, "all"]
    parser.add_argument(
        "step",
        choices=choices,
        help="; ".join(f"{name}: {step.help}" for name, step in STEPS.items()) + "; all: every step, in this order",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="write under DIR, not the repository (with --check: compare DIR)"
    )
    parser.add_argument("--check", action="store_true", help="build in a scratch folder; exit 1 listing drifted files")
    parser.add_argument(
        "--reference", type=Path, metavar="DIR", help="build from this reference project (default: reference/)"
    )
    args = parser.parse_args(argv)
    names = list(STEPS) if args.step == "all" else [args.step]
    return run(names, args.out, args.check, args.reference)


if __name__ == "__main__":
    sys.exit(main())
