"""The rubric: every check, its task, its points, its probe and how it is judged.

A check is public (fixed inputs, the same for everyone, with full feedback) or
hidden (inputs drawn at grading time from a per-student seed; its feedback says
what kind of thing failed and never shows its inputs or expected values).

Tolerances: values and gradients must match PyTorch float64 and the reference
within 1e-6 relative + 1e-9 absolute; a training trajectory within 1e-6
relative at every step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader.types import Group

TOLERANCE = "1e-6 relative + 1e-9 absolute"
TRAJECTORY_STEPS = 5
TRAIN_STEPS = 15
TRAIN_POINTS = 20
TRAIN_ACCURACY = 0.85

# Each group runs in one child (per visibility): the student's modules it grades,
# the reference's modules it stands on (so a mistake in engine.py is not charged
# again in nn.py's checks). "stack" holds the few integration checks that run on
# the student's whole package. Sections 1-3 share the "engine" child; within it
# `Check.run_order` keeps a loop in a later kind of check from costing an earlier one.
GROUPS: dict[str, Group] = {
    "engine": Group(student=("engine",)),
    "nn": Group(student=("nn",), reference=("engine",)),
    "train": Group(student=("train",), reference=("engine", "nn")),
    "stack": Group(student=("engine", "nn", "train")),
}
GROUP_OF_SECTION = {"1": "engine", "2": "engine", "3": "engine", "4": "nn", "5": "train"}
# The student's tasks a check stands on besides its own, so feedback can say
# which later checks depend on which task. Section 3's graphs use + and * only
# (Task 3.1's sort is graded on its own); nn and train run on the reference's
# engine (and nn); the integration checks use the student's whole package.
DEPENDS_ON = {
    "backward": ("1.1", "2.1"),
    "integration-graph": ("1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "3.1"),
    "stack": ("1.1", "1.4", "2.1", "2.4", "3.1", "3.2", "4.1", "4.2", "4.3", "5.1"),
}
# Python's default recursion limit is 1,000 frames: a recursive sort fails on this chain.
CHAIN_OPS = 1_500

OP_TEXT = {
    "add": "{} + {}",
    "sub": "{} - {}",
    "mul": "{} * {}",
    "div": "{} / {}",
    "pow": "{} ** {}",
    "neg": "-{}",
    "exp": "{}.exp()",
    "log": "{}.log()",
    "tanh": "{}.tanh()",
    "sigmoid": "{}.sigmoid()",
    "relu": "{}.relu()",
}
OP_NAME = {
    "add": "addition",
    "mul": "multiplication",
    "pow": "power",
    "div": "division",
    "exp": "exp",
    "log": "log",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu": "relu",
}
PRIMITIVES = set(OP_NAME)


@dataclass
class Check:
    """One gradable check. `probe` goes to the sandbox; the rest stays here."""

    id: str
    task: str
    title: str
    points: float
    hidden: bool
    probe: dict[str, Any]
    judge: str
    timeout: float = 2.0  # seconds; the reference needs milliseconds
    info: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    """The GROUPS entry it runs in; by default its section's."""

    def __post_init__(self) -> None:
        if not self.group:
            self.group = GROUP_OF_SECTION[self.task.split(".")[0]]

    @property
    def integration(self) -> bool:
        """Does it run on the student's whole stack, so an earlier task's mistake can cost it?"""
        return self.group == "stack" or bool(self.info.get("integration"))

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The other tasks whose code this check runs (a mistake there can cost it too)."""
        if self.group == "stack":
            key = "stack"
        elif self.integration:
            key = "integration-graph"
        else:
            key = "backward" if self.task == "3.2" else ""  # graphs of + and *, on the probe's own order
        return tuple(t for t in DEPENDS_ON.get(key, ()) if t != self.task)

    @property
    def walks_graph(self) -> bool:
        """Does the probe call backward() or the topological sort?"""
        p = self.probe
        return p["kind"] in ("topo", "chain", "loss", "train") or bool(p.get("backward"))

    @property
    def run_order(self) -> int:
        """Where it runs in its child: plain values first (0), then graph walks on the
        probe's own order (1), then the student's own sort, Task 3.1 (2), then the
        integration checks (3). An endless loop in a later kind cannot cost an earlier one."""
        if not self.walks_graph:
            return 0
        if self.integration:
            return 3
        return 2 if self.task == "3.1" else 1


# ----------------------------------------------------------------- programs


def render(program: list[list[Any]]) -> list[str]:
    """Readable text for every node: leaves are a, b, c...; ops are expressions."""
    names: list[str] = []
    leaf = 0
    for op, *args in program:
        if op == "leaf":
            names.append("abcdefghijklmnopqrstuvwxyz"[leaf % 26] + ("" if leaf < 26 else str(leaf // 26)))
            leaf += 1
            continue
        parts = []
        for a in args:
            if isinstance(a, dict):
                parts.append(repr(a["c"]))
            else:
                text = names[a]
                parts.append(f"({text})" if len(text) > 1 and not text.isidentifier() else text)
        text = OP_TEXT[op].format(*parts)
        names.append(text if len(text) <= 60 else f"node {len(names)}")
    return names


def leaf_values(program: list[list[Any]]) -> str:
    names = render(program)
    return ", ".join(f"{names[i]} = {instr[1]!r}" for i, instr in enumerate(program) if instr[0] == "leaf")


def seed_program(a: float, b: float, act: str) -> list[list[Any]]:
    """The seed documents' expression (a=-4, b=2 gives g=24.7041 with relu), with
    `10.0 / f` written `10.0 * f**-1`: a missing __rtruediv__ is Task 1.2's, not 3.2's."""
    c1 = {"c": 1.0}
    return [
        ["leaf", a], ["leaf", b],                                  # 0 a, 1 b
        ["add", 0, 1],                                             # 2 c = a + b
        ["mul", 0, 1], ["pow", 1, {"c": 3}], ["add", 3, 4],        # 5 d = a*b + b**3
        ["add", 2, c1], ["add", 2, 6],                             # 7 c += c + 1
        ["add", c1, 7], ["neg", 0], ["add", 8, 9], ["add", 7, 10], # 11 c += 1 + c + (-a)
        ["mul", 5, {"c": 2.0}], ["add", 1, 0], [act, 13], ["add", 12, 14], ["add", 5, 15],  # 16 d += d*2 + act(b+a)
        ["mul", {"c": 3.0}, 16], ["sub", 1, 0], [act, 18], ["add", 17, 19], ["add", 16, 20],  # 21 d += 3*d + act(b-a)
        ["sub", 11, 21], ["pow", 22, {"c": 2}], ["div", 23, {"c": 2.0}],           # 24 g = f / 2.0
        ["pow", 23, {"c": -1}], ["mul", {"c": 10.0}, 25], ["add", 24, 26],    # 27 g += 10.0 * f**-1
    ]  # fmt: skip


def random_program(rng: random.Random, n_leaves: int, n_ops: int, ops: tuple[str, ...]) -> list[list[Any]]:
    """A random DAG of safe ops; later nodes reuse earlier ones (diamonds, reuse).
    Inputs stay where every op is defined and well conditioned."""
    program: list[list[Any]] = [["leaf", round(rng.uniform(0.2, 1.5) * rng.choice((-1, 1)), 3)] for _ in range(n_leaves)]
    values = [p[1] for p in program]
    while len(program) < n_leaves + n_ops:
        op = rng.choice(ops)
        i = rng.randrange(len(program))
        j = rng.randrange(len(program))
        a, b = values[i], values[j]
        if op in ("add", "mul"):
            instr, v = [op, i, j], (a + b if op == "add" else a * b)
        elif op == "tanh":
            instr, v = ["tanh", i], math.tanh(a)
        elif op == "sigmoid":
            instr, v = ["sigmoid", i], 1 / (1 + math.exp(-a))
        elif op == "relu":
            instr, v = ["relu", i], max(a, 0.0)
        else:  # a constant on either side
            c = round(rng.uniform(-2, 2), 2)
            instr, v = (["mul", i, {"c": c}], a * c) if rng.random() < 0.5 else (["add", {"c": c}, i], c + a)
        if abs(v) > 50:
            continue
        program.append(instr)
        values.append(v)
    # Sum the last few nodes so the root depends on many of them.
    root = len(program) - 1
    for k in range(max(n_leaves, len(program) - 4), len(program) - 1):
        program.append(["add", root, k])
        root = len(program) - 1
    return program


# ------------------------------------------------------------------- checks


def _uniform(rng: random.Random, lo: float, hi: float) -> float:
    return round(rng.uniform(lo, hi), 4)


def _signed(rng: random.Random, lo: float, hi: float) -> float:
    return _uniform(rng, lo, hi) * rng.choice((-1, 1))


def forward_checks(rng: random.Random) -> list[Check]:
    checks: list[Check] = []

    def add(task: str, title: str, program: list[list[Any]], hidden: bool) -> None:
        cid = f"{task}/{'hidden' if hidden else 'public'}/{len([c for c in checks if c.task == task])}"
        probe = {"kind": "expr", "program": program, "backward": False}
        checks.append(Check(cid, task, title, 1.0, hidden, probe, "expr_forward"))

    def structure(task: str, title: str, cases: list[tuple[str, list[float], list[Any]]]) -> None:
        probe = {"kind": "structure", "cases": [{"op": op, "inputs": xs, "args": args} for op, xs, args in cases]}
        checks.append(Check(f"{task}/public/structure", task, title, 1.0, False, probe, "structure"))

    def binary(op: str, a: float, b: Any) -> list[list[Any]]:
        if isinstance(b, dict):
            return [["leaf", a], [op, 0, b]]
        return [["leaf", a], ["leaf", b], [op, 0, 1]]

    add("1.1", "a + b", binary("add", 2.0, -3.0), False)
    add("1.1", "a * b", binary("mul", 2.0, -3.0), False)
    consts = [["leaf", 1.5], ["add", 0, {"c": 2.0}], ["add", {"c": 2.0}, 0], ["mul", 0, {"c": 3.0}],
              ["mul", {"c": 3.0}, 0], ["sub", 0, {"c": 2.0}], ["sub", {"c": 2.0}, 0], ["neg", 0]]  # fmt: skip
    add("1.1", "constants on either side: a + 2, 2 + a, a * 3, 3 * a, a - 2, 2 - a, -a", consts, False)
    add("1.1", "a + b and a * b on other inputs", [["leaf", _signed(rng, 0.1, 9)], ["leaf", _signed(rng, 0.1, 9)],
                                                   ["add", 0, 1], ["mul", 0, 1], ["mul", 2, 3]], True)  # fmt: skip
    c = _signed(rng, 0.5, 5)
    add("1.1", "constants on either side, other inputs",
        [["leaf", _signed(rng, 0.1, 5)], ["add", {"c": c}, 0], ["mul", 0, {"c": c}], ["sub", {"c": c}, 0]], True)  # fmt: skip

    structure("1.1", "the graph of a + b and a * b: children (a, b) in order in _prev, and the _op label",
              [("add", [2.0, -3.0], [0, 1]), ("mul", [2.0, -3.0], [0, 1])])  # fmt: skip

    add("1.2", "a ** 3 with a negative base", binary("pow", -2.0, {"c": 3}), False)
    add("1.2", "a ** -2 and a ** 0.5", [["leaf", 2.25], ["pow", 0, {"c": -2}], ["pow", 0, {"c": 0.5}]], False)
    add("1.2", "a / b and 2 / a", [["leaf", 3.0], ["leaf", -4.0], ["div", 0, 1], ["div", {"c": 2.0}, 0]], False)
    n = rng.choice((2, 3, 4, -1, -3))
    add("1.2", "powers and divisions on other inputs",
        [["leaf", _signed(rng, 0.5, 3)], ["leaf", _signed(rng, 0.5, 3)], ["pow", 0, {"c": n}],
         ["div", 0, 1], ["div", {"c": _signed(rng, 1, 5)}, 1]], True)  # fmt: skip

    structure("1.2", "the graph of a ** 3 and a / b: one node each, children in order, the _op label",
              [("pow", [1.5], [0, {"c": 3}]), ("div", [3.0, -4.0], [0, 1])])  # fmt: skip

    add("1.3", "a.exp()", [["leaf", 0.5], ["exp", 0]], False)
    add("1.3", "a.log()", [["leaf", 2.5], ["log", 0]], False)
    add("1.3", "exp and log on other inputs",
        [["leaf", _signed(rng, 0.1, 3)], ["leaf", _uniform(rng, 0.1, 20)], ["exp", 0], ["log", 1]], True)  # fmt: skip

    structure("1.3", "the graph of a.exp() and a.log(): child a in _prev, the _op label",
              [("exp", [0.5], [0]), ("log", [2.5], [0])])  # fmt: skip

    add("1.4", "a.tanh()", [["leaf", 0.7], ["tanh", 0]], False)
    add("1.4", "a.sigmoid() at 1.2 and -1.2", [["leaf", 1.2], ["leaf", -1.2], ["sigmoid", 0], ["sigmoid", 1]], False)
    add("1.4", "a.sigmoid() at 800 and -800 (no overflow)",
        [["leaf", 800.0], ["leaf", -800.0], ["sigmoid", 0], ["sigmoid", 1]], False)  # fmt: skip
    add("1.4", "a.relu() at 0.5, -0.5 and exactly 0.0",
        [["leaf", 0.5], ["leaf", -0.5], ["leaf", 0.0], ["relu", 0], ["relu", 1], ["relu", 2]], False)  # fmt: skip
    structure("1.4", "the graph of tanh, sigmoid and relu: one node each with child a, the _op label",
              [("tanh", [0.7], [0]), ("sigmoid", [-1.2], [0]), ("relu", [0.5], [0])])  # fmt: skip
    x = _signed(rng, 0.1, 3)
    add("1.4", "tanh, sigmoid and relu on other inputs",
        [["leaf", x], ["leaf", -x], ["tanh", 0], ["sigmoid", 1], ["relu", 0], ["relu", 1]], True)  # fmt: skip
    return checks


Case = tuple[list[float], list[Any], float, list[float]]  # inputs, args, upstream, starting grads
LOCAL_PUBLIC: list[tuple[str, str, list[Case]]] = [
    ("2.1", "add", [([2.0, -3.0], [0, 1], 0.5, [0.25, -1.0])]),
    ("2.1", "mul", [([2.0, -3.0], [0, 1], 0.5, [0.25, -1.0])]),
    ("2.1", "mul", [([1.5], [0, 0], 2.0, [0.0])]),  # a * a: both rules add to a.grad
    ("2.2", "pow", [([1.5], [0, {"c": 3}], 0.5, [0.25])]),
    ("2.2", "pow", [([-2.0], [0, {"c": -3}], 2.0, [0.5])]),
    ("2.2", "div", [([3.0, -4.0], [0, 1], 0.5, [0.25, -1.0])]),
    ("2.3", "exp", [([0.5], [0], 0.5, [0.25])]),
    ("2.3", "log", [([2.5], [0], 0.5, [0.25])]),
    ("2.4", "tanh", [([0.7], [0], 0.5, [0.25])]),
    ("2.4", "sigmoid", [([1.2], [0], 0.5, [0.25]), ([-1.2], [0], 0.5, [0.25])]),
    # One check for all three sides of relu, a point each: doing nothing is right for x <= 0.
    ("2.4", "relu", [([0.5], [0], 0.5, [0.25]), ([-0.5], [0], 0.5, [0.25]), ([0.0], [0], 0.5, [0.25])]),
]


def local_checks(rng: random.Random) -> list[Check]:
    def case(xs: list[float], args: list[Any]) -> Case:
        return xs, args, _signed(rng, 0.3, 2), [_signed(rng, 0.1, 1) for _ in xs]

    hidden: list[tuple[str, str, list[Case]]] = [
        ("2.1", "add", [case([_signed(rng, 0.1, 5), _signed(rng, 0.1, 5)], [0, 1])]),
        ("2.1", "mul", [case([_signed(rng, 0.1, 5), _signed(rng, 0.1, 5)], [0, 1])]),
        ("2.2", "pow", [case([_uniform(rng, 0.3, 3)], [0, {"c": rng.choice((2, 3, -1, -2, 0.5, 1.5))}])]),
        ("2.2", "div", [case([_signed(rng, 0.5, 5), _signed(rng, 0.5, 5)], [0, 1])]),
        ("2.3", "exp", [case([_signed(rng, 0.1, 3)], [0])]),
        ("2.3", "log", [case([_uniform(rng, 0.1, 10)], [0])]),
        ("2.4", "tanh", [case([_signed(rng, 0.1, 2.5)], [0])]),
        ("2.4", "sigmoid", [case([_signed(rng, 0.1, 4)], [0])]),
        ("2.4", "relu", [case([_uniform(rng, 0.1, 5)], [0]), case([-_uniform(rng, 0.1, 5)], [0])]),
    ]
    checks = []
    specs = [(t, op, cases, False) for t, op, cases in LOCAL_PUBLIC] + [(t, op, cases, True) for t, op, cases in hidden]
    for n, (task, op, cases, is_hidden) in enumerate(specs):
        probe = {
            "kind": "local",
            "op": op,
            "cases": [{"inputs": xs, "args": args, "upstream": g, "pre": pre} for xs, args, g, pre in cases],
        }
        xs, args = cases[0][0], cases[0][1]
        expr = render([["leaf", x] for x in xs] + [[op, *args]])[-1]
        title = f"local derivative of {expr}" + (" (a node used twice)" if args == [0, 0] else "")
        if len(cases) > 1:
            title = f"local derivative of {op} for x > 0, x < 0" + (" and x = 0" if len(cases) > 2 else "")
        if is_hidden:  # fixed text: a hidden title never carries an input (a ** 1.5 would give one away)
            expr = f"{OP_NAME[op]} on hidden inputs"
            title = f"local derivative of {OP_NAME[op]} on other inputs"
        cid = f"{task}/{'hidden' if is_hidden else 'public'}/{op}-{n}"
        checks.append(Check(cid, task, title, float(len(cases)), is_hidden, probe, "local", info={"expr": expr}))
    return checks


def graph_checks(rng: random.Random) -> list[Check]:
    # Section 3 grades the walk, not the ops: its graphs use only + and * (Task 1.1,
    # 2.1), so a missing sigmoid or __rtruediv__ is charged in its own task. The
    # seed expressions are the integration checks: they use every op.
    diamond = [["leaf", 2.0], ["leaf", -3.0], ["mul", 0, 1], ["add", 0, 2], ["mul", 2, 3], ["mul", 4, {"c": 0.5}],
               ["add", 5, 3]]  # fmt: skip
    three = [["leaf", 0.5], ["mul", 0, {"c": 2.0}], ["mul", 0, {"c": -1.5}], ["mul", 0, 0], ["add", 1, 2], ["add", 4, 3]]
    consts = [["leaf", 1.5], ["leaf", -0.5], ["add", {"c": 2.0}, 0], ["mul", 1, {"c": 3.0}], ["add", 2, {"c": 1.0}],
              ["mul", {"c": 2.0}, 0], ["mul", 4, 3], ["add", 6, 5]]  # fmt: skip
    a, b = _signed(rng, 0.5, 4), _signed(rng, 0.5, 4)
    if abs(a + b) < 0.3 or abs(a - b) < 0.3:
        b += 1.0
    random_ops = ("add", "mul", "const")

    def expr(cid: str, task: str, title: str, program: list[list[Any]], hidden: bool, pts: float = 1.0,
             repeat: int = 1, integration: bool = False) -> Check:  # fmt: skip
        probe: dict[str, Any] = {"kind": "expr", "program": program, "backward": True}
        if repeat > 1:
            probe["repeat"] = repeat
        if not integration:  # backward() on the probe's topological order: 3.1 is graded in 3.1
            probe["own_topo"] = True
        info = {"integration": True} if integration else {}
        return Check(cid, task, title, pts, hidden, probe, "expr_backward", info=info)

    def chain(cid: str, task: str, title: str, topo: bool, hidden: bool, factor: float = 1.0001) -> Check:
        probe = {"kind": "chain", "x": 0.5, "n": CHAIN_OPS, "factor": factor, "shift": 0.001, "topo": topo}
        if not topo:
            probe["own_topo"] = True
        return Check(cid, task, title, 2.0, hidden, probe, "chain", timeout=5.0)

    # Task 3.1's checks run after those that grade backward() on the probe's own order
    # (Check.run_order): a sort that loops cannot use up their restarts.
    def topo(cid: str, title: str, program: list[list[Any]], hidden: bool) -> Check:
        return Check(cid, "3.1", title, 2.0, hidden, {"kind": "topo", "program": program}, "topo")

    checks = [
        topo("3.1/public/diamond", "topological order of a diamond with reuse", diamond, False),
        topo("3.1/public/three", "topological order: a node feeding three others", three, False),
        chain("3.1/public/chain", "3.1", f"topological order of a {CHAIN_OPS:,}-op chain (no recursion limit)", True, False),
        topo("3.1/hidden/random", "topological order of a random graph", random_program(rng, 3, 14, random_ops), True),
        expr("3.2/public/seed-relu", "3.2", "the seed expression (relu), a = -4, b = 2 (integration: every op of sections 1-2)",
             seed_program(-4.0, 2.0, "relu"), False, 2.0, integration=True),
        expr("3.2/public/diamond", "3.2", "a diamond: gradients from two paths add up", diamond, False),
        expr("3.2/public/twice", "3.2", "backward() twice: each leaf gets exactly twice the gradient", diamond, False,
             repeat=2),
        expr("3.2/public/three", "3.2", "a node feeding three others", three, False),
        expr("3.2/public/constants", "3.2", "constants on either side of every operator", consts, False),
        chain("3.2/public/chain", "3.2", f"backward through a {CHAIN_OPS:,}-op chain", False, False),
        expr("3.2/hidden/seed-tanh", "3.2", "the seed expression (tanh) on other inputs (integration)",
             seed_program(a, b, "tanh"), True, 2.0, integration=True),
        expr("3.2/hidden/random-1", "3.2", "a random graph", random_program(rng, 3, 12, random_ops), True),
        expr("3.2/hidden/random-2", "3.2", "a random graph with heavy reuse", random_program(rng, 2, 16, random_ops), True),
        chain("3.2/hidden/chain", "3.2", "backward through a long chain", False, True, round(rng.uniform(0.9995, 1.0002), 6)),
    ]  # fmt: skip
    # The integration checks (the student's own sort and every op) last: if they loop, nothing else is lost.
    return [c for c in checks if not c.integration] + [c for c in checks if c.integration]


def _weights(rng: random.Random, n: int) -> list[float]:
    return [round(rng.uniform(-1, 1), 4) for _ in range(n)]


def nn_checks(rng: random.Random) -> list[Check]:
    fixed = random.Random(7)  # public weights: the same for everyone

    def module(cid: str, task: str, title: str, kind: str, args: list[Any], kwargs: dict[str, Any], hidden: bool,
               r: random.Random, *, forward: bool = True, zero_grad: bool = False, nout: int = 1) -> Check:  # fmt: skip
        probe: dict[str, Any] = {"kind": "module", "module": kind, "args": args, "kwargs": kwargs}
        if forward:
            from grader.oracle import _layer_sizes  # the parameter count of this shape

            count = sum((nin + 1) * n for nin, n, _ in _layer_sizes(probe))
            weights, x = _weights(r, count), _weights(r, args[0])
            if kind == "neuron" and sum(w * v for w, v in zip(weights, x)) + weights[-1] <= 0:
                # A live neuron: a dead relu's answer (all zeros) proves nothing.
                x = [abs(v) if w >= 0 else -abs(v) for w, v in zip(weights, x)]
                weights[-1] = abs(weights[-1])
            probe |= {"weights": weights, "x": x, "backward": True,
                      "coef": [round(r.uniform(0.5, 1.5), 3) for _ in range(nout)], "zero_grad": zero_grad}  # fmt: skip
        judge = "zero_grad" if zero_grad else "module" if forward else "count"
        return Check(cid, task, title, 1.0, hidden, probe, judge, timeout=3.0)

    init = {"kind": "module", "module": "neuron", "args": [3], "kwargs": {}, "seed": 1}

    return [
        module("4.1/public/count", "4.1", "Neuron(3) has 4 parameters (3 weights, 1 bias)", "neuron", [3], {}, False, fixed, forward=False),
        module("4.1/public/relu", "4.1", "Neuron(3) output and gradients", "neuron", [3], {}, False, fixed),
        Check("4.1/public/init", "4.1", "Neuron(3) after random.seed(1): weights from random.uniform(-1, 1), bias 0",
              1.0, False, init, "init", timeout=3.0),
        module("4.1/public/linear", "4.1", "Neuron(2, nonlin=False)", "neuron", [2], {"nonlin": False}, False, fixed),
        module("4.1/public/tanh", "4.1", "Neuron(3, activation='tanh')", "neuron", [3], {"activation": "tanh"}, False, fixed),
        module("4.1/public/zero_grad", "4.1", "zero_grad() resets every parameter's grad", "neuron", [3], {}, False, fixed, zero_grad=True),
        module("4.1/hidden/tanh", "4.1", "a tanh neuron on other weights", "neuron", [4], {"activation": "tanh"}, True, rng),
        module("4.2/public/count", "4.2", "Layer(3, 2) has 8 parameters", "layer", [3, 2], {}, False, fixed, forward=False),
        module("4.2/public/two", "4.2", "Layer(3, 2): two outputs and all gradients", "layer", [3, 2], {}, False, fixed, nout=2),
        module("4.2/public/one", "4.2", "Layer(3, 1) returns a single Value", "layer", [3, 1], {"nonlin": False}, False, fixed),
        module("4.2/hidden/layer", "4.2", "a layer on other weights", "layer", [2, 3], {"activation": "tanh"}, True, rng, nout=3),
        module("4.3/public/count-337", "4.3", "MLP(2, [16, 16, 1]) has 337 parameters", "mlp", [2, [16, 16, 1]], {}, False, fixed, forward=False),
        module("4.3/public/count-41", "4.3", "MLP(3, [4, 4, 1]) has 41 parameters", "mlp", [3, [4, 4, 1]], {}, False, fixed, forward=False),
        module("4.3/public/forward", "4.3", "MLP(3, [4, 4, 1]): output and every parameter's gradient", "mlp", [3, [4, 4, 1]], {}, False, fixed),
        module("4.3/hidden/tanh", "4.3", "a tanh MLP on other weights", "mlp", [2, [5, 3, 1]], {"activation": "tanh"}, True, rng),
    ]  # fmt: skip


def moons(seed: int, n: int) -> tuple[list[list[float]], list[float]]:
    """The reference's make_moons (scikit-learn, noise 0.1, labels -1/+1)."""
    from grader.oracle import reference_modules

    reference_modules()  # `micrograd` is the reference from here on
    from micrograd.data import make_moons

    return make_moons(n, 0.1, seed)


