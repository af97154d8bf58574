"""The chroot jail of the `uid` mode: the Python runtime and nothing else.

When the grader runs as root without bubblewrap (a grading container, such as
Gradescope's), each child runs chrooted into a folder that holds only what
Python needs to start (the interpreter, its shared libraries, the standard
library without site-packages), the runner in `/grader` and the clean copy of
the submission in `/submission`, all owned by root and read-only to the
child's unprivileged uid. The kit, the reference, the reports, the secret, the
class folder, `/proc` and every other student are simply not in it.

Files are hard-linked where the jail shares a file system with the runtime
(instant, no space), copied otherwise. One jail per sandbox (per worker).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

# Parts of the standard library a child never needs (tests, GUIs, installers).
SKIP_DIRS = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages", "dist-packages",
             "lib2to3", "__phello__", "pydoc_data"}  # fmt: skip
UID_BASE = 61000
UID_SLOTS = 64
LOCK_DIR = Path(tempfile.gettempdir()) / "micrograd-grader-uids"


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _shared_libraries(files: list[Path]) -> set[Path]:
    """Every shared library the interpreter and the stdlib's extension modules load."""
    ldd = shutil.which("ldd")
    if not ldd:
        raise OSError("ldd is missing: cannot find the libraries Python needs inside the jail")
    found: set[Path] = set()
    for i in range(0, len(files), 200):
        run = subprocess.run([ldd, *map(str, files[i : i + 200])], capture_output=True, text=True, timeout=60)
        for match in re.finditer(r"(/\S+\.so[^\s:]*)", run.stdout):
            path = Path(match.group(1))
            if path.is_file():
                found.add(path)
    return found


def build_jail(python: str, allowed: list[Path] | None = None) -> Path:
    """A fresh jail folder holding the runtime (and the allowed packages under
    /allowed/); the caller removes it when done."""
    jail = Path(tempfile.mkdtemp(prefix="grader-jail-"))
    os.chmod(jail, 0o755)
    exe = Path(python).resolve()
    _place(exe, jail / exe.relative_to("/"))
    binaries = [exe]
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib"):
        base = Path(paths[key]).resolve()
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for name in filenames:
                src = here / name
                if src.is_symlink() or not src.is_file():
                    continue
                _place(src, jail / src.relative_to("/"))
                if name.endswith(".so"):
                    binaries.append(src)
    for folder in allowed or []:
        for src in folder.rglob("*"):
            if src.is_file() and not src.is_symlink():
                _place(src, jail / "allowed" / folder.name / src.relative_to(folder))
                if ".so" in src.suffixes:
                    binaries.append(src)
    for lib in _shared_libraries(binaries):
        real = lib.resolve()
        if any(real.is_relative_to(folder) for folder in allowed or []):
            continue  # bundled with an allowed package (numpy.libs), found through its $ORIGIN
        _place(real, jail / real.relative_to("/"))
        alias = jail / lib.relative_to("/")
        if real != lib and not os.path.lexists(alias):
            alias.parent.mkdir(parents=True, exist_ok=True)
            alias.symlink_to(real)
    for sub in ("grader", "submission"):
        (jail / sub).mkdir(mode=0o755)
    for dirpath, dirnames, _ in os.walk(jail):
        for d in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(Path(dirpath) / d, 0o755)
    return jail


class UidSlot:
    """An unprivileged uid that no other running sandbox uses (held by a file lock)."""

    def __init__(self) -> None:
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        for k in range(UID_SLOTS):
            fd = os.open(LOCK_DIR / f"{k}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.fd, self.uid = fd, UID_BASE + k
            return
        raise OSError(f"all {UID_SLOTS} sandbox uids are in use")

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
