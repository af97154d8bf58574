"""Build the nbgrader course in assignments/ from the reference package.

One source of truth: every code cell that defines part of the package is cut
out of reference/micrograd/*.py. The regions of an assignment's own tasks keep
their solution markers (nbgrader's `### BEGIN SOLUTION`, which it matches as a
substring, so the reference's `### BEGIN SOLUTION [1.1] ...` works as is);
regions of earlier tasks are given as solved code without markers; code of
later tasks does not appear at all (a BuildError says so if it would).

    python -m builder notebooks            write assignments/source, release/ and submitted/
    python -m builder notebooks --check    fail if the committed files differ from a fresh build

Each definitional cell carries `"micrograd": {"module": "engine"}` in its
metadata, and each notebook lists its tasks and the imports each module needs
(`"micrograd": {"tasks": [...], "prologue": {...}}`): grader/notebooks.py
rebuilds a `micrograd/` package from a submission with them.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from builder import Context
from builder.markers import BuildError, parse_regions
from builder.student_checks import render_checker
from builder.tree import sync_tree, walk
from grader import notebook_contract as contract
from grader.notebook_contract import PACKAGE_MODULES
from grader.notebooks import run_nbgrader
from grader.rubric import build as build_rubric
from grader.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "micrograd"
COURSE = ROOT / "assignments"
# A demo cell that runs the student's graph code on a few nodes: milliseconds when
# right, so an endless loop there is cut short (the notebook's other cells have CELL_TIMEOUT).
DEMO_TIMEOUT = 10

WRITTEN_POINTS = 2
# requirements.txt lines for a notebook that compares with PyTorch.
TORCH_REQUIREMENT = [
    "# PyTorch's CPU build (the default one pulls gigabytes of CUDA packages): the index below has it.",
    "--extra-index-url https://download.pytorch.org/whl/cpu",
    "torch==2.13.0",
]


def task_points() -> dict[str, tuple[float, float]]:
    """(public, hidden) points of each task in the sandbox: its nbgrader cells are worth the same,
    so nbgrader's total and the sandbox's are on one scale."""
    points: dict[str, list[float]] = {task: [0.0, 0.0] for task in TASKS}
    for c in build_rubric(0):
        points[c.task][1 if c.hidden else 0] += c.points
    return {task: (public, hidden) for task, (public, hidden) in points.items()}


TASK_POINTS = task_points()

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

# Lines that cannot live in a notebook cell: intra-package imports would load
# the installed reference instead of the student's own cells, and a
# `__future__` import must be the first statement of a module (the setup cell
# holds it; IPython keeps future flags for later cells).
PACKAGE_IMPORT_RE = re.compile(r"^(from micrograd(\.\w+)* import .*|import micrograd\b.*)$")
FUTURE_RE = re.compile(r"^from __future__ import .*$")


# ----------------------------------------------------------------- reading the reference


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


def _strip_leading_comments(lines: list[str]) -> list[str]:
    """Drop a dangling section comment (`# ---- primitives`) at the end of a chunk."""
    out = list(lines)
    while out and (not out[-1].strip() or out[-1].strip().startswith("# ---")):
        out.pop()
    return out


def _drop_spans(lines: list[str], offset: int, spans: Iterable[tuple[int, int]]) -> list[str]:
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


def _squeeze_blank_lines(lines: list[str]) -> list[str]:
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


# ------------------------------------------------------------------- the cell model


@dataclass
class Cell:
    """One notebook cell before it becomes JSON."""

    kind: str  # "markdown" | "code"
    source: str
    grade_id: str | None = None
    module: str | None = None  # the package module a definitional cell belongs to
    role: str = "plain"  # plain | given | solution | test | written
    timeout: int | None = None  # nbgrader's limit for this cell, if lower than the default
    points: float = 0


@dataclass
class Assignment:
    """An assignment: its tasks (solved by the student) and its cells."""

    name: str
    title: str
    tasks: list[str]
    cells: list[Cell] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    # What the notebook needs beyond Python and Jupyter (requirements.txt lines).
    requirements: list[str] = field(default_factory=list)

    def md(self, text: str) -> None:
        self.cells.append(Cell("markdown", textwrap.dedent(text).strip("\n")))

    def code(self, text: str, timeout: int | None = None) -> None:
        """A demo cell: not part of the package, never graded."""
        self.cells.append(Cell("code", textwrap.dedent(text).strip("\n"), timeout=timeout))

    def setup(self, extra: str = "") -> None:
        lines = [
            "# Run this cell first. `check` runs the course grader's public checks on your code",
            "# (micrograd_check/, beside this notebook: no solutions in it, nothing to install).",
            "from __future__ import annotations",
            "",
            "from micrograd_check import check, started",
        ]
        if extra:
            lines += ["", extra]
        self.cells.append(Cell("code", "\n".join(lines), grade_id="setup", role="given"))

    def define(self, grade_id: str, module: str, lines: list[str]) -> None:
        """A definitional cell cut from the reference: marked regions of this
        assignment's tasks stay (a solution cell), others are given solved."""
        source, solve = self._render_regions(module, grade_id, lines)
        self.modules.add(module)
        role = "solution" if solve else "given"
        self.cells.append(Cell("code", source, grade_id=grade_id, module=module, role=role))

    def tests(self, task: str, intro: str = "") -> None:
        """The public and the hidden autograded cells of one task, worth what the sandbox gives them."""
        title = TASKS[task]
        public_points, hidden_points = TASK_POINTS[task]
        public = f"# Task {task}: {title}. The same public checks as the course grader.\n"
        public += f'check("{task}", globals())'
        if intro:
            self.md(intro)
        self.cells.append(Cell("code", public, grade_id=contract.cell_id(task), role="test", points=public_points))
        # The visible line fails only while the task is a stub (so `nbgrader
        # validate --invert` still fails on the released notebook) and prints
        # nothing: a wrong answer is charged once, in the public cell above.
        hidden = (
            f"# Task {task}: hidden checks, on fresh inputs, run when your notebook is graded.\n"
            f'started("{task}", globals())\n'
            "### BEGIN HIDDEN TESTS\n"
            "from grader.inprocess import check as grader_check\n\n"
            f'grader_check("{task}", globals(), hidden=True)\n'
            "### END HIDDEN TESTS"
        )
        hidden_id = contract.cell_id(task, hidden=True)
        self.cells.append(Cell("code", hidden, grade_id=hidden_id, role="test", points=hidden_points))

    def written(self, grade_id: str, question: str, model_answer: str) -> None:
        """A manually graded written answer: the question, then the answer cell."""
        self.md(question)
        answer = textwrap.dedent(model_answer).strip("\n")
        self.cells.append(Cell("markdown", answer, grade_id=grade_id, role="written", points=WRITTEN_POINTS))

    def _render_regions(self, module: str, grade_id: str, lines: list[str]) -> tuple[str, bool]:
        out: list[str] = []
        solve = False
        open_task: str | None = None
        for line in lines:
            if PACKAGE_IMPORT_RE.match(line) or FUTURE_RE.match(line):
                continue
            begin = re.match(r"^(\s*)### BEGIN SOLUTION \[([^\]]+)\]\s*(.*)$", line)
            if begin:
                indent, task, description = begin.groups()
                open_task = task
                if task in self.tasks:
                    solve = True
                    # The description survives into the released stub as a
                    # comment: nbgrader drops the marker line itself.
                    out.append(f"{indent}# Task {task}: {description}")
                    out.append(f"{indent}### BEGIN SOLUTION")
                elif _task_key(task) > _task_key(max(self.tasks, key=_task_key)):
                    raise BuildError(
                        REFERENCE / f"{module}.py", 1, f"cell {grade_id} of {self.name} would contain later task {task}"
                    )
                continue
            if re.match(r"^\s*### END SOLUTION\s*$", line):
                if open_task in self.tasks:
                    out.append(line)
                open_task = None
                continue
            out.append(line)
        return "\n".join(_squeeze_blank_lines(out)), solve


