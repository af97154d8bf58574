"""Reading the reference: its modules, and the cutters that take definitions out of them for notebook cells.

A cutter returns lines of module code (a class without some methods, methods
moved to module level, a module's header...), never touching what is inside
the solution markers: builder/cells.py decides what becomes of those.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder import REPO
from builder.markers import BuildError, parse_regions

REFERENCE = REPO / "reference" / "micrograd"

# Lines that cannot live in a notebook cell: intra-package imports would load
# the installed reference instead of the student's own cells, and a
# `__future__` import must be the first statement of a module (the setup cell
# holds it; IPython keeps future flags for later cells).
PACKAGE_IMPORT_RE = re.compile(r"^(from micrograd(\.\w+)* import .*|import micrograd\b.*)$")
FUTURE_RE = re.compile(r"^from __future__ import .*$")


@dataclass(frozen=True)
class Source:
    """One reference module: its lines and the line span of each definition."""

    module: str
    path: Path
    lines: list[str]
    tree: ast.Module

    @classmethod
    def load(cls, module: str, root: Path = REFERENCE) -> Source:
        path = root / f"{module}.py"
        text = path.read_text(encoding="utf-8")
        parse_regions(path, text)  # refuse malformed markers early, with file:line
        return cls(module, path, text.splitlines(), ast.parse(text))

    def span(self, name: str, cls_name: str | None = None) -> tuple[int, int]:
        """1-based (first, last) lines of a top-level definition or of a method
        (all its definitions: a property's getter and setter form one span)."""
        body = self.tree.body if cls_name is None else self._class(cls_name).body
        spans = [
            (min([n.lineno] + [d.lineno for d in n.decorator_list]), self._body_end(n))
            for n in body
            if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == name
        ]
        if not spans:
            where = f"class {cls_name}" if cls_name else "module"
            raise BuildError(self.path, 1, f"no definition of {name!r} in {where}")
        return min(s for s, _ in spans), max(e for _, e in spans)

    def _body_end(self, node: ast.FunctionDef | ast.ClassDef) -> int:
        """A definition's last line, including trailing comments indented
        inside it: the AST ends at the last statement, before a closing
        `### END SOLUTION`."""
        end = node.end_lineno or node.lineno
        indent = len(self.lines[node.lineno - 1]) - len(self.lines[node.lineno - 1].lstrip())
        while end < len(self.lines):
            line = self.lines[end]
            if not line.strip().startswith("#") or len(line) - len(line.lstrip()) <= indent:
                break
            end += 1
        return end

    def _class(self, name: str) -> ast.ClassDef:
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                return node
        raise BuildError(self.path, 1, f"no class {name!r}")

    def text(self, first: int, last: int) -> list[str]:
        return self.lines[first - 1 : last]

    def first_definition_line(self) -> int:
        """Where the module's header (docstring, imports, constants) ends."""
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                return min([node.lineno] + [d.lineno for d in node.decorator_list])
        return len(self.lines) + 1

    def package_imports(self) -> list[str]:
        """The module's own `from micrograd... import` lines (at top level)."""
        return [line for line in self.lines if PACKAGE_IMPORT_RE.match(line)]


def strip_trailing_section_comments(lines: list[str]) -> list[str]:
    """Drop a dangling section comment (`# ---- primitives`) at the end of a chunk."""
    out = list(lines)
    while out and (not out[-1].strip() or out[-1].strip().startswith("# ---")):
        out.pop()
    return out


def drop_spans(lines: list[str], offset: int, spans: Iterable[tuple[int, int]]) -> list[str]:
    """`lines` (whose first is line `offset`) without the given spans and the
    section comments and blank lines right above each of them."""
    keep = [True] * len(lines)
    for first, last in spans:
        for n in range(first, last + 1):
            keep[n - offset] = False
        n = first - 1
        while n >= offset and (not lines[n - offset].strip() or lines[n - offset].strip().startswith("# ---")):
            keep[n - offset] = False
            n -= 1
    return [line for line, k in zip(lines, keep) if k]


def squeeze_blank_lines(lines: list[str]) -> list[str]:
    """At most two blank lines in a row, none at either end."""
    out: list[str] = []
    for line in lines:
        if not line.strip() and len(out) >= 2 and not out[-1].strip() and not out[-2].strip():
            continue
        out.append("" if not line.strip() else line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def method_cell(src: Source, cls_name: str, names: Sequence[str]) -> list[str]:
    """Methods of a class, moved into a cell of their own: dedented to module
    level, then attached to the class (`Value.__add__ = __add__`)."""
    out: list[str] = []
    for name in names:
        first, last = src.span(name, cls_name)
        out += textwrap.dedent("\n".join(src.text(first, last))).splitlines()
        out += ["", "", f"{cls_name}.{name} = {name}", "", ""]
    return squeeze_blank_lines(out)


def class_cell(src: Source, cls_name: str, without: Sequence[str] = ()) -> list[str]:
    """A class as in the reference, minus the methods given in other cells."""
    first, last = src.span(cls_name)
    lines = src.text(first, last)
    return squeeze_blank_lines(drop_spans(lines, first, [src.span(m, cls_name) for m in without]))


def header_cell(src: Source) -> list[str]:
    """The module's docstring, imports and constants (everything before its first definition)."""
    return squeeze_blank_lines(strip_trailing_section_comments(src.text(1, src.first_definition_line() - 1)))


def prefix_cell(src: Source, before: str) -> list[str]:
    """Everything above a definition: docstring, imports, helpers."""
    return squeeze_blank_lines(strip_trailing_section_comments(src.text(1, src.span(before)[0] - 1)))


def definitions(src: Source, names: Sequence[str]) -> list[str]:
    """Top-level definitions, in the order given, as in the reference."""
    out: list[str] = []
    for name in names:
        out.extend([*src.text(*src.span(name)), "", ""])
    return squeeze_blank_lines(out)


def joined(*chunks: list[str]) -> list[str]:
    """Chunks of module code, two blank lines apart (as between definitions)."""
    out: list[str] = []
    for chunk in chunks:
        out.extend([*chunk, "", ""])
    return squeeze_blank_lines(out)


def whole_module(src: Source) -> list[str]:
    return squeeze_blank_lines(src.lines)
