"""The reference engine against PyTorch (float64), the seed documents' golden values, and its error messages."""

from __future__ import annotations

import gc
import math
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
import torch

from micrograd.engine import Value, cycle_collector_paused

REL = 1e-12  # micrograd and torch do the same float64 arithmetic, up to rounding


def close(actual: float, expected: float, rel: float = REL) -> bool:
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-15)


def run_both(f: Callable[..., Any], *xs: float) -> tuple[Value, list[Value], torch.Tensor, list[torch.Tensor]]:
    """Evaluate `f` on Values and on float64 tensors, and backpropagate through both."""
    vs = [Value(x) for x in xs]
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out_v, out_t = f(*vs), f(*ts)
    out_v.backward()
    out_t.backward()
    return out_v, vs, out_t, ts


def assert_matches_torch(f: Callable[..., Any], *xs: float) -> None:
    out_v, vs, out_t, ts = run_both(f, *xs)
    assert close(out_v.data, out_t.item()), f"forward {out_v.data!r} != torch {out_t.item()!r}"
    for i, (v, t) in enumerate(zip(vs, ts, strict=True)):
        assert close(v.grad, t.grad.item()), f"grad of input {i}: {v.grad!r} != torch {t.grad.item()!r}"


# ------------------------------------------------------------------ every op vs torch

# Each op is written once and runs on Values and on tensors alike.
UNARY: dict[str, tuple[Callable[[Any], Any], list[float]]] = {
    "neg": (lambda x: -x, [-2.5, 0.0, 3.0]),
    "exp": (lambda x: x.exp(), [-3.0, 0.0, 0.5, 2.0]),
    "log": (lambda x: x.log(), [1e-3, 0.5, 1.0, 7.0]),
    "tanh": (lambda x: x.tanh(), [-3.0, -0.1, 0.0, 0.7, 4.0]),
    "sigmoid": (lambda x: x.sigmoid(), [-30.0, -1.0, 0.0, 0.3, 20.0]),
    "relu": (lambda x: x.relu(), [-2.0, -1e-9, 1e-9, 1.5]),
    "x+2": (lambda x: x + 2, [-1.5, 0.0, 4.0]),
    "x-2": (lambda x: x - 2, [-1.5, 0.0, 4.0]),
    "x*2": (lambda x: x * 2, [-1.5, 0.0, 4.0]),
    "x/2": (lambda x: x / 2, [-1.5, 0.0, 4.0]),
    "x+0.25": (lambda x: x + 0.25, [-1.5, 3.0]),
    "x*-0.5": (lambda x: x * -0.5, [-1.5, 3.0]),
    "2+x": (lambda x: 2 + x, [-1.5, 0.0, 4.0]),
    "2-x": (lambda x: 2 - x, [-1.5, 0.0, 4.0]),
    "2*x": (lambda x: 2 * x, [-1.5, 0.0, 4.0]),
    "2/x": (lambda x: 2 / x, [-1.5, 0.25, 4.0]),
    "2**x": (lambda x: 2**x, [-1.5, 0.0, 3.0]),
    "0.5**x": (lambda x: 0.5**x, [-1.5, 0.0, 3.0]),
    "x**2": (lambda x: x**2, [-3.0, -0.5, 0.0, 1.5]),
    "x**3": (lambda x: x**3, [-3.0, -0.5, 0.0, 1.5]),
    "x**1": (lambda x: x**1, [-3.0, 2.0]),
    "x**0": (lambda x: x**0, [-3.0, 0.0, 2.0]),
    "x**-1": (lambda x: x**-1, [-3.0, -0.5, 1.5]),
    "x**-2": (lambda x: x**-2, [-3.0, -0.5, 1.5]),
    "x**2.0": (lambda x: x**2.0, [-3.0, 1.5]),
    "x**-3.0": (lambda x: x**-3.0, [-3.0, 1.5]),
    "x**0.5": (lambda x: x**0.5, [0.01, 2.0, 9.0]),
    "x**1.5": (lambda x: x**1.5, [0.0, 0.01, 2.0]),
    "x**-1.5": (lambda x: x**-1.5, [0.01, 2.0]),
}

