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
    nox -s gradescope       build Gradescope's autograder zip (`-- --assignment a1_value --out a1.zip`)

Virtualenvs are reused, and the kit is installed into one only when it is new or the
kit's requirements changed (pyproject.toml, reference/pyproject.toml, requirements/):
a repeat run starts at once. `nox -R` also skips that check.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nox

HERE = Path(__file__).resolve().parent
# The CPU build, from PyTorch's CPU wheel index: an unpinned torch pulls gigabytes of CUDA packages.
TORCH_PIN_FILE = "requirements/torch-cpu.txt"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
REQUIREMENTS = ("pyproject.toml", "reference/pyproject.toml", TORCH_PIN_FILE)
STAMP = ".kit-requirements"

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def torch_pin() -> str:
    lines = (HERE / TORCH_PIN_FILE).read_text(encoding="utf-8").splitlines()
    return next(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))


def requirements_digest(*extras: str) -> str:
    """Changes when anything that decides what install_kit installs changes."""
    h = hashlib.sha256(f"{sys.version_info[:2]} {sorted(extras)}".encode())
    for name in REQUIREMENTS:
        h.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    return h.hexdigest()


def install_kit(session: nox.Session, *extras: str) -> None:
    """torch (pinned, CPU), the reference micrograd and the kit (editable, so code changes need no
    reinstall), installed only when the virtualenv is new or the requirements changed."""
    stamp = Path(session.virtualenv.location) / STAMP
    digest = requirements_digest(*extras)
    if stamp.is_file() and stamp.read_text().strip() == digest:
        session.log("The kit is installed and its requirements are unchanged: nothing to install.")
        return
    config = getattr(getattr(session, "_runner", None), "global_config", None)
    if getattr(config, "no_install", False) and getattr(session.virtualenv, "_reused", False):
        return  # nox -R: the user asked for no installs; leave the stamp as it is
    pin = torch_pin()
    have = session.run(
        "python", "-c", "import importlib.metadata as m; print(m.version('torch'))", silent=True, success_codes=[0, 1]
    )
    if not (isinstance(have, str) and have.strip().split("+")[0] == pin.split("==")[1]):
        session.install(pin, "--index-url", TORCH_INDEX)
    session.install("-e", "reference")
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")
    stamp.write_text(digest + "\n")


@nox.session
def tests(session: nox.Session) -> None:
    """The kit's own tests: reference, skeleton, grader, notebooks, Gradescope, Dask."""
    install_kit(session, "test", "dask")
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
def gradescope(session: nox.Session) -> None:
    """Gradescope's autograder zip: `nox -s gradescope -- [--assignment NAME | --tasks 1.1,2.1] [--out F]`."""
    install_kit(session)
    session.run("python", "-m", "grader", "gradescope-bundle", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The performance benchmarks; each prints its figures."""
    install_kit(session)
    session.run("python", "benchmarks/demo_training.py")
    session.run("python", "benchmarks/hand_loop.py")
    session.run("python", "benchmarks/grading.py", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation-test the rubric: grade every mutant of the reference's solutions, write build/mutants/mutants.md.

    `nox -s mutants -- --sample 20` grades a few, spread over the tasks."""
    install_kit(session)
    session.run("python", "-m", "grader.mutants", "--out", "build/mutants", *session.posargs)
