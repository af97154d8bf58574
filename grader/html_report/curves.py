"""Pictures of training: the student's loss curve against the reference's, and
the decision boundary of the student's trained model on the moons.

Both come from plain numbers the sandbox returned (the loss at every step, the
final weights); nothing is drawn in the sandbox. The trained weights are
loaded into the reference's MLP in the grader's process, as the judge does to
measure accuracy; the background of the boundary picture (a grid of a few
thousand points) is evaluated with the same weights in numpy, and checked to
agree with the reference model on every data point first.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

from grader.oracle import _layer_sizes, close, reference_modules

GRID = 60  # points per side of the boundary picture's background


def svg_of_figure(fig: Any) -> str:
    """A matplotlib Figure as inline SVG: text stays text, ids are reproducible."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "micrograd-kit"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.find("<svg"):]
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S)


def loss_curves(yours: list[float], reference: list[float], title: str) -> str:
    """The loss at every step: the student's and the reference's on the same steps.

    When the losses span more than a factor of 30 (a diverging student), the
    axis is logarithmic: log10 of the loss on a linear axis with 10**k labels,
    which matplotlib draws in half the time of its own log scale."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.4))
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.9)
    ax = fig.add_subplot()
    mine = np.array([v if isinstance(v, (int, float)) and math.isfinite(v) else np.nan for v in yours], dtype=float)
    ref = np.asarray(reference, dtype=float)
    both = np.concatenate([mine[np.isfinite(mine)], ref[np.isfinite(ref)]])
    positive = both[both > 0]
    log = positive.size == both.size and positive.size > 0 and positive.max() / positive.min() > 30
    if log:
        mine, ref = np.log10(np.where(mine > 0, mine, np.nan)), np.log10(ref)
        lo, hi = math.floor(np.log10(positive.min())), math.ceil(np.log10(positive.max()))
        ax.set_yticks(range(lo, hi + 1), [f"{10.0**k:g}" for k in range(lo, hi + 1)])
    ax.plot(range(len(ref)), ref, color="#1a7f37", linewidth=4, alpha=0.45)
    ax.plot(range(len(mine)), mine, color="#c62828", linewidth=1.6, marker="o", markersize=3)
    ax.set(xlabel="step", ylabel="loss (log scale)" if log else "loss", title=title)
    return svg_of_figure(fig)


def _numpy_scores(probe: dict[str, Any], weights: list[float], points: Any) -> Any:
    """The MLP's score at each point, weights in parameters() order (each neuron's
    weights, then its bias; hidden layers use the activation, the last is linear)."""
    import numpy as np

    act = {"relu": lambda h: np.maximum(h, 0.0), "tanh": np.tanh,
           "sigmoid": lambda h: 1 / (1 + np.exp(-h))}[probe["kwargs"].get("activation", "relu")]  # fmt: skip
    w = np.asarray(weights, dtype=float)
    h = np.asarray(points, dtype=float)
    offset = 0
    for nin, nout, nonlin in _layer_sizes({"module": "mlp", **probe}):
        block = w[offset : offset + (nin + 1) * nout].reshape(nout, nin + 1)
        offset += (nin + 1) * nout
        h = h @ block[:, :nin].T + block[:, nin]
        if nonlin:
            h = act(h)
    return h[:, 0]


def reference_scores(probe: dict[str, Any], weights: list[float]) -> list[float]:
    """The reference MLP, loaded with `weights`, on the probe's data points."""
    modules = reference_modules()
    Value, MLP = modules["engine"].Value, modules["nn"].MLP
    model = MLP(*probe["args"], **probe["kwargs"])
    for p, w in zip(model.parameters(), weights):
        p.data = w
    return [model([Value(v) for v in row]).data for row in probe["X"]]


def decision_boundary(probe: dict[str, Any], weights: list[float], title: str) -> tuple[str, float] | None:
    """The regions where the trained model says +1 / -1, with the data on top,
    and the model's accuracy on that data. None if the weights are not usable."""
    import numpy as np
    from matplotlib.figure import Figure

    if not weights or not all(isinstance(w, (int, float)) and math.isfinite(w) for w in weights):
        return None
    X, y = np.asarray(probe["X"], dtype=float), np.asarray(probe["y"], dtype=float)
    truth = reference_scores(probe, weights)
    fast = _numpy_scores(probe, weights, X)
    if not all(close(float(f), t, 1e-9, 1e-9) for f, t in zip(fast, truth)):
        return None  # never draw a picture the reference model would not
    accuracy = float(np.mean((np.asarray(truth) > 0) == (y > 0)))
    x0, x1 = X[:, 0].min() - 0.5, X[:, 0].max() + 0.5
    y0, y1 = X[:, 1].min() - 0.5, X[:, 1].max() + 0.5
    xx, yy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
    zz = _numpy_scores(probe, weights, np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    fig = Figure(figsize=(4.6, 3.6))
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.03, top=0.9)
    ax = fig.add_subplot()
    ax.contourf(xx, yy, zz > 0, levels=[-0.5, 0.5, 1.5], colors=["#f4a582", "#92c5de"], alpha=0.8)
    right = (np.asarray(truth) > 0) == (y > 0)
    colours = np.where(y > 0, "#2166ac", "#b2182b")
    ax.scatter(X[right, 0], X[right, 1], c=colours[right], s=28, edgecolors="k", linewidths=0.5)
    ax.scatter(X[~right, 0], X[~right, 1], c=colours[~right], s=70, marker="X", edgecolors="k", linewidths=0.5)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=f"{title}: {accuracy:.0%} right")
    ax.set_xticks([])  # the moons' coordinates say nothing here; tick labels cost a third of the time
    ax.set_yticks([])
    return svg_of_figure(fig), accuracy
