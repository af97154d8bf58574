"""Every entry point of the kit. `nox -l` lists them.

    nox -s grade            grade the embedded sample class into reports/
    nox -s grade -- PATH    grade a real class (a folder of submissions)
    nox -s check            self-check student/ (or `-- PATH`) with the public checks
    nox -s tests            the kit's own tests (what CI runs)
    nox -s demo             train the moons demo, write the plots and a graph
    nox -s build            regenerate student/, the notebooks and the released assignments
    nox -s lint             ruff
    nox -s bench            the performance benchmarks
    nox -s mutants          grade every single-line mutant of the reference; write the mutation table
"""

from __future__ import annotations

import nox

# The CPU build. An unpinned torch pulls gigabytes of CUDA packages.
TORCH = "torch==2.13.0"

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def install_kit(session: nox.Session, *extras: str) -> None:
    """The reference micrograd and the kit (grader, builder), with torch pinned first."""
    session.install(TORCH)
    session.install("-e", "reference")
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """The kit's own tests: reference, skeleton, grader, notebooks."""
    install_kit(session, "test")
    session.run("pytest", *session.posargs)
    session.run("ruff", "check", ".")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the whole repo."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """Train the classic moons demo; write the decision boundary, the curves and a neuron's graph."""
    install_kit(session)
    session.run("python", "-m", "micrograd.demo", *(session.posargs or ["build/demo"]))


@nox.session
def build(session: nox.Session) -> None:
    """Regenerate everything derived from the reference: student/, notebooks, released assignments."""
    install_kit(session)
    session.run("python", "-m", "builder", "all", *session.posargs)


@nox.session
def grade(session: nox.Session) -> None:
    """Grade a class: the embedded sample class by default, or `nox -s grade -- PATH [--out DIR]`."""
    install_kit(session)
    session.run("python", "-m", "grader", "grade", *session.posargs)


@nox.session
def check(session: nox.Session) -> None:
    """Self-check a package with the public checks: `nox -s check -- [PATH]` (default student/)."""
    install_kit(session)
    session.run("python", "-m", "grader", "check", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The performance benchmarks; each prints its figures."""
    install_kit(session)
    session.run("python", "benchmarks/demo_training.py")
    session.run("python", "benchmarks/grading.py", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation-test the rubric: grade every mutant of the reference's solutions, write build/mutants/mutants.md.

    `nox -s mutants -- --sample 20` grades a few, spread over the tasks."""
    install_kit(session)
    session.run("python", "-m", "grader.mutants", "--out", "build/mutants", *session.posargs)
