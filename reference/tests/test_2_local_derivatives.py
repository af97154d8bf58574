"""Section 2: local derivatives. Each operation's `_backward` rule passes
`out.grad` on to its inputs with the chain rule:

    input.grad += (d out / d input) * out.grad

These tests call one rule by hand (`out._backward()`), as in the lecture, so
they need the forward pass (section 1) but not backward() (section 3). They
use out.grad = 3.0, not 1.0, so a rule that forgets to multiply by out.grad
fails, and they reuse inputs (`a * a`), so a rule that writes `=` instead of
`+=` fails too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from helpers import check_close, leaves

from micrograd.engine import Value

UPSTREAM = 3.0  # out.grad when the rule runs


def run_rule(make: Callable[..., Value], *numbers: float, upstream: float = UPSTREAM) -> tuple[Value, list[Value]]:
    """Build out = make(a, b, ...), set out.grad and call out's rule once; return out and the inputs."""
    inputs = leaves(*numbers)
    out = make(*inputs)
    out.grad = upstream
    out._backward()
    return out, inputs


def check_grads(task: str, expression: str, inputs: list[Value], expected: list[float], hint: str) -> None:
    """Each input's grad after the rule, against the chain rule worked out by hand."""
    __tracebackhide__ = True
    values = ", ".join(f"{v.label}={v.data}" for v in inputs)
    for value, want in zip(inputs, expected, strict=True):
        what = f"{expression} with {values}, out.grad={UPSTREAM}: {value.label}.grad"
        check_close(task, what, value.grad, want, hint)


ACCUMULATE = "accumulate with `+=` (an input used twice, as in a * a, gets both contributions)."


@pytest.mark.task2_1
@pytest.mark.parametrize(("x", "y"), [(2.0, -3.0), (0.5, 4.0)])
def test_add_rule(x: float, y: float) -> None:
    _, inputs = run_rule(lambda a, b: a + b, x, y)
    check_grads("2.1", "a + b", inputs, [UPSTREAM, UPSTREAM], "d(a+b)/da = d(a+b)/db = 1: both grads grow by out.grad.")


@pytest.mark.task2_1
@pytest.mark.parametrize(("x", "y"), [(2.0, -3.0), (0.5, 4.0)])
def test_mul_rule(x: float, y: float) -> None:
    _, inputs = run_rule(lambda a, b: a * b, x, y)
    check_grads(
        "2.1",
        "a * b",
        inputs,
        [y * UPSTREAM, x * UPSTREAM],
        "d(a*b)/da = b and d(a*b)/db = a: each input's grad grows by the OTHER input's data times out.grad.",
    )


@pytest.mark.task2_1
def test_add_reuses_input() -> None:
    _, (a,) = run_rule(lambda a: a + a, 1.5)
    check_grads("2.1", "a + a", [a], [2 * UPSTREAM], "self and other are the same Value here: " + ACCUMULATE)


@pytest.mark.task2_1
def test_mul_reuses_input() -> None:
    _, (a,) = run_rule(lambda a: a * a, 3.0)
    check_grads("2.1", "a * a", [a], [2 * 3.0 * UPSTREAM], "d(a*a)/da = 2a, one a from each side: " + ACCUMULATE)


@pytest.mark.task2_1
def test_rules_add_to_existing_grad() -> None:
    a, b = leaves(2.0, -3.0)
    a.grad, b.grad = 0.5, -1.0  # as if another path had already contributed
    out = a * b
    out.grad = UPSTREAM
    out._backward()
    check_close("2.1", "a * b with a.grad=0.5 before the rule: a.grad", a.grad, 0.5 + -3.0 * UPSTREAM, ACCUMULATE)
    check_close("2.1", "a * b with b.grad=-1.0 before the rule: b.grad", b.grad, -1.0 + 2.0 * UPSTREAM, ACCUMULATE)