BINARY: dict[str, tuple[Callable[[Any, Any], Any], list[tuple[float, float]]]] = {
    "a+b": (lambda a, b: a + b, [(1.0, 2.0), (-3.5, 0.25), (0.0, 0.0)]),
    "a-b": (lambda a, b: a - b, [(1.0, 2.0), (-3.5, 0.25), (0.0, 0.0)]),
    "a*b": (lambda a, b: a * b, [(1.0, 2.0), (-3.5, 0.25), (0.0, -2.0)]),
    "a/b": (lambda a, b: a / b, [(1.0, 2.0), (-3.5, 0.25), (0.0, -2.0), (7.0, -3.0)]),
}

UNARY_CASES = [pytest.param(f, x, id=f"{name}@{x:g}") for name, (f, xs) in UNARY.items() for x in xs]
BINARY_CASES = [
    pytest.param(f, a, b, id=f"{name}@{a:g},{b:g}") for name, (f, pairs) in BINARY.items() for a, b in pairs
]


@pytest.mark.parametrize(("f", "x"), UNARY_CASES)
def test_unary_ops_match_torch(f: Callable[[Any], Any], x: float) -> None:
    assert_matches_torch(f, x)


@pytest.mark.parametrize(("f", "a", "b"), BINARY_CASES)
def test_binary_ops_match_torch(f: Callable[[Any, Any], Any], a: float, b: float) -> None:
    assert_matches_torch(f, a, b)


@pytest.mark.parametrize("x", [-2.0, 0.0, 1.5])
def test_relu_gradient_is_zero_at_and_below_zero(x: float) -> None:
    v = Value(x)
    out = v.relu()
    out.backward()
    assert out.data == max(x, 0.0)
    assert v.grad == (1.0 if x > 0 else 0.0)


def test_operations_record_their_inputs_and_op() -> None:
    a, b = Value(2.0), Value(3.0)
    for out, op in [(a + b, "+"), (a * b, "*"), (a / b, "/"), (a**2, "**2"), (a.exp(), "exp"), (a.relu(), "ReLU")]:
        assert out._op == op
        assert out._prev[0] is a


# ------------------------------------------------------------- the seed expression

GOLDEN = {  # torch float64, from anchors.md
    "relu": (24.70408163265306, 138.83381924198252, 645.5772594752186),
    "tanh": (4.625192144640555, 27.060135135849503, 117.33448345392043),
}


def seed_expression(act: str) -> tuple[Value, Value, Value]:
    """The expression from the seed documents (and the classic micrograd's test)."""
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + getattr(b + a, act)()
    d += 3 * d + getattr(b - a, act)()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g, a, b


@pytest.mark.parametrize("act", GOLDEN)
def test_seed_expression_golden_values(act: str) -> None:
    g, a, b = seed_expression(act)
    g.backward()
    g_data, a_grad, b_grad = GOLDEN[act]
    assert close(g.data, g_data)
    assert close(a.grad, a_grad)
    assert close(b.grad, b_grad)


@pytest.mark.parametrize("act", GOLDEN)
def test_backward_twice_doubles_leaf_grads_exactly(act: str) -> None:
    g, a, b = seed_expression(act)
    g.backward()
    once = (a.grad, b.grad)
    g.backward()
    assert (a.grad, b.grad) == (2 * once[0], 2 * once[1])
    assert g.grad == 1.0


def test_backward_twice_resets_intermediate_grads() -> None:
    a = Value(3.0)
    h = a * 2.0
    out = h * h
    out.backward()
    assert h.grad == 12.0
    out.backward()
    assert h.grad == 12.0  # recomputed, not accumulated
    assert a.grad == 2 * 24.0


# -------------------------------------------------------------- graph shapes


def test_reuse_of_one_value_in_a_product() -> None:
    a = Value(3.0)
    out = a * a
    out.backward()
    assert out._prev == (a, a)
    assert a.grad == 6.0


def test_diamond() -> None:
    a = Value(2.0)
    left, right = a * 3.0, a + 1.0
    out = left * right  # 3a(a + 1): derivative 6a + 3
    out.backward()
    assert out.data == 18.0
    assert a.grad == 15.0


