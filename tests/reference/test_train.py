"""Losses, schedule, SGD, accuracy and `fit`, by hand and against torch; the classic moons demo's figures."""

from __future__ import annotations

import gc
import math
import random
import subprocess
import sys

import pytest
import torch

from micrograd.data import make_moons
from micrograd.engine import Value
from micrograd.nn import MLP
from micrograd.train import (
    History,
    accuracy,
    classify_loss,
    fit,
    l2_penalty,
    learning_rate,
    mse_loss,
    sgd_step,
    svm_loss,
)

SCORES = [0.5, -2.0, 3.0, 1.5]
LABELS = [1.0, 1.0, -1.0, 1.0]


def values(xs: list[float]) -> list[Value]:
    return [Value(x) for x in xs]


def tensor(xs: list[float]) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64, requires_grad=True)


def assert_close(actual: list[float], expected: list[float], rel: float = 1e-12) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert math.isclose(a, e, rel_tol=rel, abs_tol=1e-15), f"{actual} != {expected}"


# ------------------------------------------------------------------------- losses


def test_svm_loss_by_hand() -> None:
    scores = values(SCORES)
    loss = svm_loss(scores, LABELS)
    loss.backward()
    # margins 1 - y*s: 0.5, 3, 4, -0.5 (the last point costs nothing)
    assert loss.data == (0.5 + 3 + 4 + 0) / 4
    assert [s.grad for s in scores] == [-0.25, -0.25, 0.25, 0.0]


def test_svm_loss_matches_torch() -> None:
    scores, t_scores = values(SCORES), tensor(SCORES)
    loss = svm_loss(scores, LABELS)
    loss.backward()
    t_loss = (1 - torch.tensor(LABELS, dtype=torch.float64) * t_scores).relu().mean()
    t_loss.backward()
    assert_close([loss.data], [t_loss.item()])
    assert_close([s.grad for s in scores], t_scores.grad.tolist())


def test_mse_loss_matches_torch() -> None:
    preds, t_preds = values(SCORES), tensor(SCORES)
    loss = mse_loss(preds, LABELS)
    loss.backward()
    t_loss = torch.nn.functional.mse_loss(t_preds, torch.tensor(LABELS, dtype=torch.float64))
    t_loss.backward()
    assert_close([loss.data], [t_loss.item()])
    assert_close([p.grad for p in preds], t_preds.grad.tolist())
    assert math.isclose(loss.data, (0.25 + 9 + 16 + 0.25) / 4)


def test_l2_penalty_by_hand() -> None:
    params = values([1.0, -2.0, 0.5])
    penalty = l2_penalty(params, 1e-2)
    penalty.backward()
    assert math.isclose(penalty.data, 1e-2 * (1 + 4 + 0.25), rel_tol=1e-15)
    assert_close([p.grad for p in params], [2e-2 * 1.0, 2e-2 * -2.0, 2e-2 * 0.5])


# ------------------------------------------------------------ schedule, SGD, accuracy


@pytest.mark.parametrize(("step", "lr"), [(0, 1.0), (50, 0.55), (99, 1.0 - 0.9 * 99 / 100), (100, 0.1)])
def test_learning_rate_decays_linearly_as_in_the_demo(step: int, lr: float) -> None:
    assert math.isclose(learning_rate(step, 100), lr, rel_tol=1e-15)


def test_learning_rate_with_other_endpoints() -> None:
    assert learning_rate(0, 10, start=0.5, end=0.0) == 0.5
    assert learning_rate(5, 10, start=0.5, end=0.0) == 0.25


def test_sgd_step_moves_against_the_gradient() -> None:
    params = values([1.0, -2.0])
    params[0].grad, params[1].grad = 0.5, -4.0
    sgd_step(params, 0.1)
    assert [p.data for p in params] == [1.0 - 0.05, -2.0 + 0.4]
    assert [p.grad for p in params] == [0.5, -4.0]  # sgd_step does not reset gradients


