"""Intake: find the submissions of a class, unpack them safely, find the package, precheck it.

SUBMISSIONS holds one entry per student, named by student id: a folder with a
`micrograd/` package, or a `.zip` of one. A zip is unpacked into a temporary
folder only if no member escapes it (absolute paths, `..`, links) and it stays
under the size and member caps.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import stat
import sys
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.types import CleanCopy, Upload

MODULE_FILES = ("engine", "nn", "train")
MAX_FILE_BYTES = 5_000_000
ZIP_MAX_BYTES = 20_000_000
ZIP_MAX_MEMBERS = 2_000


class SubmissionError(Exception):
    """A submission that cannot be graded at all; the message says why."""


@dataclass(frozen=True)
class Entry:
    """One student's entry in the class folder."""

    student: str
    """The id reports are filed under (a safe folder name)."""
    path: Path
    """A folder or a .zip."""
    problem: str = ""
    """Why this entry cannot be graded at all (e.g. two entries share its id); it still gets a row."""


def student_id(name: str) -> str:
    """A safe folder name for the reports (letters, digits, `.`, `_`, `-`)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "unnamed"


def discover(root: Path) -> tuple[list[Entry], list[str]]:
    """The class's entries, and warnings about anything skipped.

    Two entries whose names map to the same id (`_control` and `control`) are
    both refused with a message naming both: grading either would silently
    replace the other's row."""
    if not root.is_dir():
        raise SubmissionError(f"{root} is not a folder of submissions")
    by_id: dict[str, list[Path]] = {}
    warnings: list[str] = []
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink():  # it could point anywhere, the reference included
            warnings.append(f"skipped {path.name}: a link, not a submission (copy the files in instead)")
            continue
        if path.is_dir():
            name = path.name
        elif path.suffix.lower() in (".zip", ".ipynb") and path.is_file():
            name = path.stem
        else:
            warnings.append(f"skipped {path.name}: not a folder, a .zip or a notebook")
            continue
        by_id.setdefault(student_id(name), []).append(path)
    entries = []
    for sid, paths in by_id.items():
        if len(paths) == 1:
            entries.append(Entry(sid, paths[0]))
            continue
        names = " and ".join(f"`{p.name}`" for p in paths)
        problem = f"{names} both map to the student id `{sid}`: rename one of them and grade again"
        warnings.append(problem)
        entries += [Entry(sid, p, problem) for p in paths[:1]]
    if not entries:
        warnings.append(f"{root} holds no submissions (expected one folder or .zip per student)")
    return entries, warnings


