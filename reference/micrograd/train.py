"""Losses, an SGD step with a learning-rate schedule, accuracy and a training loop.

The classic micrograd demo, in functions you can test one by one:

    model = MLP(2, [16, 16, 1])
    history = fit(model, X, y, steps=100)   # SVM max-margin loss + L2, SGD

Inputs `X` are lists of floats; labels `y` are +1 or -1 for the SVM loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from micrograd.engine import Value, cycle_collector_paused
from micrograd.nn import Module


def svm_loss(scores: Sequence[Value], ys: Sequence[float]) -> Value:
    """SVM max-margin (hinge) loss: the mean of relu(1 - y * score).

    A point costs nothing once it is on the right side with a margin of 1.
    """
    ### BEGIN SOLUTION [5.1] svm_loss: the mean over all points of relu(1 - y * score).
    losses = [(1 - yi * si).relu() for si, yi in zip(scores, ys)]
    return sum(losses) * (1.0 / len(losses))
    ### END SOLUTION


def mse_loss(preds: Sequence[Value], ys: Sequence[float]) -> Value:
    """Mean squared error: the mean of (pred - y)**2."""
    ### BEGIN SOLUTION [5.1] mse_loss: the mean over all points of (pred - y)**2.
    return sum((pi - yi) ** 2 for pi, yi in zip(preds, ys)) * (1.0 / len(preds))
    ### END SOLUTION


def l2_penalty(params: Sequence[Value], alpha: float) -> Value:
    """L2 regularisation: alpha * sum(p**2), which pulls weights towards 0."""
    ### BEGIN SOLUTION [5.1] l2_penalty: alpha times the sum of p * p over all parameters.
    return alpha * sum(p * p for p in params)
    ### END SOLUTION


def learning_rate(step: int, total: int, start: float = 1.0, end: float = 0.1) -> float:
    """Linear decay from `start` at step 0 towards `end` at step `total`: 1.0 - 0.9*k/100 in the demo."""
    ### BEGIN SOLUTION [5.2] learning_rate: start - (start - end) * step / total.
    return start - (start - end) * step / total
    ### END SOLUTION


def sgd_step(params: Sequence[Value], lr: float) -> None:
    """One step of gradient descent: move every parameter against its gradient."""
    ### BEGIN SOLUTION [5.2] sgd_step: p.data -= lr * p.grad for every parameter.
    for p in params:
        p.data -= lr * p.grad
    ### END SOLUTION


def accuracy(scores: Sequence[Value | float], ys: Sequence[float]) -> float:
    """The fraction of points whose score has the sign of their label."""
    ### BEGIN SOLUTION [5.2] accuracy: the fraction of points where (score > 0) == (y > 0).
    data = [s.data if isinstance(s, Value) else s for s in scores]
    return sum((si > 0) == (yi > 0) for si, yi in zip(data, ys)) / len(ys)
    ### END SOLUTION


@dataclass
class History:
    """What `fit` measured at every step (before that step's update)."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def classify_loss(
    model: Module, X: Sequence[Sequence[float]], y: Sequence[float], alpha: float = 1e-4
) -> tuple[Value, float]:
    """The demo's objective, svm_loss + l2_penalty, and the accuracy on (X, y)."""
    scores = [model([Value(v) for v in row]) for row in X]
    total = svm_loss(scores, y) + l2_penalty(model.parameters(), alpha)
    return total, accuracy(scores, y)


def fit(
    model: Module,
    X: Sequence[Sequence[float]],
    y: Sequence[float],
    steps: int = 100,
    alpha: float = 1e-4,
    on_step: Callable[[int, float, float], None] | None = None,
) -> History:
    """Full-batch training as in the classic demo: loss, zero_grad, backward, SGD step.

    Each step runs with the cycle collector paused (see `cycle_collector_paused`),
    with the same flat memory; a loop you write yourself is about as fast (see
    the `engine` module docstring).
    """
    history = History()
    for k in range(steps):
        with cycle_collector_paused():
            total, acc = classify_loss(model, X, y, alpha)
            model.zero_grad()
            total.backward()
            sgd_step(model.parameters(), learning_rate(k, steps))
        history.loss.append(total.data)
        history.accuracy.append(acc)
        if on_step is not None:
            on_step(k, total.data, acc)
    return history