@pytest.mark.task2_2
@pytest.mark.parametrize(("x", "n"), [(2.0, 3), (2.0, -1), (4.0, 0.5), (-1.5, 2)])
def test_pow_rule(x: float, n: float) -> None:
    _, inputs = run_rule(lambda a: a**n, x)
    check_grads(
        "2.2",
        f"a ** {n}",
        inputs,
        [n * x ** (n - 1) * UPSTREAM],
        "the power rule: d(x**n)/dx = n * x**(n-1), times out.grad.",
    )


@pytest.mark.task2_2
@pytest.mark.parametrize(("x", "y"), [(6.0, 3.0), (1.0, -4.0)])
def test_div_rule(x: float, y: float) -> None:
    _, inputs = run_rule(lambda a, b: a / b, x, y)
    check_grads(
        "2.2",
        "a / b",
        inputs,
        [UPSTREAM / y, -x / y**2 * UPSTREAM],
        "d(a/b)/da = 1/b and d(a/b)/db = -a/b**2, each times out.grad.",
    )


@pytest.mark.task2_2
def test_div_reuses_input() -> None:
    _, (a,) = run_rule(lambda a: a / a, 2.5)
    check_grads("2.2", "a / a", [a], [0.0], "a/a is constant, so its derivative is 1/a - a/a**2 = 0: " + ACCUMULATE)


@pytest.mark.task2_3
@pytest.mark.parametrize("x", [0.0, 0.7, -2.0])
def test_exp_rule(x: float) -> None:
    _, inputs = run_rule(lambda a: a.exp(), x)
    check_grads("2.3", "a.exp()", inputs, [math.exp(x) * UPSTREAM], "exp is its own derivative: use out.data.")


@pytest.mark.task2_3
@pytest.mark.parametrize("x", [1.0, 2.5, 0.1])
def test_log_rule(x: float) -> None:
    _, inputs = run_rule(lambda a: a.log(), x)
    check_grads("2.3", "a.log()", inputs, [UPSTREAM / x], "d(ln x)/dx = 1/x: divide out.grad by self.data.")


@pytest.mark.task2_4
@pytest.mark.parametrize("x", [0.0, 0.5, -2.0])
def test_tanh_rule(x: float) -> None:
    _, inputs = run_rule(lambda a: a.tanh(), x)
    check_grads(
        "2.4",
        "a.tanh()",
        inputs,
        [(1 - math.tanh(x) ** 2) * UPSTREAM],
        "d(tanh x)/dx = 1 - tanh(x)**2 = 1 - out.data**2 (the output, not the input).",
    )


@pytest.mark.task2_4
@pytest.mark.parametrize("x", [0.0, 0.3, -4.0])
def test_sigmoid_rule(x: float) -> None:
    s = 1 / (1 + math.exp(-x))
    _, inputs = run_rule(lambda a: a.sigmoid(), x)
    check_grads("2.4", "a.sigmoid()", inputs, [s * (1 - s) * UPSTREAM], "d(sigmoid)/dx = s * (1 - s), s = out.data.")


@pytest.mark.task2_4
@pytest.mark.parametrize(("x", "slope"), [(2.0, 1.0), (-1.0, 0.0), (0.0, 0.0)])
def test_relu_rule(x: float, slope: float) -> None:
    _, inputs = run_rule(lambda a: a.relu(), x)
    check_grads(
        "2.4",
        "a.relu()",
        inputs,
        [slope * UPSTREAM],
        "relu passes out.grad through where the output is positive and nothing elsewhere (nothing at exactly 0).",
    )


@pytest.mark.task2_4
def test_activation_rules_accumulate() -> None:
    for name in ("tanh", "sigmoid", "relu"):
        (a,) = leaves(0.5)
        a.grad = 1.0
        out = getattr(a, name)()
        out.grad = 0.0
        out._backward()
        check_close("2.4", f"a.{name}() with a.grad=1.0 before, out.grad=0.0: a.grad", a.grad, 1.0, ACCUMULATE)