def safe_unzip(archive: Path, dest: Path) -> None:
    """Unpack `archive` into `dest`, refusing anything that could escape it."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive.name} is not a valid zip file ({exc})") from None
    with zf:
        members = zf.infolist()
        if len(members) > ZIP_MAX_MEMBERS:
            raise SubmissionError(f"{archive.name} has {len(members)} files; the limit is {ZIP_MAX_MEMBERS}")
        total = 0
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or re.match(r"^[A-Za-z]:", m.filename):
                raise SubmissionError(f"{archive.name}: member {m.filename!r} would be written outside the folder")
            mode = m.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise SubmissionError(f"{archive.name}: member {m.filename!r} is a symbolic link")
            total += m.file_size
            if total > ZIP_MAX_BYTES:
                raise SubmissionError(f"{archive.name} unpacks to more than {ZIP_MAX_BYTES // 1_000_000} MB")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            _extract(zf, members, archive.name, dest)
        except (OSError, RuntimeError, NotImplementedError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            # Encrypted members, bad CRCs, a file and a folder of the same name, ...
            raise SubmissionError(f"{archive.name} could not be unpacked ({type(exc).__name__}: {exc})") from None


def _extract(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], name: str, dest: Path) -> None:
    written = 0
    for m in members:
        target = dest / PurePosixPath(m.filename.replace("\\", "/"))
        if m.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(m) as src, open(target, "wb") as out:
            # Count real bytes: the sizes in the directory can lie.
            while chunk := src.read(65536):
                written += len(chunk)
                if written > ZIP_MAX_BYTES:
                    raise SubmissionError(f"{name} unpacks to more than {ZIP_MAX_BYTES // 1_000_000} MB")
                out.write(chunk)


def find_package(root: Path) -> Path | None:
    """The folder that holds `micrograd/` (the root itself, or up to two levels down)."""
    real_root = root.resolve()
    for depth in range(3):
        for engine in sorted(root.glob("/".join(["*"] * depth + ["micrograd", "engine.py"]))):
            # A link could point the grader at another folder (the reference, say): refuse any.
            inside = engine.resolve().is_relative_to(real_root) and not any(
                p.is_symlink() for p in [engine, *engine.parents] if p.is_relative_to(root) and p != root
            )
            if inside and "__MACOSX" not in engine.parts:
                return engine.parent.parent
    return None


# ---------------------------------------------------------------- uploads


def _listing(folder: Path, limit: int = 12) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not p.name.startswith("."))
    if not names:
        return "the folder is empty"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return "the folder holds: " + ", ".join(names[:limit]) + more


def _loose_files(root: Path) -> Path | None:
    """The folder (up to two levels down) holding a loose engine.py, if any."""
    for depth in range(3):
        for engine in sorted(root.glob("/".join(["*"] * depth + ["engine.py"]))):
            linked = any(p.is_symlink() for p in engine.parents if p.is_relative_to(root) and p != root)
            if engine.is_file() and not engine.is_symlink() and "__MACOSX" not in engine.parts and not linked:
                return engine.parent
    return None


COURSE = Path(__file__).resolve().parent.parent / "assignments"


def locate(path: Path, workdir: Path, course: Path = COURSE) -> Upload:
    """Find the micrograd package in an upload, however it was handed in.

    Accepted: a `micrograd/` package up to two levels down; loose `engine.py`,
    `nn.py`, `train.py`; a zip of either; a folder holding exactly one zip; an
    assignment's notebook (`.ipynb`, rebuilt as the notebook path does, graded
    on that assignment's tasks). Raises SubmissionError, with one message
    naming what the upload holds, when nothing is gradable."""
    if path.is_file() and path.suffix.lower() == ".ipynb":
        return _notebook(path, workdir, course)
    if path.is_file():
        unpacked = workdir / "unzipped"
        safe_unzip(path, unpacked)
        path = unpacked
    root = find_package(path)
    if root is not None:
        return Upload(root)
    loose = _loose_files(path)
    if loose is not None:
        package = workdir / "loose" / "micrograd"
        package.mkdir(parents=True)
        found = []
        for name in (*MODULE_FILES, "__init__"):
            src = loose / f"{name}.py"
            if src.is_file() and not src.is_symlink() and src.stat().st_size <= MAX_FILE_BYTES:
                shutil.copyfile(src, package / src.name)
                found.append(src.name)
        return Upload(package.parent, [f"Graded the loose files {', '.join(found)} as the micrograd package."])
    inner = [p for p in path.iterdir() if p.suffix.lower() in (".zip", ".ipynb") and p.is_file() and not p.is_symlink()]
    if len(inner) == 1 and not (workdir / "inner").exists():
        (workdir / "inner").mkdir()
        found = locate(inner[0], workdir / "inner", course)
        found.notes.insert(0, f"Graded {inner[0].name}, found in the upload.")
        return found
    raise SubmissionError(f"no micrograd/engine.py and no engine.py was found; {_listing(path)}")


def _notebook(path: Path, workdir: Path, course: Path) -> Upload:
    """A completed notebook of one of the course's assignments, rebuilt into a package."""
    from grader.notebook_contract import notebook_meta
    from grader.notebooks import extract_package, source_notebook

    try:
        submitted = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(submitted, dict):
            raise ValueError("the top level is not a JSON object")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SubmissionError(f"{path.name} is not a valid notebook file ({exc})") from None
    sources = course / "source"
    assignments = sorted(p.name for p in sources.iterdir() if p.is_dir()) if sources.is_dir() else []
    name = str(notebook_meta(submitted).get("assignment", ""))
    if name not in assignments:
        name = next((a for a in assignments if path.stem.startswith(a) or a.startswith(path.stem)), "")
    if not name:
        raise SubmissionError(f"{path.name} is not one of the course's notebooks ({', '.join(assignments)})")
    source = source_notebook(course, name)
    notes = extract_package(source, submitted, workdir / "notebook")
    tasks = [str(t) for t in notebook_meta(source).get("tasks", [])] or None
    return Upload(workdir / "notebook", [f"Rebuilt the package from the notebook {path.name} ({name}).", *notes], tasks)


