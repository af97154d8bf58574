"""Property tests: every op, and random expression graphs, against PyTorch float64 and central differences."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from micrograd.engine import Value


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats with lo <= |x| <= hi, either sign."""
    return st.builds(lambda m, negative: -m if negative else m, floats(lo, hi), st.booleans())


def torch_eval(f: Callable[..., Any], xs: Sequence[float]) -> tuple[float, list[float]]:
    """f(*xs) and its gradient, computed by PyTorch in float64."""
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = f(*ts)
    out.backward()
    return out.item(), [0.0 if t.grad is None else t.grad.item() for t in ts]


def micrograd_eval(f: Callable[..., Any], xs: Sequence[float]) -> tuple[float, list[float]]:
    vs = [Value(x) for x in xs]
    out = f(*vs)
    out.backward()
    return out.data, [v.grad for v in vs]


def central_differences(f: Callable[..., Any], xs: Sequence[float]) -> list[float]:
    """d f / d xs[i] as (f(x + h) - f(x - h)) / 2h, with Values for the forward passes only."""
    grads = []
    for i, x in enumerate(xs):
        h = 1e-6 * max(1.0, abs(x))
        up = [Value(v + h if j == i else v) for j, v in enumerate(xs)]
        down = [Value(v - h if j == i else v) for j, v in enumerate(xs)]
        grads.append((f(*up).data - f(*down).data) / (2 * h))
    return grads


def assert_close(actual: float, expected: float, rel: float, abs_: float, what: str) -> None:
    assert math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_), f"{what}: {actual!r} vs {expected!r}"


# ------------------------------------------------------------------ (a) op by op


@dataclass(frozen=True)
class Op:
    f: Callable[..., Any]  # written once, runs on Values and on tensors
    inputs: tuple[st.SearchStrategy[float], ...]  # one strategy per argument, inside the op's domain
    smooth: bool = True  # False: central differences are skipped near the kink at 0


MAG = floats(-1e3, 1e3)
OPS: dict[str, Op] = {
    "a+b": Op(lambda a, b: a + b, (MAG, MAG)),
    "a-b": Op(lambda a, b: a - b, (MAG, MAG)),
    "a*b": Op(lambda a, b: a * b, (MAG, MAG)),
    "a/b": Op(lambda a, b: a / b, (MAG, away_from_zero(1e-2, 1e3))),
    "-a": Op(lambda a: -a, (MAG,)),
    "exp": Op(lambda a: a.exp(), (floats(-50, 50),)),
    "log": Op(lambda a: a.log(), (floats(1e-3, 1e3),)),
    "tanh": Op(lambda a: a.tanh(), (floats(-20, 20),)),
    "sigmoid": Op(lambda a: a.sigmoid(), (floats(-40, 40),)),
    "relu": Op(lambda a: a.relu(), (MAG,), smooth=False),
    "a**2": Op(lambda a: a**2, (floats(-30, 30),)),
    "a**3": Op(lambda a: a**3, (floats(-30, 30),)),
    "a**-1": Op(lambda a: a**-1, (away_from_zero(0.1, 30),)),
    "a**-2": Op(lambda a: a**-2, (away_from_zero(0.1, 30),)),
    "a**0.5": Op(lambda a: a**0.5, (floats(0.01, 100),)),
    "a**-1.7": Op(lambda a: a**-1.7, (floats(0.1, 100),)),
    "2+a": Op(lambda a: 2 + a, (MAG,)),
    "2-a": Op(lambda a: 2 - a, (MAG,)),
    "2*a": Op(lambda a: 2 * a, (MAG,)),
    "2/a": Op(lambda a: 2 / a, (away_from_zero(1e-2, 1e3),)),
    "2**a": Op(lambda a: 2**a, (floats(-30, 30),)),
    "0.3**a": Op(lambda a: 0.3**a, (floats(-30, 30),)),
}