def test_value_feeding_three_consumers() -> None:
    assert_matches_torch(lambda a: a * 2 + a.exp() + a**2, 0.7)
    a = Value(1.5)
    out = a * 2 + a.tanh() + a**2
    out.backward()
    assert close(a.grad, 2 + (1 - math.tanh(1.5) ** 2) + 3.0)


def test_diamond_and_reuse_match_torch() -> None:
    def f(a: Any, b: Any) -> Any:
        s = a * b
        t = s + a
        return (s * t).tanh() + t / (b * b + 1) + s.sigmoid()

    assert_matches_torch(f, 0.3, -1.2)


def test_million_node_chain_at_default_recursion_limit() -> None:
    limit = sys.getrecursionlimit()
    with cycle_collector_paused():
        x = Value(1.0)
        y = x
        for _ in range(999_999):  # x plus 999,999 additions: 1,000,000 nodes
            y = y + x
        y.backward()
        assert (y.data, x.grad) == (1_000_000.0, 1_000_000.0)
        del y
    assert sys.getrecursionlimit() == limit


def test_graph_holds_no_reference_cycles() -> None:
    """Dropping a graph frees it by reference counting alone: the cycle collector finds nothing."""
    with cycle_collector_paused():
        gc.collect()
        a = Value(2.0)
        out = (a * a + 1).tanh() / a.exp()
        out.backward()
        del out
        assert gc.collect() == 0


# ------------------------------------------------------------------------ errors


def test_value_of_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Value"):
        Value("abc")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("f", "op"),
    [
        (lambda v: v + "x", "+"),
        (lambda v: "x" + v, "+"),
        (lambda v: v * "x", "*"),
        (lambda v: v - "x", "-"),
        (lambda v: v / "x", "/"),
        (lambda v: v + None, "+"),
    ],
)
def test_operating_with_a_non_number_is_a_type_error_naming_the_op(f: Callable[[Value], Any], op: str) -> None:
    with pytest.raises(TypeError, match=re.escape(op)):
        f(Value(1.0))


def test_value_exponent_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"\*\*"):
        Value(2.0) ** Value(2.0)


@pytest.mark.parametrize("x", [0.0, -1.0])
def test_log_outside_its_domain(x: float) -> None:
    with pytest.raises(ValueError, match="log"):
        Value(x).log()


@pytest.mark.parametrize(
    "divide",
    [
        lambda: Value(1.0) / Value(0.0),
        lambda: Value(1.0) / 0,
        lambda: 1 / Value(0.0),
        lambda: Value(0.0) ** -1,
    ],
    ids=["value/value", "value/number", "number/value", "zero**negative"],
)
def test_division_by_zero_is_both_value_error_and_zero_division_error(divide: Callable[[], Value]) -> None:
    with pytest.raises(ZeroDivisionError) as caught:
        divide()
    assert isinstance(caught.value, ValueError)
    assert "/" in str(caught.value) or "**" in str(caught.value)


def test_negative_base_to_a_fractional_power() -> None:
    with pytest.raises(ValueError, match=r"\*\*"):
        Value(-2.0) ** 0.5


@pytest.mark.parametrize("base", [0, -2.0])
def test_number_to_a_value_power_needs_a_positive_base(base: float) -> None:
    with pytest.raises(ValueError, match=re.escape("** Value")):
        base ** Value(2.0)


def test_exp_overflow_names_exp() -> None:
    with pytest.raises(OverflowError, match="exp"):
        Value(1000.0).exp()


def test_sigmoid_does_not_overflow() -> None:
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


# ----------------------------------------------------------- classic compatibility


def test_classic_api() -> None:
    x = Value(1.0, label="x")
    y = Value(-2.0, _children=(), _op="")
    out = x * y
    out.label = "out"
    out.grad = 1.0
    out._backward()  # zero-argument, as in the classic micrograd
    assert (x.grad, y.grad) == (-2.0, 1.0)
    assert x.label == "x"
    assert out._op == "*"
    assert set(out._prev) == {x, y}
    x._backward()  # a leaf's rule does nothing
    assert x.grad == -2.0


def test_repr_shows_label_data_and_grad() -> None:
    assert repr(Value(1.5, label="w")) == "Value('w', data=1.5, grad=0)"
