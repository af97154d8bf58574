"""The engine's cost to Python's cycle collector (issue 13): shared rules, two tracked objects a
node, the threshold raised on import, and the same numbers to the last digit in a hand loop."""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
from pathlib import Path

from micrograd.data import make_moons
from micrograd.engine import GC_YOUNG_THRESHOLD, Value, cycle_collector_paused
from micrograd.nn import MLP

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
# The classic demo's first three losses, computed by the engine before issue 13 (closures over
# the inputs, one rule function per node): changing how rules are stored changes no digit.
DEMO_LOSSES = ["0.8958441028683222", "1.7235905336972022", "0.7429006313851133"]


def test_nodes_of_one_operation_share_their_rule() -> None:
    a, b = Value(2.0), Value(-3.0)
    assert (a * b)._rule is (b * a)._rule is (a * 2)._rule
    assert (a + b)._rule is (b + 1)._rule
    assert a.tanh()._rule is b.tanh()._rule
    assert (a * b)._rule is not (a + b)._rule


def test_a_node_is_two_tracked_objects() -> None:
    """The Value and its `_prev` tuple; no function, closure or cell of its own."""
    a, b = Value(2.0), Value(-3.0)
    keep: list[Value] = []
    a * b + a.relu()  # the first node of each operation registers its rule
    with cycle_collector_paused():
        before = len(gc.get_objects())
        for _ in range(1000):
            keep.append(a * b + a.relu())  # three nodes
        tracked = len(gc.get_objects()) - before
    assert 6000 <= tracked <= 6100, f"{tracked} tracked objects for 3000 nodes"


def test_a_rule_that_captures_something_is_kept_per_node() -> None:
    """Closure-style rules (like `n` in `**`, or a student's own) are never shared."""
    a = Value(3.0)
    squared, cubed = a**2, a**3
    assert squared._rule is not cubed._rule
    outs = []
    for k in (2.0, 5.0):
        out = Value(k * a.data, (a,), f"*{k:g}")

        def _backward(out: Value, k: float = k) -> None:
            (x,) = out._prev
            x.grad += k * out.grad

        out._backward = _backward
        outs.append(out)
    assert outs[0]._rule is not outs[1]._rule
    (outs[0] + outs[1] + squared + cubed).backward()
    assert a.grad == 2.0 + 5.0 + 2 * 3.0 + 3 * 9.0


def test_classic_zero_argument_backward_still_works() -> None:
    a, b = Value(2.0), Value(-3.0)
    out = a * b
    out.grad = 1.0
    out._backward()
    assert (a.grad, b.grad) == (-3.0, 2.0)


def run_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REFERENCE), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_raises_only_the_first_threshold() -> None:
    out = run_python(
        "import gc; gc.set_threshold(700, 10, 10); import micrograd.engine as e;"
        "print(gc.get_threshold(), e.GC_THRESHOLDS_BEFORE_IMPORT)"
    )
    assert out == f"({GC_YOUNG_THRESHOLD}, 10, 10) (700, 10, 10)"
    assert GC_YOUNG_THRESHOLD > 700


def test_import_never_lowers_a_threshold_the_user_chose() -> None:
    out = run_python("import gc; gc.set_threshold(10**7, 5, 3); import micrograd.engine; print(gc.get_threshold())")
    assert out == "(10000000, 5, 3)"


def test_hand_written_demo_loop_gives_the_same_numbers_to_the_last_digit() -> None:
    """Three steps of the classic demo written by hand, the collector running as imported."""
    X, y = make_moons(100, 0.1, 1337)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    losses = []
    for k in range(3):
        scores = [model([Value(v) for v in row]) for row in X]
        margins = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        total = sum(margins) * (1.0 / len(margins)) + 1e-4 * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        losses.append(repr(total.data))
    assert losses == DEMO_LOSSES
