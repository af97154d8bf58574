"""Pictures of graphs and of training: `draw_dot`, decision boundaries, curves.

`draw_dot` only builds a `graphviz.Digraph` (pure Python); turning it into an
SVG or PNG needs Graphviz's `dot` program, which `render` checks for and
explains how to install. The plots return matplotlib `Figure`s made without
pyplot, so they work the same in a notebook, a script or a headless grader.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from micrograd.engine import Value, cycle_collector_paused

if TYPE_CHECKING:
    import graphviz
    from matplotlib.figure import Figure

    from micrograd.nn import Module
    from micrograd.train import History

INSTALL_GRAPHVIZ = (
    "Graphviz's `dot` program is needed to render graphs, and it is not installed. "
    "Install it with your system's package manager: `sudo apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS), `conda install graphviz`, or from https://graphviz.org/download/. "
    "draw_dot() itself works without it; only rendering to SVG/PNG needs `dot`."
)


def _record_text(text: str) -> str:
    """Escape the characters that have a meaning inside a Graphviz record label."""
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


def draw_dot(root: Value, rankdir: str = "LR") -> graphviz.Digraph:
    """The graph below `root`: a record per Value (label | data | grad), a node per operation.

    Node names follow the graph's structure (`v0` is the first leaf reached),
    never `id()`, so the same expression always gives the same DOT text.
    """
    import graphviz

    if rankdir not in ("LR", "TB"):
        raise ValueError(f"draw_dot: rankdir must be 'LR' or 'TB', got {rankdir!r}")
    dot = graphviz.Digraph(format="svg", graph_attr={"rankdir": rankdir})
    names: dict[int, str] = {}
    for node in root._topo_order():
        name = names[id(node)] = f"v{len(names)}"
        label = _record_text(node.label)
        dot.node(name, label=f"{{ {label} | data {node.data:.4f} | grad {node.grad:.4f} }}", shape="record")
        if node._op:
            dot.node(f"{name}_op", label=node._op)
            dot.edge(f"{name}_op", name)
            for child in node._prev:
                dot.edge(names[id(child)], f"{name}_op")
    return dot


def render(dot: graphviz.Digraph, path: str | Path) -> Path:
    """Write `dot` to `path`; the format comes from the suffix (.svg, .png, .pdf)."""
    import graphviz

    path = Path(path)
    fmt = path.suffix.lstrip(".") or "svg"
    try:
        written = dot.render(outfile=path, format=fmt, cleanup=True)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(INSTALL_GRAPHVIZ) from None
    return Path(written)


def plot_decision_boundary(
    model: Module, X: Sequence[Sequence[float]], y: Sequence[float], step: float = 0.25
) -> Figure:
    """The model's decision regions on a grid (score > 0 vs < 0), with the data on top."""
    import numpy as np
    from matplotlib.figure import Figure

    Xa, ya = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    x_min, x_max = Xa[:, 0].min() - 1, Xa[:, 0].max() + 1
    y_min, y_max = Xa[:, 1].min() - 1, Xa[:, 1].max() + 1
    xx, yy = np.meshgrid(np.arange(x_min, x_max, step), np.arange(y_min, y_max, step))
    # Keep only each score's sign, so every graph is freed at once; with the cycle collector
    # paused this is ~10x faster than holding all the graphs (the collector rescans them).
    with cycle_collector_paused():
        above = [model([Value(a), Value(b)]).data > 0 for a, b in zip(xx.ravel(), yy.ravel(), strict=True)]
    Z = np.array(above).reshape(xx.shape)

    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    ax.contourf(xx, yy, Z, cmap="Spectral", alpha=0.8)
    ax.scatter(Xa[:, 0], Xa[:, 1], c=ya, s=40, cmap="Spectral", edgecolors="k")
    ax.set(xlim=(xx.min(), xx.max()), ylim=(yy.min(), yy.max()), title="Decision boundary")
    return fig


def plot_history(history: History) -> Figure:
    """Loss (log scale) and accuracy per training step, side by side."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5))
    loss_ax, acc_ax = fig.subplots(1, 2)
    steps = range(len(history.loss))
    loss_ax.plot(steps, history.loss)
    loss_ax.set(yscale="log", xlabel="step", ylabel="loss", title="Training loss")
    acc_ax.plot(steps, history.accuracy, color="tab:green")
    acc_ax.set(ylim=(0, 1.05), xlabel="step", ylabel="accuracy", title="Training accuracy")
    fig.tight_layout()
    return fig