@pytest.mark.parametrize("name", OPS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_op_matches_torch_and_central_differences(name: str, data: st.DataObject) -> None:
    op = OPS[name]
    xs = [data.draw(strategy, label=f"x{i}") for i, strategy in enumerate(op.inputs)]

    value, grads = micrograd_eval(op.f, xs)
    t_value, t_grads = torch_eval(op.f, xs)
    assert_close(value, t_value, 1e-12, 1e-15, "forward vs torch")
    for i, (g, tg) in enumerate(zip(grads, t_grads, strict=True)):
        assert_close(g, tg, 1e-12, 1e-15, f"grad {i} vs torch")  # 1 - tanh**2 near 0 cancels

    if not op.smooth and any(abs(x) < 1e-3 for x in xs):
        return  # the finite difference would straddle the kink
    for i, (g, cd) in enumerate(zip(grads, central_differences(op.f, xs), strict=True)):
        assert_close(g, cd, 1e-5, 1e-8 * (1 + abs(value)), f"grad {i} vs central differences")


# ------------------------------------------------------- (b) random expression graphs

# Steps of a random program. Each reads one or two earlier nodes; the ones with a
# restricted domain are guarded by construction (a denominator b*b + 1 >= 1, a
# logarithm of a*a + 0.5 > 0), which also puts reuse (b*b) into every graph.
STEPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "rdiv": lambda a, b: 1.5 / (a * a + 0.5),
    "neg": lambda a, b: -a,
    "exp": lambda a, b: (-(a * a)).exp(),
    "log": lambda a, b: (a * a + 0.5).log(),
    "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "relu": lambda a, b: a.relu(),
    "square": lambda a, b: a**2,
    "cube": lambda a, b: a**3,
    "rsqrt": lambda a, b: (a * a + 0.25) ** -0.5,
    "affine": lambda a, b: 0.5 * a - 0.25,
    "rpow": lambda a, b: 2 ** a.tanh(),
}


BINARY_STEPS = {"add", "sub", "mul", "div"}  # the others read only their first operand


@dataclass(frozen=True)
class Program:
    """Leaves x0..x(n-1), then node n+k = STEPS[op_k](node i_k, node j_k); the last node is the output."""

    leaves: tuple[float, ...]
    steps: tuple[tuple[str, int, int], ...]

    def __call__(self, *xs: Any) -> Any:
        nodes = list(xs)
        for op, i, j in self.steps:
            nodes.append(STEPS[op](nodes[i], nodes[j]))
        return nodes[-1]

    def nodes(self) -> list[Value]:
        """Every node's Value (forward only)."""
        nodes: list[Value] = [Value(x) for x in self.leaves]
        for op, i, j in self.steps:
            nodes.append(STEPS[op](nodes[i], nodes[j]))
        return nodes


@st.composite
def programs(draw: st.DrawFn) -> Program:
    n_leaves = draw(st.integers(1, 4))
    leaves = tuple(draw(floats(-2, 2)) for _ in range(n_leaves))
    steps = []
    for k in range(draw(st.integers(1, 15))):
        n_nodes = n_leaves + k
        # Most steps read the newest node, so graphs are deep as well as wide.
        i = draw(st.one_of(st.just(n_nodes - 1), st.integers(0, n_nodes - 1)))
        j = draw(st.integers(0, n_nodes - 1))
        steps.append((draw(st.sampled_from(sorted(STEPS))), i, j))
    return Program(leaves, tuple(steps))


def moderate(program: Program, bound: float) -> bool:
    """Every node's value is finite and at most `bound` in size."""
    return all(math.isfinite(v.data) and abs(v.data) <= bound for v in program.nodes())


@settings(max_examples=200, deadline=None)
@given(program=programs())
def test_random_graph_matches_torch(program: Program) -> None:
    assume(moderate(program, 1e6))
    value, grads = micrograd_eval(program, program.leaves)
    t_value, t_grads = torch_eval(program, program.leaves)
    # Some rounding differs (sigmoid's formula, 2**x as exp): an absolute floor covers cancellation to ~0.
    assert_close(value, t_value, 1e-9, 1e-9, "forward vs torch")
    for i, (g, tg) in enumerate(zip(grads, t_grads, strict=True)):
        assert_close(g, tg, 1e-9, 1e-9, f"grad of leaf {i} vs torch")


def relu_inputs(program: Program) -> list[float]:
    nodes = program.nodes()
    return [nodes[i].data for op, i, _ in program.steps if op == "relu"]


@settings(max_examples=200, deadline=None)
@given(program=programs())
def test_random_graph_matches_central_differences(program: Program) -> None:
    assume(moderate(program, 1e3))
    assume(all(abs(x) > 1e-3 for x in relu_inputs(program)))  # no finite difference across relu's kink
    value, grads = micrograd_eval(program, program.leaves)
    for i, (g, cd) in enumerate(zip(grads, central_differences(program, program.leaves), strict=True)):
        assert_close(g, cd, 1e-4, 1e-6 * (1 + abs(value)), f"grad of leaf {i} vs central differences")


def test_program_strategy_builds_reuse_and_every_step() -> None:
    """The generator reaches every kind of step, and graphs where one node feeds several others."""
    seen_ops: set[str] = set()
    reuse = False

    @settings(max_examples=300, deadline=None)
    @given(program=programs())
    def collect(program: Program) -> None:
        nonlocal reuse
        seen_ops.update(op for op, _, _ in program.steps)
        reads = [node for op, i, j in program.steps for node in ((i, j) if op in BINARY_STEPS else (i,))]
        reuse |= len(reads) != len(set(reads))  # some node feeds two steps

    collect()
    assert seen_ops == set(STEPS)
    assert reuse