# ---------------------------------------------------------------- the clean copy

SOURCE_SUFFIX = ".py"
COPY_MAX_FILES = 200


def allowed_modules(extra: Iterable[str] = ()) -> frozenset[str]:
    """Top-level modules graded code may import: the standard library, micrograd, and `extra`."""
    return frozenset(sys.stdlib_module_names) | {"micrograd", "__future__"} | set(extra)


def imports_outside(path: Path, text: str, allowed: frozenset[str]) -> list[tuple[str, int]]:
    """(module, line) of every import of a module not in `allowed` (relative imports are fine)."""
    try:
        tree = ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError):
        return []  # the child reports syntax errors with their location
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        found += [(n, node.lineno) for n in names if n.split(".")[0] not in allowed]
    return found


def clean_copy(package_root: Path, dest: Path, allowed: frozenset[str] | None = None) -> CleanCopy:
    """Copy exactly what is graded: the `.py` files under micrograd/, regular files
    only, each UTF-8 and under the size cap. Bytecode, extension modules, `.pth`
    files and everything else are left out, with a note naming them."""
    allowed = allowed if allowed is not None else allowed_modules()
    copy = CleanCopy(root=dest)
    package = package_root / "micrograd"
    ignored: list[str] = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package_root)
        if path.is_symlink():
            ignored.append(f"{rel} (a link)")
            continue
        if path.is_dir() or ("__pycache__" in rel.parts and not path.is_file()):
            continue
        if not path.is_file():
            ignored.append(f"{rel} (not a regular file)")
            continue
        if path.suffix != SOURCE_SUFFIX or "__pycache__" in rel.parts:
            ignored.append(str(rel))
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            copy.problems[path.stem] = f"{rel} is larger than {MAX_FILE_BYTES // 1_000_000} MB"
            continue
        if len(copy.files) >= COPY_MAX_FILES:
            ignored.append(f"{rel} (more than {COPY_MAX_FILES} files)")
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            copy.problems[path.stem] = (
                f"{rel} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8"
            )
            continue
        graded = rel.parent == Path("micrograd") and path.stem in (*MODULE_FILES, "__init__")
        for module, line in imports_outside(rel, text, allowed) if graded else []:
            copy.problems.setdefault(
                path.stem,
                f"{rel}, line {line}: `import {module}` is not allowed: graded code may import only Python's "
                "standard library and micrograd itself (the grader has nothing else installed); remove it",
            )
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
        copy.files[str(rel)] = raw
    for name in MODULE_FILES:
        rel = f"micrograd/{name}.py"
        if rel not in copy.files and name not in copy.problems:
            link = (package / f"{name}.py").is_symlink()
            copy.problems[name] = f"{rel} is missing" + (" (a link is not accepted)" if link else "")
    init = dest / "micrograd" / "__init__.py"
    if not init.exists():
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_text("", encoding="utf-8")
    if ignored:
        shown = ", ".join(ignored[:8]) + (f", ... ({len(ignored) - 8} more)" if len(ignored) > 8 else "")
        copy.notes.append(f"Only .py source files are graded; ignored: {shown}.")
    return copy
