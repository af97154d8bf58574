"""Intake: find the submissions of a class, unpack them safely, find the package, precheck it.

SUBMISSIONS holds one entry per student, named by student id: a folder with a
`micrograd/` package, or a `.zip` of one. A zip is unpacked into a temporary
folder only if no member escapes it (absolute paths, `..`, links) and it stays
under the size and member caps.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MODULE_FILES = ("engine", "nn", "train")
MAX_FILE_BYTES = 5_000_000
ZIP_MAX_BYTES = 20_000_000
ZIP_MAX_MEMBERS = 2_000


class SubmissionError(Exception):
    """A submission that cannot be graded at all; the message says why."""


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path  # a folder or a .zip


def student_id(name: str) -> str:
    """A safe folder name for the reports (letters, digits, `.`, `_`, `-`)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "unnamed"


def discover(root: Path) -> tuple[list[Entry], list[str]]:
    """The class's entries, and warnings about anything skipped."""
    if not root.is_dir():
        raise SubmissionError(f"{root} is not a folder of submissions")
    entries: dict[str, Entry] = {}
    warnings: list[str] = []
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink():  # it could point anywhere, the reference included
            warnings.append(f"skipped {path.name}: a link, not a submission (copy the files in instead)")
            continue
        if path.is_dir():
            name = path.name
        elif path.suffix.lower() == ".zip":
            name = path.stem
        else:
            warnings.append(f"skipped {path.name}: not a folder or a .zip")
            continue
        sid = student_id(name)
        if sid in entries:
            warnings.append(f"skipped {path.name}: another entry is already named {sid}")
            continue
        entries[sid] = Entry(sid, path)
    if not entries:
        warnings.append(f"{root} holds no submissions (expected one folder or .zip per student)")
    return list(entries.values()), warnings


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
                        raise SubmissionError(f"{archive.name} unpacks to more than {ZIP_MAX_BYTES // 1_000_000} MB")
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


def precheck(package_root: Path) -> dict[str, str]:
    """Problems per module file, found without running anything."""
    problems: dict[str, str] = {}
    for name in MODULE_FILES:
        path = package_root / "micrograd" / f"{name}.py"
        if path.is_symlink() or not path.is_file():
            link = " (a link is not accepted)" if path.is_symlink() else ""
            problems[name] = f"micrograd/{name}.py is missing{link}"
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            problems[name] = f"micrograd/{name}.py is larger than {MAX_FILE_BYTES // 1_000_000} MB"
            continue
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            problems[name] = (
                f"micrograd/{name}.py is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8"
            )
    return problems
