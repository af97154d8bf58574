"""Section 1: the forward pass. Each operation makes a new Value holding the
result, remembering its inputs (`_prev`) and the operation (`_op`)."""

from __future__ import annotations

import math

import pytest
from helpers import check_close, check_node, check_value, leaves

PAIRS = [(2.0, -3.0), (0.5, 0.25), (-1.5, -2.5), (0.0, 7.0)]


@pytest.mark.task1_1
@pytest.mark.parametrize(("x", "y"), PAIRS)
def test_add_value(x: float, y: float) -> None:
    a, b = leaves(x, y)
    out = a + b
    check_value("1.1", f"a + b with a={x}, b={y}", out, x + y, "out.data should be self.data + other.data.")
    check_node("1.1", "a + b", out, (a, b), "+")


@pytest.mark.task1_1
@pytest.mark.parametrize(("x", "y"), PAIRS)
def test_mul_value(x: float, y: float) -> None:
    a, b = leaves(x, y)
    out = a * b
    check_value("1.1", f"a * b with a={x}, b={y}", out, x * y, "out.data should be self.data * other.data.")
    check_node("1.1", "a * b", out, (a, b), "*")


@pytest.mark.task1_1
def test_add_mul_leave_inputs_alone() -> None:
    a, b = leaves(2.0, -3.0)
    _ = a * b + a
    check_close("1.1", "a.data after computing a * b + a with a=2.0", a.data, 2.0, "make a new Value instead.")
    check_close("1.1", "b.data after computing a * b + a with b=-3.0", b.data, -3.0, "never change other either.")


@pytest.mark.task1_1
@pytest.mark.parametrize(
    ("expression", "make", "expected"),
    [
        ("a + 2", lambda a: a + 2, 5.0),
        ("2 + a", lambda a: 2 + a, 5.0),
        ("a * 4", lambda a: a * 4, 12.0),
        ("4 * a", lambda a: 4 * a, 12.0),
        ("-a", lambda a: -a, -3.0),
        ("a - 1", lambda a: a - 1, 2.0),
        ("10 - a", lambda a: 10 - a, 7.0),
    ],
)
def test_numbers_and_derived_ops(expression: str, make, expected: float) -> None:
    (a,) = leaves(3.0)
    check_value(
        "1.1",
        f"{expression} with a=3.0",
        make(a),
        expected,
        "these are built from your + and * (a plain number is wrapped into a Value first); fix those.",
    )


@pytest.mark.task1_2
@pytest.mark.parametrize(("x", "n"), [(3.0, 2), (4.0, 0.5), (2.0, -1), (-2.0, 3), (5.0, 1)])
def test_pow_value(x: float, n: float) -> None:
    (a,) = leaves(x)
    out = a**n
    check_value("1.2", f"a ** {n} with a={x}", out, x**n, "out.data should be self.data ** n (n is a plain number).")
    check_node("1.2", f"a ** {n}", out, (a,), f"**{float(n):g}")


@pytest.mark.task1_2
@pytest.mark.parametrize(("x", "y"), [(6.0, 3.0), (1.0, 3.0), (-7.5, 2.5), (0.0, 4.0)])
def test_div_value(x: float, y: float) -> None:
    a, b = leaves(x, y)
    out = a / b
    check_value(
        "1.2",
        f"a / b with a={x}, b={y}",
        out,
        x / y,
        "out.data should be self.data / other.data (a true division, not a * b**-1).",
    )
    check_node("1.2", "a / b", out, (a, b), "/")


@pytest.mark.task1_2
def test_div_with_numbers() -> None:
    (a,) = leaves(4.0)
    check_value("1.2", "a / 8 with a=4.0", a / 8, 0.5, "the number is wrapped into a Value before your code runs.")
    check_value("1.2", "8 / a with a=4.0", 8 / a, 2.0, "8 / a becomes Value(8) / a: your division.")


@pytest.mark.task1_3
@pytest.mark.parametrize("x", [0.0, 1.0, -2.0, 3.5])
def test_exp_value(x: float) -> None:
    (a,) = leaves(x)
    out = a.exp()
    check_value("1.3", f"a.exp() with a={x}", out, math.exp(x), "out.data should be math.exp(self.data).")
    check_node("1.3", "a.exp()", out, (a,), "exp")


@pytest.mark.task1_3
@pytest.mark.parametrize("x", [1.0, math.e, 10.0, 0.25])
def test_log_value(x: float) -> None:
    (a,) = leaves(x)
    out = a.log()
    check_value("1.3", f"a.log() with a={x}", out, math.log(x), "out.data should be math.log(self.data), base e.")
    check_node("1.3", "a.log()", out, (a,), "log")


@pytest.mark.task1_3
def test_number_to_the_power_of_a_value() -> None:
    (a,) = leaves(3.0)
    check_value("1.3", "2 ** a with a=3.0", 2**a, 8.0, "2 ** a is computed as (a * ln 2).exp(): check exp.")


@pytest.mark.task1_4
@pytest.mark.parametrize("x", [0.0, 0.5, -1.2, 3.0])
def test_tanh_value(x: float) -> None:
    (a,) = leaves(x)
    out = a.tanh()
    check_value("1.4", f"a.tanh() with a={x}", out, math.tanh(x), "out.data should be math.tanh(self.data).")
    check_node("1.4", "a.tanh()", out, (a,), "tanh")


@pytest.mark.task1_4
@pytest.mark.parametrize("x", [0.0, 2.0, -2.0, 30.0])
def test_sigmoid_value(x: float) -> None:
    (a,) = leaves(x)
    out = a.sigmoid()
    check_value("1.4", f"a.sigmoid() with a={x}", out, 1 / (1 + math.exp(-x)), "sigmoid(x) = 1 / (1 + e**-x).")
    check_node("1.4", "a.sigmoid()", out, (a,), "sigmoid")


@pytest.mark.task1_4
@pytest.mark.parametrize(("x", "expected"), [(-800.0, 0.0), (800.0, 1.0)])
def test_sigmoid_far_out(x: float, expected: float) -> None:
    (a,) = leaves(x)
    try:
        out = a.sigmoid()
    except OverflowError as err:
        raise AssertionError(
            f"Task 1.4, a.sigmoid() with a={x}: OverflowError ({err}).\n"
            "  Hint: math.exp(800) overflows. For x < 0 use the equal form e**x / (1 + e**x)."
        ) from None
    check_value("1.4", f"a.sigmoid() with a={x}", out, expected, "far from 0 sigmoid is (almost exactly) 0 or 1.")


@pytest.mark.task1_4
@pytest.mark.parametrize(("x", "expected"), [(2.5, 2.5), (-1.0, 0.0), (0.0, 0.0)])
def test_relu_value(x: float, expected: float) -> None:
    (a,) = leaves(x)
    out = a.relu()
    check_value("1.4", f"a.relu() with a={x}", out, expected, "relu(x) = max(0, x).")
    if type(out.data) is not float:
        raise AssertionError(
            f"Task 1.4, a.relu() with a={x}: out.data should be a float, got {type(out.data).__name__} "
            f"{out.data!r}.\n  Hint: max(0, -1.0) is the int 0; write 0.0."
        )
    check_node("1.4", "a.relu()", out, (a,), "ReLU")
