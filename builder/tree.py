"""Writing and comparing generated trees: shared by every build step.

A step renders its output into memory as {relative path: text} and
`sync_tree` writes it; `compare_trees` compares two trees on disk (a fresh
build with the committed output, for `--check`). Both skip the
files tools leave behind (caches, egg-info from `pip install -e`), which are
not part of the build.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from pathlib import Path

# Produced by running or installing the output, never by the build.
IGNORED = ("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.egg-info", "build", "dist")


def is_ignored(relative: Path) -> bool:
    """Whether a path inside a generated tree is a tool's leftover, not build output."""
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in IGNORED)


def walk(root: Path) -> Iterator[Path]:
    """Every file under `root` that is build output, as sorted paths relative to `root`."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not is_ignored(relative):
            yield relative


def sync_tree(files: Mapping[str, str], root: Path) -> list[str]:
    """Make `root` hold exactly `files` (plus ignored leftovers); return what changed.

    Unchanged files are not rewritten, so their timestamps (and editors'
    views of them) stay put. Files are written with LF line endings.
    """
    changed: list[str] = []
    for name in sorted(files):
        path = root / name
        if not path.is_file() or path.read_bytes() != files[name].encode("utf-8"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[name].encode("utf-8"))
            changed.append(name)
    for relative in list(walk(root)):
        if relative.as_posix() not in files:
            (root / relative).unlink()
            changed.append(relative.as_posix())
    # Directories emptied by the removals above would be drift too.
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not is_ignored(directory.relative_to(root)) and not any(directory.iterdir()):
            directory.rmdir()
    return sorted(changed)


def compare_trees(expected: Path, actual: Path) -> list[str]:
    """The files where the tree `actual` differs from `expected`: '<name>: changed|missing|not generated'."""
    want = {relative.as_posix() for relative in walk(expected)}
    have = {relative.as_posix() for relative in walk(actual)}
    problems: list[str] = []
    for name in sorted(want | have):
        if name not in have:
            problems.append(f"{name}: missing")
        elif name not in want:
            problems.append(f"{name}: not generated (stale, or added by hand)")
        elif (expected / name).read_bytes() != (actual / name).read_bytes():
            problems.append(f"{name}: changed")
    return problems