def _task_key(task: str) -> tuple[int, ...]:
    return tuple(int(p) for p in task.split("."))


def method_cell(src: Source, cls_name: str, names: Sequence[str]) -> list[str]:
    """Methods of a class, moved into a cell of their own: dedented to module
    level, then attached to the class (`Value.__add__ = __add__`)."""
    out: list[str] = []
    for name in names:
        first, last = src.span(name, cls_name)
        out += textwrap.dedent("\n".join(src.text(first, last))).splitlines()
        out += ["", "", f"{cls_name}.{name} = {name}", "", ""]
    return _squeeze_blank_lines(out)


def class_cell(src: Source, cls_name: str, without: Sequence[str] = ()) -> list[str]:
    """A class as in the reference, minus the methods given in other cells."""
    first, last = src.span(cls_name)
    lines = src.text(first, last)
    return _squeeze_blank_lines(_drop_spans(lines, first, [src.span(m, cls_name) for m in without]))


def header_cell(src: Source) -> list[str]:
    """The module's docstring, imports and constants (everything before its first definition)."""
    return _squeeze_blank_lines(_strip_leading_comments(src.text(1, src.first_definition_line() - 1)))


def prefix_cell(src: Source, before: str) -> list[str]:
    """Everything above a definition: docstring, imports, helpers."""
    return _squeeze_blank_lines(_strip_leading_comments(src.text(1, src.span(before)[0] - 1)))


def definitions(src: Source, names: Sequence[str]) -> list[str]:
    """Top-level definitions, in the order given, as in the reference."""
    out: list[str] = []
    for name in names:
        out.extend([*src.text(*src.span(name)), "", ""])
    return _squeeze_blank_lines(out)


