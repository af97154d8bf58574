"""Everything generated from the reference: the student skeleton (and later the notebooks).

Run `python -m builder all` (what `nox -s build` does); `python -m builder --help`
lists the steps. Each step is one entry of `builder.__main__.STEPS` and gets a
`Context`: where the reference is, where to write.
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
