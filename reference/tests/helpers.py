"""Checks whose failure messages teach: the task, the operation and its inputs,
what was expected, what came out, and where to look."""

from __future__ import annotations

import math

from micrograd.engine import Value

# Results are compared with a relative tolerance: a correct formula written in
# another order may round differently in the last digits.
REL = 1e-9
ABS = 1e-12


def fail(task: str, what: str, expected: object, got: object, hint: str) -> None:
    """Fail the test with the standard message."""
    __tracebackhide__ = True
    raise AssertionError(f"Task {task}, {what}:\n  expected {expected!r}\n  got      {got!r}\n  Hint: {hint}")


def check_close(task: str, what: str, got: object, expected: float, hint: str) -> None:
    """`got` is a number within rounding of `expected`."""
    __tracebackhide__ = True
    ok = (
        isinstance(got, int | float)
        and not isinstance(got, bool)
        and math.isclose(got, expected, rel_tol=REL, abs_tol=ABS)
    )
    if not ok:
        fail(task, what, expected, got, hint)


def check_value(task: str, what: str, got: object, data: float, hint: str) -> None:
    """`got` is a Value holding `data`."""
    __tracebackhide__ = True
    if not isinstance(got, Value):
        fail(task, f"{what} (the type)", "a Value", f"{type(got).__name__} {got!r}", "return the Value you made.")
    check_close(task, f"{what} (its .data)", got.data, data, hint)


def check_node(task: str, what: str, out: Value, children: tuple[Value, ...], op: str) -> None:
    """`out` remembers how it was made: its children (the same objects, in order) and its op."""
    __tracebackhide__ = True
    got = tuple(out._prev)
    if len(got) != len(children) or any(g is not c for g, c in zip(got, children, strict=False)):
        fail(
            task,
            f"{what}: the children (out._prev)",
            children,
            got,
            "pass the input Values themselves, in order, as the second argument of Value(...): "
            "backward() follows _prev to reach them.",
        )
    if out._op != op:
        fail(task, f"{what}: the op label (out._op)", op, out._op, "pass it as the third argument of Value(...).")


def leaves(*numbers: float) -> list[Value]:
    """Fresh input Values named a, b, c, ..."""
    return [Value(x, label=name) for x, name in zip(numbers, "abcdefgh", strict=False)]