def joined(*chunks: list[str]) -> list[str]:
    """Chunks of module code, two blank lines apart (as between definitions)."""
    out: list[str] = []
    for chunk in chunks:
        out.extend([*chunk, "", ""])
    return _squeeze_blank_lines(out)


def whole_module(src: Source) -> list[str]:
    return _squeeze_blank_lines(src.lines)


# ------------------------------------------------------------------------ the course

PRIMITIVE_GROUPS: list[tuple[str, list[str], list[str]]] = [
    # (section, methods, tasks)
    ("add_mul", ["__add__", "__mul__"], ["1.1", "2.1"]),
    ("pow_div", ["__pow__", "__truediv__"], ["1.2", "2.2"]),
    ("exp_log", ["exp", "log"], ["1.3", "2.3"]),
    ("activations", ["tanh", "sigmoid", "relu"], ["1.4", "2.4"]),
]
DERIVED = ["__neg__", "__radd__", "__sub__", "__rsub__", "__rmul__", "__rtruediv__", "__rpow__", "__repr__"]
PRIMITIVES = [m for _, methods, _ in PRIMITIVE_GROUPS for m in methods]
BACKPROP = ["_topo_order", "backward"]


def assignment_value(engine: Source) -> Assignment:
    a = Assignment("a1_value", "Values and local derivatives", ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4"])
    a.requirements = []
    a.md(
        """
        # Assignment 1: a `Value` that remembers how it was made

        A neural network is a formula. Training it means nudging every number in
        that formula so the loss goes down, and for that we need the
        **derivative** of the loss with respect to every number. micrograd gets
        all of them in one sweep with *reverse-mode automatic differentiation*,
        the algorithm behind PyTorch's `loss.backward()`.

        The building block is `Value`: a scalar (`.data`) that also remembers
        the values it was computed from (`._prev`), the operation that made it
        (`._op`), and a slot for its gradient (`.grad`). Computing with Values
        builds a graph:

        ```
        a = Value(2.0); b = Value(-3.0)
        c = a * b        # c.data == -6.0, c._prev == (a, b), c._op == "*"
        ```

        In this assignment you write the **forward pass** of each operation
        (tasks 1.x) and its **local derivative** (tasks 2.x). Assignment 2 then
        chains the local derivatives through a whole graph.

        How to work: wherever a cell says `raise NotImplementedError()` under a
        `# Task` comment, replace that line with your code (the comment says
        what to do), run the cell, then run the check cells
        below it. The check cells are the grader's own public checks; more
        checks, on fresh random inputs, run when your notebook is graded, so
        make your code right, not just green.
        """
    )
    a.setup()
    a.md(
        """
        ## The class

        Given: `Value` itself. Note `_backward`: each operation stores a *rule*
        that receives the output node `out` and passes `out.grad` on to its
        inputs. (Taking `out` as an argument, instead of capturing it in a
        closure as the classic micrograd does, keeps the graph free of
        reference cycles, so Python frees it the moment you drop it.)
        """
    )
    a.define(
        "engine_header",
        "engine",
        joined(prefix_cell(engine, "Value"), class_cell(engine, "Value", PRIMITIVES + BACKPROP + DERIVED)),
    )
    a.md(
        """
        Every other operation is built from a few *primitives*. Subtraction is
        `a + (-b)`, negation is `a * -1`, `2 * a` is `a * 2`, and so on: these
        need no derivative of their own, because they are made of operations
        that have one. They work as soon as your `+` and `*` do.
        """
    )
    a.define("engine_derived", "engine", method_cell(engine, "Value", DERIVED))

    intro = {
        "add_mul": """
            ## Addition and multiplication

            Every primitive has the same four beats: **(1)** compute `out` from the
            inputs' data, remembering the inputs as its children and the operation's
            name; **(2)** define `_backward(out)`, which says how a gradient
            arriving at `out` flows to each input; **(3)** attach it; **(4)** return
            `out`. Steps 3 and 4 are written for you.

            **Local derivatives and the chain rule.** Suppose the final result `L`
            depends on `out`, and we already know `out.grad` $= \\partial L/\\partial
            \\text{out}$. For an input `x` of `out` the chain rule says

            $$\\frac{\\partial L}{\\partial x} = \\frac{\\partial L}{\\partial \\text{out}}
            \\cdot \\frac{\\partial\\, \\text{out}}{\\partial x}.$$

            The second factor is *local*: it only depends on this one operation.
            For `out = x + y` it is 1 for both inputs (addition passes the gradient
            through unchanged). For `out = x * y` it is `y` for `x` and `x` for `y`
            (each input's gradient is scaled by the *other* input).

            **Why `+=`?** A value can be used more than once (`b = a * a`, or a
            weight shared by many data points). Each use contributes its own term to
            the derivative, so a rule must *add* its contribution to `.grad`,
            never overwrite it.
            """,
        "pow_div": """
            ## Powers and division

            `x ** n` (for a constant `n`) has the local derivative
            $n\\,x^{n-1}$: the power rule. Division could be written as
            `x * y**-1`, but a primitive `/` gives exactly the correctly rounded
            quotient (what PyTorch computes) and its own rule:
            $\\partial(x/y)/\\partial x = 1/y$ and
            $\\partial(x/y)/\\partial y = -x/y^2$.
            """,
        "exp_log": """
            ## exp and log

            $e^x$ is its own derivative, so the rule can reuse the output:
            `out.data` already holds $e^x$. The natural logarithm has
            $\\partial \\ln x/\\partial x = 1/x$.
            """,
        "activations": """
            ## Activation functions: tanh, sigmoid and ReLU

            Neurons squash their input with a nonlinearity. Their derivatives are
            neatest written with the *output* $t$:

            * $\\tanh$: $1 - t^2$
            * sigmoid $\\sigma(x) = 1/(1+e^{-x})$: $t\\,(1 - t)$. Careful with the
              forward pass: `math.exp(-x)` overflows for $x < -709$; for negative
              $x$ use the equal form $e^x/(1+e^x)$.
            * ReLU $\\max(0, x)$: 1 where the output is positive, 0 elsewhere
              (0 at exactly 0, as in PyTorch).
            """,
    }
    for section, methods, tasks in PRIMITIVE_GROUPS:
        a.md(intro[section])
        for method in methods:
            a.define(f"engine_{method.strip('_')}", "engine", method_cell(engine, "Value", [method]))
        for task in tasks:
            a.tests(task, f"### Check: task {task}, {TASKS[task]}")
        if section == "add_mul":
            a.md(
                """
                ### Backpropagation by hand

                `backward()` (assignment 2) will call every rule for you, in the right
                order. For now, call them yourself: set the output's gradient to 1
                ($\\partial L/\\partial L = 1$), then call `_backward()` on each node,
                from the output back to the inputs.
                """
            )
            a.code(
                """
                a = Value(2.0, label="a")
                b = Value(-3.0, label="b")
                c = a * b
                L = c + a          # a is used twice: two paths into L
                L.grad = 1.0
                L._backward()      # L = c + a: both get L.grad
                c._backward()      # c = a * b: a gets b * c.grad, b gets a * c.grad
                print(f"dL/da = {a.grad}  (b + 1 = {b.data + 1})")
                print(f"dL/db = {b.grad}  (a = {a.data})")
                """
            )
    a.written(
        "written_accumulate",
        """
        ## Written answer (graded by hand)

        In `L = c + a` with `c = a * b` above, `a` reaches `L` along two paths.
        Explain, with the chain rule, why every backward rule must *add* to
        `.grad` (`+=`) instead of assigning it, and what `a.grad` would be if
        the rules used `=` (run them in the order above).
        """,
        """
        By the multivariable chain rule, the derivative along several paths is
        the *sum* of the derivatives along each path: dL/da = dL/dc * dc/da +
        dL/da(direct) = b + 1 = -2. Each rule only knows its own path, so it must
        add its term. With `=`, the later rule overwrites the earlier one:
        `L._backward()` sets a.grad = 1, then `c._backward()` sets a.grad = b = -3,
        so the direct path is lost.
        """,
    )
    return a


def assignment_backprop(engine: Source, viz: Source) -> Assignment:
    a = Assignment("a2_backprop", "Backpropagation", ["3.1", "3.2"])
    # The last cells compare with PyTorch: its CPU build, pinned as the kit pins it.
    a.requirements = ["graphviz>=0.20", *TORCH_REQUIREMENT]
    a.md(
        """
        # Assignment 2: backpropagation

        In assignment 1 each operation learned its *local* derivative, and you
        called the rules by hand. Now you write `backward()`, which calls every
        rule of a graph in an order that makes the chain rule work.

        The `Value` class below is given: it is the solution of assignment 1.
        Replace each `raise NotImplementedError()` with your code (the `# Task`
        comment above it says what to do), run the cell, then its checks.
        """
    )
    a.setup()
    a.define("engine_given", "engine", joined(prefix_cell(engine, "Value"), class_cell(engine, "Value", BACKPROP)))
    a.md(
        """
        ## Why a topological order?

        A rule passes `out.grad` on to `out`'s inputs, so it may only run once
        `out.grad` is *complete*: once every node that uses `out` has already
        passed its share back. If the nodes are listed so that each comes after
        all of its inputs (a **topological order**), walking the list *backwards*
        guarantees exactly that: every consumer of a node runs before the node.

        The classic micrograd builds the order with a recursive depth-first
        search. Recursion costs one Python stack frame per level, and Python
        allows about 1000: a chain of 1000 additions crashes with
        `RecursionError`. Yours uses an **explicit stack**:

        * pop a node; the first time you see it, push it back (to finish it
          later) and push its unvisited children on top of it;
        * the second time you pop it, all of its children are finished: append
          it to the order;
        * skip nodes already finished (a node may be reachable along many paths
          but must appear exactly once).
        """
    )
    a.define("engine_topo_order", "engine", method_cell(engine, "Value", ["_topo_order"]))
    a.tests("3.1", "### Check: task 3.1")
    a.md(
        """
        ## `backward()`: the chain rule over the whole graph

        1. get the topological order;
        2. reset `.grad` of every *non-leaf* node to 0 (they are recomputed on
           each call; leaves, such as weights, keep accumulating, as in
           PyTorch, until you zero them);
        3. seed the root: $\\partial L/\\partial L = 1$;
        4. call each node's rule, from the root back to the leaves (the
           reversed order).
        """
    )
    a.define("engine_backward", "engine", method_cell(engine, "Value", ["backward"]))
    a.tests("3.2", "### Check: task 3.2")
    a.md(
        """
        ## Seeing the graph: `draw_dot`

        Given: `draw_dot` draws a graph as boxes (a Value: label, data, grad)
        and ovals (an operation). It walks the graph with *your*
        `_topo_order()`. Rendering needs Graphviz's `dot` program; without it,
        `print(dot.source)` still shows the graph as text.
        """
    )
    a.define("viz_draw_dot", "viz", joined(header_cell(viz), definitions(viz, ["_record_text", "draw_dot"])))
    a.code(
        """
        import shutil

        x1 = Value(2.0, label="x1"); x2 = Value(0.0, label="x2")
        w1 = Value(-3.0, label="w1"); w2 = Value(1.0, label="w2")
        b = Value(6.8813735870195432, label="b")
        n = x1 * w1 + x2 * w2 + b; n.label = "n"
        o = n.tanh(); o.label = "o"
        o.backward()
        dot = draw_dot(o)
        if shutil.which("dot"):
            display(dot)
        else:
            print("Graphviz's `dot` program is not installed (Debian/Ubuntu: `sudo apt-get install graphviz`,")
            print("macOS: `brew install graphviz`, Windows: https://graphviz.org/download/). The graph as text:")
            print(dot.source)
        """,
        timeout=DEMO_TIMEOUT,
    )
    a.md(
        """
        ## Checking against PyTorch

        The expression below mixes every primitive. PyTorch computes the same
        gradients (the grader compares yours to float64 PyTorch to within 1e-6).
        """
    )
    a.code(
        """
        a = Value(-4.0); b = Value(2.0)
        c = a + b
        d = a * b + b**3
        c += c + 1
        c += 1 + c + (-a)
        d += d * 2 + (b + a).relu()
        d += 3 * d + (b - a).relu()
        e = c - d
        f = e**2
        g = f / 2.0
        g += 10.0 / f
        g.backward()
        print(f"g = {g.data:.6f}, dg/da = {a.grad:.6f}, dg/db = {b.grad:.6f}")
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: expected 24.704082, 138.833819, 645.577259")
        else:
            ta = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
            tb = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
            tc = ta + tb
            td = ta * tb + tb**3
            tc = tc + tc + 1
            tc = tc + 1 + tc + (-ta)
            td = td + td * 2 + (tb + ta).relu()
            td = td + 3 * td + (tb - ta).relu()
            tg = (tc - td) ** 2 / 2.0
            tg = tg + 10.0 / (tc - td) ** 2
            tg.backward()
            print(f"torch: g = {tg.item():.6f}, dg/da = {ta.grad.item():.6f}, dg/db = {tb.grad.item():.6f}")
        """,
        timeout=3 * DEMO_TIMEOUT,  # importing PyTorch takes seconds on a busy machine
    )
    a.written(
        "written_order",
        """
        ## Written answer (graded by hand)

        Suppose `backward()` called the rules in *forward* topological order
        (leaves first) instead of reversed. Take `b = a * a; c = b + b` and say
        what `a.grad` would come out as, and why. Then explain why the
        iterative version handles a chain of a million additions while the
        recursive one does not.
        """,
        """
        Forward order runs b's rule before c's, while b.grad is still 0, so a
        receives nothing: a.grad = 0 instead of dc/da = 4a. The reversed order
        runs every consumer of a node before the node itself, so a node's grad
        is complete when its rule passes it on. The recursive search uses one
        Python stack frame per level of the graph and Python stops at about
        1000 frames (RecursionError); the explicit stack is a list on the heap
        that can hold millions of nodes.
        """,
    )
    return a


def assignment_training(engine: Source, nn: Source, train: Source, data: Source, viz: Source) -> Assignment:
    a = Assignment("a3_training", "Neurons, layers and training", ["4.1", "4.2", "4.3", "5.1", "5.2"])
    a.requirements = ["matplotlib>=3.8", "scikit-learn>=1.4"]
    a.md(
        """
        # Assignment 3: a neural network, trained

        With `backward()` in hand, a neural-network library is a thin layer of
        bookkeeping: a neuron is a formula of Values, a layer is a list of
        neurons, an MLP a list of layers. Training repeats four steps: forward
        pass (the loss), `zero_grad()`, `backward()`, and a small step of every
        parameter against its gradient.

        The engine is given (the solution of assignments 1 and 2).
        """
    )
    a.setup("%matplotlib inline")
    a.define("engine_given", "engine", whole_module(engine))
    a.md(
        """
        ## Modules and neurons

        A neuron computes $\\text{act}(w \\cdot x + b)$: a weighted sum of its
        inputs plus a bias, through a nonlinearity (ReLU by default). Its
        weights start random in $[-1, 1]$ (break the symmetry: identical
        neurons would learn identical things), its bias at 0.
        `Module.zero_grad()` resets every parameter's gradient: leaves
        *accumulate* gradients (assignment 2), so each training step must start
        from 0.
        """
    )
    a.define("nn_header", "nn", header_cell(nn))
    a.define("nn_module", "nn", definitions(nn, ["Module"]))
    a.define("nn_neuron", "nn", definitions(nn, ["Neuron"]))
    a.md(
        """
        ## Layers and the MLP

        A layer is `nout` neurons reading the same inputs. An MLP stacks layers;
        every layer but the last is nonlinear, so the network's output is an
        unbounded score (its sign is the class). `MLP(2, [16, 16, 1])` has
        $16\\cdot(2+1) + 16\\cdot(16+1) + 1\\cdot(16+1) = 337$ parameters.
        """
    )
    a.define("nn_layer", "nn", definitions(nn, ["Layer"]))
    a.define("nn_mlp", "nn", definitions(nn, ["MLP"]))
    # The checks build neurons, layers and MLPs alike: all three must exist first.
    a.md("### Checks: tasks 4.1 to 4.3 (run them once `Neuron`, `Layer` and `MLP` are all defined)")
    for task in ("4.1", "4.2", "4.3"):
        a.tests(task)
    a.md(
        """
        ## Losses

        * **SVM max-margin (hinge) loss**: the mean of $\\text{relu}(1 - y\\,s)$
          for labels $y = \\pm 1$ and scores $s$. A point costs nothing once it
          is on the right side with a margin of 1; the others push the boundary.
        * **Mean squared error**: the mean of $(p - y)^2$, for regression.
        * **L2 penalty**: $\\alpha \\sum p^2$ over the parameters. Its gradient
          $2\\alpha p$ pulls every weight towards 0, which keeps the decision
          boundary smooth.
        """
    )
    a.define("train_header", "train", header_cell(train))
    a.define("train_losses", "train", definitions(train, ["svm_loss", "mse_loss", "l2_penalty"]))
    a.tests("5.1", "### Check: task 5.1")
    a.md(
        """
        ## Gradient descent

        The gradient points uphill, so each step moves every parameter a little
        *against* it: `p.data -= lr * p.grad`. Large steps learn fast but
        overshoot; the classic demo decays the learning rate linearly from 1.0
        towards 0.1. Accuracy is the fraction of points whose score has the sign
        of their label.
        """
    )
    a.define("train_sgd", "train", definitions(train, ["learning_rate", "sgd_step", "accuracy"]))
    a.tests("5.2", "### Check: task 5.2")
    a.md(
        """
        ## Training on the moons

        Given: the training loop (`fit`), the data and the plots. Two
        interleaving half-moons cannot be separated by a straight line; a small
        MLP bends its boundary around them. (40 steps here, to keep the cell
        short; the classic demo runs 100.)
        """
    )
    a.define("train_fit", "train", definitions(train, ["History", "classify_loss", "fit"]))
    a.define("data_moons", "data", joined(header_cell(data), definitions(data, ["make_moons"])))
    a.define(
        "viz_plots", "viz", joined(header_cell(viz), definitions(viz, ["plot_decision_boundary", "plot_history"]))
    )
    a.code(
        """
        import random

        random.seed(1337)
        X, y = make_moons(n_samples=100, noise=0.1)
        model = MLP(2, [16, 16, 1])
        history = fit(model, X, y, steps=40)
        print(f"{len(model.parameters())} parameters; final loss {history.loss[-1]:.4f}, "
              f"accuracy {history.accuracy[-1]:.0%}")
        """
    )
    a.code("plot_history(history)")
    a.code("plot_decision_boundary(model, X, y)")
    a.written(
        "written_boundary",
        """
        ## Written answer (graded by hand)

        Look at the decision boundary. What would change if the model had no
        nonlinearity (every neuron linear), and why? What does the L2 penalty
        do to the boundary, and what would happen with a learning rate of 10?
        """,
        """
        Without nonlinearities the MLP is a composition of affine maps, itself
        affine: the boundary is a straight line and cannot separate the moons
        (about 85% accuracy at best). The L2 penalty keeps weights small, so the
        boundary stays smooth instead of bending around single points. With a
        learning rate of 10 each step overshoots: the loss oscillates or
        diverges and ReLUs can die (stuck at 0 gradient).
        """,
    )
    return a


def course(reference: Path = REFERENCE) -> list[Assignment]:
    """The assignments in teaching order, built from the reference."""
    engine, nn, train, data, viz = (Source.load(m, reference) for m in ("engine", "nn", "train", "data", "viz"))
    return [
        assignment_value(engine),
        assignment_backprop(engine, viz),
        assignment_training(engine, nn, train, data, viz),
    ]


# --------------------------------------------------------------------- notebook JSON


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _metadata(cell: Cell) -> dict[str, object]:
    meta: dict[str, object] = {}
    if cell.module in PACKAGE_MODULES:
        meta[contract.KEY] = {contract.MODULE: cell.module}
    if cell.timeout is not None:
        meta[contract.KEY] = {contract.TIMEOUT: cell.timeout}
    if cell.grade_id is None:
        return meta
    nb = {"grade_id": cell.grade_id, "schema_version": 3, "task": False}
    if cell.role == "given":
        nb |= {"grade": False, "solution": False, "locked": True}
    elif cell.role == "solution":
        nb |= {"grade": False, "solution": True, "locked": False}
    elif cell.role == "test":
        nb |= {"grade": True, "solution": False, "locked": True, "points": _number(cell.points)}
    elif cell.role == "written":
        nb |= {"grade": True, "solution": True, "locked": False, "points": _number(cell.points)}
    meta["nbgrader"] = nb
    return meta


def to_notebook(assignment: Assignment, reference: Path = REFERENCE) -> nbformat.NotebookNode:
    """The source notebook. Cell ids are stable (grade ids, or the position) so a
    rebuild is byte for byte the same."""
    cells = []
    for index, cell in enumerate(assignment.cells):
        cid = (cell.grade_id or f"cell-{index:03d}").replace("_", "-")
        make = nbformat.v4.new_code_cell if cell.kind == "code" else nbformat.v4.new_markdown_cell
        cells.append(make(cell.source, id=cid, metadata=_metadata(cell)))
    prologue = {
        module: "\n".join(["from __future__ import annotations", *Source.load(module, reference).package_imports()])
        for module in PACKAGE_MODULES
    }
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        contract.KEY: {contract.ASSIGNMENT: assignment.name, contract.TASKS: assignment.tasks,
                       contract.PROLOGUE: prologue},
    }
    nbformat.validate(nb)
    return nb