def train_checks(rng: random.Random) -> list[Check]:
    fixed = random.Random(11)
    scores = [0.8, -1.5, 0.2, 2.5, -0.3]
    ys = [1.0, -1.0, -1.0, 1.0, 1.0]
    # Scores on both sides of 0 and of ±1, one exactly 0 (not positive), one wrong:
    # a threshold off by one or a flipped comparison changes the answer (7/8).
    acc_scores = [0.8, -1.5, 0.2, 2.5, -0.3, 0.0, 0.5, -0.7]
    acc_ys = [1.0, -1.0, 1.0, -1.0, -1.0, -1.0, 1.0, -1.0]

    def loss(cid: str, title: str, fn: str, values: list[float], targets: list[float], hidden: bool) -> Check:
        probe = {"kind": "loss", "fn": fn, "values": values, "ys": targets, "alpha": 0.01}
        return Check(cid, "5.1", title, 1.0, hidden, probe, "loss")

    hv = [_signed(rng, 0.05, 3) for _ in range(6)]
    hy = [rng.choice((-1.0, 1.0)) for _ in range(6)]
    X, y = moons(1337, TRAIN_POINTS)
    hX, hy2 = moons(rng.randrange(1 << 30), TRAIN_POINTS)
    shape = {"args": [2, [8, 8, 1]], "kwargs": {}}
    n = 3 * 8 + 9 * 8 + 9

    def train(cid: str, title: str, data: tuple[Any, Any], r: random.Random, steps: int, judge: str, hidden: bool, pts: float, group: str = "") -> Check:  # fmt: skip
        probe = {"kind": "train", **shape, "weights": _weights(r, n), "X": data[0], "y": data[1],
                 "steps": steps, "alpha": 1e-4}  # fmt: skip
        if judge == "trajectory":  # the schedule and the SGD step on the demo's loss; 5.1 is graded in 5.1
            probe["own_loss"] = True
        return Check(cid, "5.2", title, pts, hidden, probe, judge, timeout=8.0 if steps < 10 else 15.0, group=group)

    return [
        loss("5.1/public/svm", "svm_loss on five points", "svm_loss", scores, ys, False),
        loss("5.1/public/mse", "mse_loss on five points", "mse_loss", scores, [1.0, -1.0, 0.5, 2.0, 0.0], False),
        loss("5.1/public/l2", "l2_penalty with alpha = 0.01", "l2_penalty", scores, [], False),
        loss("5.1/hidden/svm", "svm_loss on other points", "svm_loss", hv, hy, True),
        loss("5.1/hidden/mse", "mse_loss on other points", "mse_loss", hv, [_signed(rng, 0, 2) for _ in hv], True),
        loss("5.1/hidden/l2", "l2_penalty on other parameters", "l2_penalty", hv, [], True),
        Check("5.2/public/lr", "5.2", "learning_rate(k, 100) for k = 0, 10, 50, 99", 1.0, False,
              {"kind": "call", "fn": "learning_rate", "args": [[0, 100], [10, 100], [50, 100], [99, 100]]}, "call"),
        Check("5.2/public/sgd", "5.2", "sgd_step moves each parameter against its gradient", 1.0, False,
              {"kind": "call", "fn": "sgd_step", "params": [[0.5, 0.2], [-1.0, -0.4], [2.0, 0.0]], "lr": 0.1}, "call"),
        Check("5.2/public/accuracy", "5.2", "accuracy of eight scores (one exactly 0)", 1.0, False,
              {"kind": "call", "fn": "accuracy", "scores": acc_scores, "ys": acc_ys}, "call"),
        Check("5.2/public/accuracy-floats", "5.2", "accuracy of plain float scores", 1.0, False,
              {"kind": "call", "fn": "accuracy", "scores": acc_scores, "ys": acc_ys, "plain": True}, "call"),
        train("5.2/public/trajectory", f"{TRAJECTORY_STEPS} SGD steps follow the reference's loss trajectory",
              (X, y), fixed, TRAJECTORY_STEPS, "trajectory", False, 2.0),
        train("5.2/hidden/trajectory", "the loss trajectory on other data and weights",
              (hX, hy2), rng, TRAJECTORY_STEPS, "trajectory", True, 2.0),
        train("5.2/public/fit", f"{TRAIN_STEPS} steps on {TRAIN_POINTS} moons reach {TRAIN_ACCURACY:.0%} accuracy "
              "(integration: your engine, nn and train together)", (X, y), random.Random(5), TRAIN_STEPS, "fit", False,
              2.0, group="stack"),
    ]  # fmt: skip


BUILDERS: list[Callable[[random.Random], list[Check]]] = [
    forward_checks,
    local_checks,
    graph_checks,
    nn_checks,
    train_checks,
]
BUILDER_OF_SECTION = dict(zip("12345", BUILDERS))


def build(seed: int, *, hidden: bool = True, tasks: set[str] | None = None) -> list[Check]:
    """Every check, hidden ones drawn from `seed`. Public checks never depend on it."""
    checks = []
    for builder in BUILDERS:
        checks += builder(random.Random(f"{builder.__name__}:{seed}"))
    return [c for c in checks if (hidden or not c.hidden) and (tasks is None or c.task in tasks)]