def test_accuracy_counts_matching_signs() -> None:
    assert accuracy(values(SCORES), LABELS) == 0.5
    assert accuracy(SCORES, LABELS) == 0.5  # plain floats too
    assert accuracy([0.0, -0.1], [-1.0, 1.0]) == 0.5  # a score of exactly 0 counts as negative


# ---------------------------------------------------------------------------- fit

X_SMALL = [[0.0, 1.0], [1.0, -1.0], [-1.0, 0.5], [2.0, 0.0]]
Y_SMALL = [1.0, -1.0, 1.0, -1.0]


def test_classify_loss_is_svm_plus_l2() -> None:
    random.seed(3)
    model = MLP(2, [4, 1])
    total, acc = classify_loss(model, X_SMALL, Y_SMALL, alpha=1e-3)
    scores = [model(x) for x in X_SMALL]
    expected = svm_loss(scores, Y_SMALL).data + l2_penalty(model.parameters(), 1e-3).data
    assert math.isclose(total.data, expected, rel_tol=1e-15)
    assert acc == accuracy(scores, Y_SMALL)


def test_fit_is_the_hand_written_loop() -> None:
    random.seed(5)
    model = MLP(2, [4, 4, 1])
    random.seed(5)
    twin = MLP(2, [4, 4, 1])
    calls: list[tuple[int, float, float]] = []

    history = fit(model, X_SMALL, Y_SMALL, steps=6, on_step=lambda k, loss, acc: calls.append((k, loss, acc)))

    expected = History()
    for k in range(6):
        total, acc = classify_loss(twin, X_SMALL, Y_SMALL)
        twin.zero_grad()
        total.backward()
        sgd_step(twin.parameters(), learning_rate(k, 6))
        expected.loss.append(total.data)
        expected.accuracy.append(acc)

    assert history == expected
    assert [p.data for p in model.parameters()] == [p.data for p in twin.parameters()]
    assert calls == list(zip(range(6), history.loss, history.accuracy, strict=True))
    assert history.loss[-1] < history.loss[0]


def test_fit_restores_the_cycle_collector() -> None:
    assert gc.isenabled()
    fit(MLP(2, [2, 1]), X_SMALL, Y_SMALL, steps=1)
    assert gc.isenabled()


# ------------------------------------------------------------------ the classic demo


def test_make_moons_is_the_classic_data() -> None:
    X, y = make_moons(100, 0.1, 1337)
    assert len(X) == len(y) == 100
    assert all(len(row) == 2 and all(isinstance(v, float) for v in row) for row in X)
    assert sorted(set(y)) == [-1.0, 1.0]
    assert y.count(1.0) == 50
    assert make_moons(100, 0.1, 1337) == (X, y)


def test_make_moons_leaves_python_random_alone_even_on_first_import() -> None:
    """Importing scikit-learn draws from `random`; make_moons must not, or seeded models change."""
    code = (
        "import random; random.seed(1337); expected = random.random(); random.seed(1337)\n"
        "from micrograd.data import make_moons; make_moons()\n"
        "assert random.random() == expected"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def demo_history() -> History:
    random.seed(1337)
    X, y = make_moons(100, 0.1, 1337)
    return fit(MLP(2, [16, 16, 1]), X, y, steps=100)


@pytest.mark.slow
def test_classic_demo_loss_curve(demo_history: History) -> None:
    assert len(demo_history.loss) == 100
    assert f"{demo_history.loss[0]:.4g}" == "0.8958"
    assert f"{demo_history.loss[99]:.4g}" == "0.01098"


@pytest.mark.slow
def test_classic_demo_reaches_full_accuracy_at_step_40(demo_history: History) -> None:
    assert demo_history.accuracy[0] == 0.5
    assert demo_history.accuracy.index(1.0) == 40
    assert demo_history.accuracy[99] == 1.0