def requirements_txt(assignment: Assignment) -> str:
    """What a student installs to run the notebook from its folder alone."""
    lines = [
        f"# {assignment.name}: what this notebook needs, in a fresh virtualenv: pip install -r requirements.txt",
        "# The check cells need only Python (micrograd_check/ is beside the notebook); the course kit is not needed.",
        "jupyterlab>=4",
        *assignment.requirements,
    ]
    return "\n".join(lines) + "\n"


def folder_files(assignment: Assignment, repo: Path) -> dict[str, str]:
    """The files beside an assignment's notebook: its public checks and its requirements."""
    return {**render_checker(repo, assignment.tasks), "requirements.txt": requirements_txt(assignment)}


def generate_release(course_root: Path, names: Sequence[str]) -> None:
    """`nbgrader generate_assignment --force` for each assignment (without
    --force nbgrader silently keeps an existing release)."""
    for name in names:
        proc = run_nbgrader(course_root, "generate_assignment", name, "--force")
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{proc.stderr[-3000:]}")


# ------------------------------------------------------------- sample submissions

BEGIN_LINE = re.compile(r"^\s*### (BEGIN|END) SOLUTION")


def solved(source: str) -> str:
    """A solution cell as a student who got it right would hand it in."""
    return "\n".join(line for line in source.split("\n") if not BEGIN_LINE.match(line))


