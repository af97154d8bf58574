"""The classic micrograd demo: train an MLP on two moons, then draw what it learned.

    python -m micrograd.demo [OUTDIR]        (default build/demo; `nox -s demo` runs this)

Writes OUTDIR/decision_boundary.png, OUTDIR/training_curves.png and
OUTDIR/neuron_graph.svg (one neuron's computation graph after backward). Without
Graphviz's `dot` program the graph is written as DOT text (neuron_graph.dot) instead.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from micrograd.data import make_moons
from micrograd.engine import Value
from micrograd.nn import MLP, Neuron
from micrograd.train import History, fit
from micrograd.viz import INSTALL_GRAPHVIZ, draw_dot, plot_decision_boundary, plot_history, render

SEED = 1337


def train(steps: int) -> tuple[MLP, list[list[float]], list[float], History]:
    """The classic demo: MLP(2, [16, 16, 1]) on 100 moons, SVM loss + L2, SGD with a decaying rate."""
    random.seed(SEED)
    X, y = make_moons(n_samples=100, noise=0.1, seed=SEED)
    model = MLP(2, [16, 16, 1])
    print(
        f"Training {model.__class__.__name__}(2, [16, 16, 1]) ({len(model.parameters())} parameters) "
        f"on {len(X)} moons for {steps} steps"
    )

    def report(k: int, loss: float, acc: float) -> None:
        if k % 10 == 0 or k == steps - 1:
            print(f"  step {k:3d}   loss {loss:.4f}   accuracy {acc:6.1%}")

    start = time.perf_counter()
    history = fit(model, X, y, steps=steps, on_step=report)
    print(f"Trained in {time.perf_counter() - start:.1f} s")
    return model, X, y, history


def neuron_graph() -> Value:
    """One ReLU neuron applied to [1.0, -2.0], backpropagated, with every node labelled."""
    random.seed(SEED)
    neuron = Neuron(2)
    for i, w in enumerate(neuron.w, start=1):
        w.label = f"w{i}"
    neuron.b.label = "b"
    out = neuron([Value(1.0, label="x1"), Value(-2.0, label="x2")])
    out.backward()
    for node in out._topo_order():  # children first, so their labels are ready
        if not node.label:
            names = [child.label for child in node._prev]
            if not names:  # a constant your code made a Value (sum()'s start 0, say): its number
                node.label = f"{node.data:g}"
            elif node._op in ("+", "*"):
                node.label = f" {node._op} ".join(names)
            else:
                node.label = f"{node._op}({names[0]})"
    out.label = "out"
    return out


def write_graph(root: Value, outdir: Path) -> Path:
    """neuron_graph.svg, or neuron_graph.dot with a warning when Graphviz's `dot` is missing."""
    dot = draw_dot(root)
    try:
        return render(dot, outdir / "neuron_graph.svg")
    except RuntimeError:
        (outdir / "neuron_graph.gv").unlink(missing_ok=True)  # the source graphviz saved before failing
        path = outdir / "neuron_graph.dot"
        path.write_text(dot.source)
        print(f"WARNING: {INSTALL_GRAPHVIZ}\nWrote the graph as DOT text instead: {path}", file=sys.stderr)
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m micrograd.demo", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="build/demo", type=Path, help="where to write (build/demo)")
    parser.add_argument("--steps", type=int, default=100, help="training steps (100)")
    args = parser.parse_args(argv)
    outdir: Path = args.outdir
    outdir.mkdir(parents=True, exist_ok=True)

    model, X, y, history = train(args.steps)
    written = [outdir / "decision_boundary.png", outdir / "training_curves.png"]
    plot_decision_boundary(model, X, y).savefig(written[0], dpi=120)
    plot_history(history).savefig(written[1], dpi=120)
    written.append(write_graph(neuron_graph(), outdir))

    print(f"Wrote {', '.join(p.name for p in written)} to {outdir.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
