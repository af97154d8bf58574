"""A scalar reverse-mode autodiff engine.

Every `Value` remembers the values it was computed from (`_prev`), the
operation that made it (`_op`) and a local backward rule (`_backward`) that
passes its gradient on to those inputs with the chain rule. `backward()` visits
the graph in reverse topological order and calls every rule once.

Each primitive operation has the same four beats:

1. make `out` from the inputs' data (the forward pass),
2. define `_backward(out)`: how `out.grad` flows to each input,
3. attach it to `out`,
4. return `out`.

Derived operations (`-a`, `a - b`, `2 + a`, ...) are one line on top of the
primitives and need no backward rule of their own.

Why `_backward` takes `out` as an argument: in the classic micrograd the rule
is a closure over `out`, and `out` holds the rule, so every node is a reference
cycle that only Python's slow cyclic garbage collector can free (90% of the
classic training demo's time). Passing `out` in keeps the graph acyclic: it is
freed by reference counting the moment you drop it.

Why the rule reads its inputs from `out._prev`: a rule that closes over nothing
is the same function for every node, so the `_backward` setter keeps one
function per rule and every node of that operation shares it. A node is then
two objects the cycle collector tracks (the `Value` and its `_prev` tuple)
instead of six (the classic rule adds a function, its closure and a cell per
captured input). A rule that does capture something (`n` in `**`, or a
closure-style rule of your own) still works: it is kept as it is.

Why importing this module raises the collector's first threshold: even an
acyclic graph is rescanned by the cycle collector, its young objects every 700
new ones and, every ~100 of those, together with every other object of the
program (both live graphs of a training loop, all imported modules). In a loop
you write yourself (no `fit`, no `gc` calls) that was most of the time. So on
import the youngest generation's threshold goes from 700 to
`GC_YOUNG_THRESHOLD` (only ever raised; the other thresholds are untouched),
and a course-sized step (66,000 nodes, two live graphs) triggers no collection.

We chose with figures: `python benchmarks/hand_loop.py --roads`, the classic
demo written by hand, 10 steps, CPU time, as a speed-up over the classic
closure engine (same run, 2-core machine under load):

    a rule function per node, default collector        2.8x   170 MB
    shared rules (the road without a global effect)    4.2x   151 MB
    a rule function per node, threshold raised         9.7x   171 MB
    shared rules, threshold raised (this engine)       9.6x   151 MB
    shared rules, collector off                        9.4x   151 MB
    the classic engine itself, threshold raised        4.5x   617 MB

Only the threshold reaches the 8x target; sharing rules alone stops at 4.2x.
We keep both: sharing makes a node a third of the objects (the collector's
work whenever it does run, e.g. for graphs bigger than the threshold, and 20
MB less memory), and neither changes a digit of the results. The threshold is
a global side effect, and we accept it: cyclic garbage made by other code in
the same process waits for up to `GC_YOUNG_THRESHOLD` new objects (tens of
MB) instead of 700 before it is collected. To undo it:
`gc.set_threshold(*micrograd.engine.GC_THRESHOLDS_BEFORE_IMPORT)`. `fit()`
also pauses the collector for each step (`cycle_collector_paused`).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from numbers import Real
from types import CodeType, FunctionType
from typing import TypeAlias

Number: TypeAlias = int | float
Operand: TypeAlias = "Value | int | float"


# The collector's thresholds when this module was first imported, and the new
# first threshold: about twice the tracked objects of two live 66,000-node graphs
# (see the module docstring).
GC_THRESHOLDS_BEFORE_IMPORT: tuple[int, ...] = gc.get_threshold()
GC_YOUNG_THRESHOLD = 500_000
if GC_THRESHOLDS_BEFORE_IMPORT[0] < GC_YOUNG_THRESHOLD:
    gc.set_threshold(GC_YOUNG_THRESHOLD, *GC_THRESHOLDS_BEFORE_IMPORT[1:])

# One function per backward rule that captures nothing, keyed by its code:
# every node made by that operation shares it (see `Value._backward`).
_SHARED_RULES: dict[CodeType, Callable[[Value], None]] = {}


class ZeroDivisionValueError(ZeroDivisionError, ValueError):
    """Division by zero in a Value operation: a ZeroDivisionError, as Python
    raises for 1 / 0, and a ValueError, since the input is out of the domain."""


def _as_float(x: object, op: str) -> float:
    """Return `x` as a float, or raise a TypeError that names the operation."""
    if isinstance(x, Real) and not isinstance(x, bool):
        return float(x)
    raise TypeError(f"{op}: expected an int or a float, got {type(x).__name__} {x!r}")


def _constant(x: object, op: str) -> Value:
    """Wrap a plain number used in `op` (as in `a + 2`) into a leaf Value."""
    return Value(_as_float(x, f"Value {op} ..."))


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building and backpropagating graphs.

    Safe here because these graphs hold no reference cycles: reference counting
    frees every node as soon as it is unused, so memory stays flat. The cycle
    collector would find nothing, yet it rescans the live nodes each time enough
    new objects exist (700 by Python's default, `GC_YOUNG_THRESHOLD` once this
    module is imported): paused, a step of any size costs it nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Value:
    """A scalar that remembers how it was computed, so it can backpropagate.

    >>> a = Value(2.0, label="a"); b = Value(-3.0, label="b")
    >>> c = a * b + 1
    >>> c.backward()
    >>> a.grad, b.grad   # dc/da = b, dc/db = a
    (-3.0, 2.0)
    """

    __slots__ = ("_op", "_prev", "_rule", "data", "grad", "label")

    def __init__(
        self,
        data: Number,
        _children: tuple[Value, ...] = (),
        _op: str = "",
        label: str = "",
    ) -> None:
        # Fast path for the common case; anything else is checked and converted.
        self.data = data if type(data) is float else _as_float(data, "Value(data)")
        self.grad = 0.0
        self.label = label
        self._op = _op
        # A tuple, not a set: ordered (so graphs draw the same way every time),
        # cheap to build, and `a * a` may list `a` twice (the rules use `+=`).
        self._prev = _children if type(_children) is tuple else tuple(_children)
        self._rule: Callable[[Value], None] | None = None

    # `_backward` is stored as `_rule(out)`, which holds no reference to `out`.
    # Reading `v._backward` gives a zero-argument callable, as in the classic
    # micrograd, so `v._backward()` still works when you step through by hand.
    @property
    def _backward(self) -> Callable[[], None]:
        rule = self._rule
        return (lambda: None) if rule is None else (lambda: rule(self))

    @_backward.setter
    def _backward(self, rule: Callable[[Value], None]) -> None:
        # A rule that captures nothing does the same for every node: keep the
        # first function made from its code and share it (see the module docstring).
        shared = _SHARED_RULES.get(getattr(rule, "__code__", None))
        if shared is None:
            shared = rule
            if (
                type(rule) is FunctionType
                and rule.__closure__ is None
                and not (rule.__defaults__ or rule.__kwdefaults__)
            ):
                _SHARED_RULES[rule.__code__] = rule
        self._rule = shared

    # ---------------------------------------------------------------- primitives

    def __add__(self, other: Operand) -> Value:
        """out = self + other.   d(out)/d(self) = 1,  d(out)/d(other) = 1."""
        other = other if isinstance(other, Value) else _constant(other, "+")
        raise NotImplementedError(
            "Task 1.1: Addition, forward: make `out` holding self.data + other.data, with children (self, other) and "
            'op "+".'
        )

        def _backward(out: Value) -> None:
            self, other = out._prev
            raise NotImplementedError(
                "Task 2.1: Addition, backward: add out.grad to the grad of both inputs (accumulate with +=)."
            )

        out._backward = _backward
        return out

    def __mul__(self, other: Operand) -> Value:
        """out = self * other.   d(out)/d(self) = other,  d(out)/d(other) = self."""
        other = other if isinstance(other, Value) else _constant(other, "*")
        raise NotImplementedError(
            "Task 1.1: Multiplication, forward: make `out` holding self.data * other.data, with children (self, other) "
            'and op "*".'
        )

        def _backward(out: Value) -> None:
            self, other = out._prev
            raise NotImplementedError(
                "Task 2.1: Multiplication, backward: each input's grad grows by the OTHER input's data times out.grad."
            )

        out._backward = _backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        """out = self ** n for a constant int/float n.   d(out)/d(self) = n * self**(n-1)."""
        if isinstance(exponent, Value):
            raise TypeError(
                "Value ** Value is not supported: the exponent must be an int or a float. "
                "For a Value exponent write (b * a.log()).exp()."
            )
        n = _as_float(exponent, "Value ** exponent")
        if self.data == 0 and n < 0:
            raise ZeroDivisionValueError(f"Value ** {exponent}: 0 cannot be raised to a negative power")
        if self.data < 0 and not n.is_integer():
            raise ValueError(
                f"Value ** {exponent}: a negative base ({self.data}) to a non-integer power is not a real number"
            )
        if n == 0:  # x**0 is the constant 1 (also at x = 0, where the power rule would divide by 0)
            return Value(1.0, (self,), "**0")
        raise NotImplementedError(
            'Task 1.2: Power, forward: make `out` holding self.data ** n, with children (self,) and op f"**{n:g}".'
        )

        def _backward(out: Value) -> None:
            (self,) = out._prev
            raise NotImplementedError(
                "Task 2.2: Power, backward: the power rule, d(x**n)/dx = n * x**(n-1), times out.grad."
            )

        out._backward = _backward
        return out

    def __truediv__(self, other: Operand) -> Value:
        """out = self / other.   d(out)/d(self) = 1/other,  d(out)/d(other) = -self/other**2.

        A primitive (not self * other**-1) so the result is the exactly rounded
        quotient, digit for digit what PyTorch computes.
        """
        other = other if isinstance(other, Value) else _constant(other, "/")
        if other.data == 0:
            raise ZeroDivisionValueError(f"Value / Value: division by zero ({self.data} / 0)")
        raise NotImplementedError(
            "Task 1.2: Division, forward: make `out` holding self.data / other.data, with children (self, other) and "
            'op "/".'
        )

        def _backward(out: Value) -> None:
            self, other = out._prev
            raise NotImplementedError(
                "Task 2.2: Division, backward: self.grad grows by out.grad / other, other.grad by -self / other**2 * "
                "out.grad."
            )

        out._backward = _backward
        return out

    def exp(self) -> Value:
        """out = e**self.   d(out)/d(self) = e**self = out.data."""
        try:
            raise NotImplementedError(
                'Task 1.3: exp, forward: make `out` holding math.exp(self.data), with children (self,) and op "exp".'
            )
        except OverflowError:
            raise OverflowError(f"exp({self.data}) is too large for a float (the limit is about exp(709.78))") from None

        def _backward(out: Value) -> None:
            (self,) = out._prev
            raise NotImplementedError(
                "Task 2.3: exp, backward: exp is its own derivative, so self.grad grows by out.data * out.grad."
            )

        out._backward = _backward
        return out

    def log(self) -> Value:
        """out = ln(self), the natural logarithm.   d(out)/d(self) = 1/self."""
        if self.data <= 0:
            raise ValueError(f"log({self.data}): the logarithm is only defined for positive numbers")
        raise NotImplementedError(
            'Task 1.3: log, forward: make `out` holding math.log(self.data), with children (self,) and op "log".'
        )

        def _backward(out: Value) -> None:
            (self,) = out._prev
            raise NotImplementedError(
                "Task 2.3: log, backward: d(ln x)/dx = 1/x, so self.grad grows by out.grad / self.data."
            )

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        """out = tanh(self).   d(out)/d(self) = 1 - tanh(self)**2 = 1 - out.data**2."""
        raise NotImplementedError(
            'Task 1.4: tanh, forward: make `out` holding math.tanh(self.data), with children (self,) and op "tanh".'
        )

        def _backward(out: Value) -> None:
            (self,) = out._prev
            raise NotImplementedError(
                "Task 2.4: tanh, backward: self.grad grows by (1 - out.data**2) * out.grad (use the OUTPUT t, not the "
                "input)."
            )

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        """out = 1 / (1 + e**-self).   d(out)/d(self) = out * (1 - out)."""
        raise NotImplementedError(
            "Task 1.4: sigmoid, forward: make `out` holding 1 / (1 + e**-x), computed without overflow for large |x|; "
            'children (self,), op "sigmoid".'
        )

        def _backward(out: Value) -> None:
            (self,) = out._prev
            raise NotImplementedError(
                "Task 2.4: sigmoid, backward: self.grad grows by out.data * (1 - out.data) * out.grad."
            )

        out._backward = _backward
        return out

    def relu(self) -> Value:
        """out = max(0, self).   d(out)/d(self) = 1 if self > 0 else 0 (0 at exactly 0, as in PyTorch)."""
        raise NotImplementedError(
            "Task 1.4: relu, forward: make `out` holding max(0, self.data) as a float, with children (self,) and op "
            '"ReLU".'
        )

        def _backward(out: Value) -> None:
            (self,) = out._prev
            raise NotImplementedError(
                "Task 2.4: relu, backward: the gradient passes only where the output is positive; elsewhere it is 0."
            )

        out._backward = _backward
        return out

    # ------------------------------------------------------------ backpropagation

    def _topo_order(self) -> list[Value]:
        """Every node of the graph below `self`, each after all of its children.

        Iterative (an explicit stack, not recursion), so a chain of a million
        nodes works at Python's default recursion limit of 1000.
        """
        raise NotImplementedError(
            "Task 3.1: Topological order: a depth-first search with an explicit stack that lists each node once, after "
            "all of its children."
        )

    def backward(self) -> None:
        """Fill in `.grad` of every node below `self` with d(self)/d(node).

        Leaves (values you made yourself, like weights) accumulate, as in
        PyTorch: call `zero_grad()` between steps. Intermediate nodes are
        recomputed from 0 on every call, so calling `backward()` twice gives
        leaves exactly twice the gradient (the classic micrograd gives more).
        """
        raise NotImplementedError(
            "Task 3.2: backward(): get the topological order, reset the grads of non-leaf nodes to 0, set self.grad = "
            "1, then call each node's rule from the root back to the leaves."
        )

    # ---------------------------------------------------------- derived operations

    def __neg__(self) -> Value:  # -a = a * -1
        return self * -1.0

    def __radd__(self, other: Number) -> Value:  # 2 + a = a + 2
        return self + other

    def __sub__(self, other: Operand) -> Value:  # a - b = a + (-b)
        return self + (-(other if isinstance(other, Value) else _constant(other, "-")))

    def __rsub__(self, other: Number) -> Value:  # 2 - a = (-a) + 2
        return (-self) + other

    def __rmul__(self, other: Number) -> Value:  # 2 * a = a * 2
        return self * other

    def __rtruediv__(self, other: Number) -> Value:  # 2 / a = Value(2) / a
        return Value(_as_float(other, "number / Value")) / self

    def __rpow__(self, base: Number) -> Value:  # 2 ** a = e**(a * ln 2)
        b = _as_float(base, "number ** Value")
        if b <= 0:
            raise ValueError(f"{base} ** Value: the base must be positive (it is computed as exp(a * ln(base)))")
        return (self * math.log(b)).exp()

    def __repr__(self) -> str:
        label = f"{self.label!r}, " if self.label else ""
        return f"Value({label}data={self.data:.6g}, grad={self.grad:.6g})"