@dataclass(frozen=True)
class Sample:
    """An embedded submission: a released notebook, solved, then spoiled on purpose."""

    student: str
    assignment: str
    what: str
    edits: dict[str, tuple[str, str]] = field(default_factory=dict)  # grade_id -> (old, new) in solved code
    delete: tuple[str, ...] = ()  # grade ids of cells the student deleted
    append: dict[str, str] = field(default_factory=dict)  # grade_id -> code added at the end of the cell
    broken_json: bool = False


SAMPLES = [
    Sample("s01_correct", "a1_value", "every task right"),
    Sample("s01_correct", "a2_backprop", "every task right"),
    Sample("s01_correct", "a3_training", "every task right"),
    Sample(
        "s02_buggy",
        "a1_value",
        "multiplication's backward rule uses the wrong input (task 2.1)",
        edits={"engine_mul": ("self.grad += other.data * out.grad", "self.grad += self.data * out.grad")},
    ),
    Sample(
        "s03_infinite_loop",
        "a2_backprop",
        "_topo_order never returns (task 3.1, and 3.2 needs it)",
        edits={"engine_topo_order": ("    order: list[Value] = []", "    while True:  # never ends\n        pass")},
    ),
    Sample(
        "s04_deleted_test",
        "a1_value",
        "the same bug as s02_buggy, and the failing public check cell of task 2.1 deleted",
        edits={"engine_mul": ("self.grad += other.data * out.grad", "self.grad += self.data * out.grad")},
        delete=("test_2_1",),
    ),
    Sample("s05_invalid_json", "a1_value", "the file was cut short: not valid JSON", broken_json=True),
    Sample(
        "s06_fools_nbgrader",
        "a1_value",
        "the same bug as s02_buggy, and the notebook's checks (and the grader's, in its kernel) made to pass anything",
        edits={"engine_mul": ("self.grad += other.data * out.grad", "self.grad += self.data * out.grad")},
        append={
            "engine_mul": (
                "\n\ndef check(*args, **kwargs):  # every check cell now passes\n    pass\n\n\n"
                "started = check\n"
                "try:  # the hidden cells import the grader's check in the kernel: patch that too\n"
                "    import grader.inprocess\n\n"
                "    grader.inprocess.check = check\n"
                "except Exception:\n"
                "    pass"
            )
        },
    ),
]

