"""Intake: every reasonable upload is found, what is graded is exactly the source, one message otherwise."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from grader.intake import SubmissionError, allowed_modules, clean_copy, imports_outside, locate
from grader.samples import REFERENCE

FILES = ("__init__.py", "engine.py", "nn.py", "train.py")


def loose(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in FILES[1:]:
        shutil.copyfile(REFERENCE / f, folder / f)
    return folder


def zipped(archive: Path, files: dict[str, Path]) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for name, src in files.items():
            zf.write(src, name)
    return archive


@pytest.mark.parametrize(
    "layout",
    ["package", "package two levels down", "loose files", "loose files in a subfolder", "zip of the package",
     "zip of the package's contents", "folder holding one zip"],
)  # fmt: skip
def test_every_reasonable_layout_is_found(tmp_path: Path, layout: str) -> None:
    upload = tmp_path / "upload"
    if layout == "package":
        shutil.copytree(REFERENCE, upload / "micrograd")
    elif layout == "package two levels down":
        shutil.copytree(REFERENCE, upload / "hw1" / "src" / "micrograd")
    elif layout == "loose files":
        loose(upload)
    elif layout == "loose files in a subfolder":
        loose(upload / "my work")
    elif layout == "zip of the package":
        upload = zipped(tmp_path / "upload.zip", {f"micrograd/{f}": REFERENCE / f for f in FILES})
    elif layout == "zip of the package's contents":
        upload = zipped(tmp_path / "upload.zip", {f: REFERENCE / f for f in FILES})
    else:
        upload.mkdir()
        zipped(upload / "submission.zip", {f"micrograd/{f}": REFERENCE / f for f in FILES})
    work = tmp_path / "work"
    work.mkdir()
    found = locate(upload, work)
    assert found.root is not None
    copy = clean_copy(found.root, tmp_path / "clean")
    assert {f"micrograd/{f}" for f in ("engine.py", "nn.py", "train.py")} <= set(copy.files)
    assert all(name.endswith(".py") for name in copy.files)
    assert not copy.problems


@pytest.mark.parametrize("kind", ["empty", "other files", "text named zip"])
def test_nothing_gradable_gets_one_message_naming_what_is_there(tmp_path: Path, kind: str) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    if kind == "other files":
        (upload / "notes.txt").write_text("hi")
        (upload / "hw.pdf").write_bytes(b"%PDF")
    if kind == "text named zip":
        upload = tmp_path / "upload.zip"
        upload.write_text("my homework")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(SubmissionError) as info:
        locate(upload, work)
    message = str(info.value)
    expected = {"empty": "the folder is empty", "other files": "hw.pdf, notes.txt", "text named zip": "not a valid zip"}
    assert expected[kind] in message, message


def test_the_clean_copy_holds_source_only(tmp_path: Path) -> None:
    root = tmp_path / "s"
    shutil.copytree(REFERENCE, root / "micrograd")
    (root / "micrograd" / "__pycache__").mkdir(exist_ok=True)
    (root / "micrograd" / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"\x00")
    (root / "micrograd" / "helper.so").write_bytes(b"\x7fELF")
    (root / "micrograd" / "evil.pth").write_text("import os")
    (root / "micrograd" / "nn.py").unlink()
    (root / "micrograd" / "nn.py").symlink_to(REFERENCE / "nn.py")
    copy = clean_copy(root, tmp_path / "clean")
    assert not list((tmp_path / "clean").rglob("*.pyc")) and not list((tmp_path / "clean").rglob("*.so"))
    assert copy.problems["nn"] == "micrograd/nn.py is missing (a link is not accepted)"
    assert any("engine.cpython-311.pyc" in n and "helper.so" in n and "evil.pth" in n for n in copy.notes)


def test_imports_outside_the_standard_library_are_named_with_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "s"
    shutil.copytree(REFERENCE, root / "micrograd")
    engine = root / "micrograd" / "engine.py"
    engine.write_text("import numpy as np\nimport math, os.path\nfrom . import nn\n" + engine.read_text())
    copy = clean_copy(root, tmp_path / "clean")
    assert copy.problems["engine"].startswith("micrograd/engine.py, line 1: `import numpy` is not allowed")
    assert imports_outside(Path("x.py"), "import json\nfrom micrograd.engine import Value\n", allowed_modules()) == []
    assert imports_outside(Path("x.py"), "import torch\n", allowed_modules(["torch"])) == []
