"""Section 5: training. A loss says how wrong the model is; backward() says
how each parameter changes it; an SGD step moves every parameter a little
against its gradient."""

from __future__ import annotations

import random

import pytest
from helpers import check_close, check_value, fail

from micrograd.engine import Value
from micrograd.nn import MLP
from micrograd.train import accuracy, fit, l2_penalty, learning_rate, mse_loss, sgd_step, svm_loss


def values(*numbers: float) -> list[Value]:
    return [Value(x) for x in numbers]


@pytest.mark.task5_1
def test_svm_loss_value() -> None:
    scores = values(2.0, -0.5, 0.3)
    # relu(1 - 1*2) = 0, relu(1 - 1*-0.5) = 1.5, relu(1 - -1*0.3) = 1.3
    check_value(
        "5.1",
        "svm_loss(scores=[2, -0.5, 0.3], ys=[1, 1, -1])",
        svm_loss(scores, [1.0, 1.0, -1.0]),
        2.8 / 3,
        "the MEAN of relu(1 - y * score): a point with margin >= 1 costs 0.",
    )


@pytest.mark.task5_1
def test_svm_loss_gradient() -> None:
    scores = values(2.0, -0.5, 0.3)
    svm_loss(scores, [1.0, 1.0, -1.0]).backward()
    for i, want in enumerate([0.0, -1 / 3, 1 / 3]):
        check_close(
            "5.1",
            f"svm_loss on scores [2, -0.5, 0.3], ys [1, 1, -1], after backward(): scores[{i}].grad",
            scores[i].grad,
            want,
            "build the loss from the score Values with Value operations, so backward() reaches them.",
        )


@pytest.mark.task5_1
def test_mse_loss_value_and_gradient() -> None:
    preds = values(1.0, 2.0, 4.0)
    loss = mse_loss(preds, [1.0, 0.0, 5.0])
    check_value("5.1", "mse_loss(preds=[1, 2, 4], ys=[1, 0, 5])", loss, 5 / 3, "the mean of (pred - y)**2.")
    loss.backward()
    for i, want in enumerate([0.0, 4 / 3, -2 / 3]):
        check_close("5.1", f"mse_loss after backward(): preds[{i}].grad", preds[i].grad, want, "2 * (pred - y) / n.")


@pytest.mark.task5_1
def test_l2_penalty_value_and_gradient() -> None:
    params = values(1.0, -2.0, 3.0)
    penalty = l2_penalty(params, 0.1)
    check_value("5.1", "l2_penalty([1, -2, 3], alpha=0.1)", penalty, 1.4, "alpha * (1 + 4 + 9).")
    penalty.backward()
    for i, want in enumerate([0.2, -0.4, 0.6]):
        check_close("5.1", f"l2_penalty after backward(): params[{i}].grad", params[i].grad, want, "2 * alpha * p.")


@pytest.mark.task5_2
@pytest.mark.parametrize(
    ("step", "total", "kwargs", "expected"),
    [
        (0, 100, {}, 1.0),
        (50, 100, {}, 0.55),
        (99, 100, {}, 0.109),
        (100, 100, {}, 0.1),
        (5, 20, {"start": 0.5, "end": 0.0}, 0.375),
    ],
)
def test_learning_rate(step: int, total: int, kwargs: dict, expected: float) -> None:
    check_close(
        "5.2",
        f"learning_rate({step}, {total}{''.join(f', {k}={v}' for k, v in kwargs.items())})",
        learning_rate(step, total, **kwargs),
        expected,
        "a straight line from `start` at step 0 to `end` at step `total`.",
    )


@pytest.mark.task5_2
def test_sgd_step() -> None:
    params = values(1.0, -2.0, 0.5)
    for p, g in zip(params, [0.5, -1.0, 0.0], strict=True):
        p.grad = g
    before = list(params)
    sgd_step(params, 0.1)
    if any(p is not q for p, q in zip(params, before, strict=True)):
        fail("5.2", "sgd_step", "the same Value objects", "new ones", "change p.data in place.")
    for i, want in enumerate([0.95, -1.9, 0.5]):
        check_close(
            "5.2",
            f"sgd_step(params=[1, -2, 0.5] with grads [0.5, -1, 0], lr=0.1): params[{i}].data",
            params[i].data,
            want,
            "move AGAINST the gradient: data minus lr times grad.",
        )
    grads = [p.grad for p in params]
    if grads != [0.5, -1.0, 0.0]:
        fail("5.2", "the grads after sgd_step", [0.5, -1.0, 0.0], grads, "sgd_step changes .data only.")


@pytest.mark.task5_2
def test_accuracy() -> None:
    scores = [0.5, -0.2, Value(1.0), -3.0, 0.0]
    ys = [1.0, 1.0, 1.0, -1.0, -1.0]
    got = accuracy(scores, ys)
    if not isinstance(got, float):
        fail("5.2", "accuracy(...): the type", "float", type(got).__name__, "divide by the number of points.")
    check_close(
        "5.2",
        "accuracy(scores=[0.5, -0.2, Value(1.0), -3, 0], ys=[1, 1, 1, -1, -1])",
        got,
        0.8,
        "a point is right when (score > 0) == (y > 0); scores may be Values (use .data) or floats.",
    )


@pytest.mark.task5_2
def test_fit_learns_a_tiny_problem() -> None:
    random.seed(0)
    model = MLP(2, [8, 1])
    X = [[1.0, 1.0], [2.0, 0.5], [-1.0, -1.0], [-2.0, -0.5]]
    y = [1.0, 1.0, -1.0, -1.0]
    history = fit(model, X, y, steps=20)
    if not history.loss[-1] < history.loss[0]:
        fail("5.2", "fit() on 4 separable points, 20 steps: the loss", "to go down", history.loss, "check sgd_step.")
    if history.accuracy[-1] != 1.0:
        fail("5.2", "fit() on 4 separable points, 20 steps: accuracy", 1.0, history.accuracy[-1], "check the sign.")