WRITTEN_ANSWER = "The chain rule sums the contributions of every path, so each rule adds its own term."


def sample_notebook(sample: Sample, source: nbformat.NotebookNode, release: nbformat.NotebookNode) -> str:
    """The JSON text of one sample submission, made from the released notebook."""
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.from_dict(json.loads(nbformat.writes(release)))
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sample.delete:
            continue
        if grade_id in solutions:
            if cell.cell_type == "code":
                cell.source = solved(solutions[grade_id].source)
            else:
                cell.source = WRITTEN_ANSWER
        if grade_id in sample.edits:
            old, new = sample.edits[grade_id]
            if old not in cell.source:
                raise BuildError(REFERENCE, 1, f"sample {sample.student}: {old!r} is not in cell {grade_id}")
            cell.source = cell.source.replace(old, new)
        if grade_id in sample.append:
            cell.source += sample.append[grade_id]
        cells.append(cell)
    nb.cells = cells
    text = nbformat.writes(nb) + "\n"
    if sample.broken_json:
        text = text[: len(text) // 2]
    return text


# ------------------------------------------------------------------------- the step

# What the step writes under the root it is given (the registry's `outputs`).
# nbgrader_config.py is hand-written: the step copies it into a scratch root.
OUTPUTS = ("assignments/source", "assignments/release", "assignments/submitted")
CONFIG = "nbgrader_config.py"


def build(ctx: Context | None = None) -> list[str]:
    """Write assignments/source, release (with nbgrader) and the sample
    submissions under `ctx.root`; return the files that changed."""
    ctx = ctx or Context()
    reference = ctx.reference / "micrograd"
    course_root = ctx.root / "assignments"
    course_root.mkdir(parents=True, exist_ok=True)
    if (course_root / CONFIG).resolve() != (COURSE / CONFIG).resolve():
        shutil.copyfile(COURSE / CONFIG, course_root / CONFIG)
    assignments = course(reference)
    sources = {a.name: to_notebook(a, reference) for a in assignments}
    files = {f"{a}/{a}.ipynb": nbformat.writes(nb) + "\n" for a, nb in sources.items()}
    for a in assignments:
        # nbgrader copies every other file of source/<a>/ into release/<a>/ (and, trusted, into autograded/).
        files |= {f"{a.name}/{name}": text for name, text in folder_files(a, ctx.repo).items()}
    changed = [f"source/{name}" for name in sync_tree(files, course_root / "source")]
    before = {rel: (course_root / "release" / rel).read_bytes() for rel in map(str, walk(course_root / "release"))}
    generate_release(course_root, list(sources))
    after = {rel: (course_root / "release" / rel).read_bytes() for rel in map(str, walk(course_root / "release"))}
    changed += [f"release/{rel}" for rel in sorted(set(before) | set(after)) if before.get(rel) != after.get(rel)]
    releases = {a: nbformat.read(course_root / "release" / a / f"{a}.ipynb", as_version=4) for a in sources}
    samples = {
        f"{s.student}/{s.assignment}/{s.assignment}.ipynb": sample_notebook(
            s, sources[s.assignment], releases[s.assignment]
        )
        for s in SAMPLES
    }
    changed += [f"submitted/{name}" for name in sync_tree(samples, course_root / "submitted")]
    return [f"assignments/{name}" for name in changed]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m builder.notebooks`: the same as `python -m builder notebooks`."""
    for name in build():
        print(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
