"""The course: three assignments in teaching order, each a sequence of prose, given code, solution and test cells."""

from __future__ import annotations

import re
from pathlib import Path

from builder.cells import Assignment
from builder.markers import BuildError
from builder.reference_code import (
    REFERENCE,
    Source,
    class_cell,
    definitions,
    header_cell,
    joined,
    method_cell,
    prefix_cell,
    whole_module,
)
from grader.tasks import TASKS

# A demo cell that runs the student's graph code on a few nodes: milliseconds when
# right, so an endless loop there is cut short (the notebook's other cells have CELL_TIMEOUT).
DEMO_TIMEOUT = 2
# requirements.txt lines for a notebook that compares with PyTorch.
TORCH_REQUIREMENT = [
    "# PyTorch's CPU build (the default one pulls gigabytes of CUDA packages): the index below has it.",
    "--extra-index-url https://download.pytorch.org/whl/cpu",
    "torch==2.13.0",
]


PROSE_DIR = Path(__file__).resolve().parent / "prose"
SECTION_RE = re.compile(r"^<!-- ([\w.-]+) -->$")


def load_prose(name: str, folder: Path = PROSE_DIR) -> dict[str, str]:
    """builder/prose/<name>.md as {key: markdown}: a section starts at a line `<!-- key -->`."""
    path = folder / f"{name}.md"
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        found = SECTION_RE.match(line)
        if found:
            if found[1] in sections:
                raise BuildError(path, number, f"a second section {found[1]!r}")
            current = sections.setdefault(found[1], [])
        elif current is not None:
            current.append(line)
    return {key: "\n".join(lines).strip("\n") for key, lines in sections.items()}


class _Prose(dict[str, dict[str, str]]):
    """The prose of each assignment, read on first use."""

    def __missing__(self, name: str) -> dict[str, str]:
        self[name] = load_prose(name)
        return self[name]


PROSE = _Prose()


PRIMITIVE_GROUPS: list[tuple[str, list[str], list[str]]] = [
    # (section, methods, tasks)
    ("add_mul", ["__add__", "__mul__"], ["1.1", "2.1"]),
    ("pow_div", ["__pow__", "__truediv__"], ["1.2", "2.2"]),
    ("exp_log", ["exp", "log"], ["1.3", "2.3"]),
    ("activations", ["tanh", "sigmoid", "relu"], ["1.4", "2.4"]),
]
DERIVED = ["__neg__", "__radd__", "__sub__", "__rsub__", "__rmul__", "__rtruediv__", "__rpow__", "__repr__"]
PRIMITIVES = [m for _, methods, _ in PRIMITIVE_GROUPS for m in methods]
BACKPROP = ["_topo_order", "backward"]


def assignment_value(engine: Source) -> Assignment:
    a = Assignment("a1_value", "Values and local derivatives", ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4"])
    a.requirements = []
    a.md(PROSE["a1_value"]["assignment-1-a-value-that-remembers-how-"])
    a.setup()
    a.md(PROSE["a1_value"]["the-class"])
    a.define(
        "engine_header",
        "engine",
        joined(prefix_cell(engine, "Value"), class_cell(engine, "Value", PRIMITIVES + BACKPROP + DERIVED)),
    )
    a.md(PROSE["a1_value"]["derived-operations"])
    a.define("engine_derived", "engine", method_cell(engine, "Value", DERIVED))

    intro = {
        "add_mul": PROSE["a1_value"]["intro.add_mul"],
        "pow_div": PROSE["a1_value"]["intro.pow_div"],
        "exp_log": PROSE["a1_value"]["intro.exp_log"],
        "activations": PROSE["a1_value"]["intro.activations"],
    }
    for section, methods, tasks in PRIMITIVE_GROUPS:
        a.md(intro[section])
        for method in methods:
            a.define(f"engine_{method.strip('_')}", "engine", method_cell(engine, "Value", [method]))
        for task in tasks:
            a.tests(task, f"### Check: task {task}, {TASKS[task]}")
        if section == "add_mul":
            a.md(PROSE["a1_value"]["backpropagation-by-hand"])
            a.code(
                """
                a = Value(2.0, label="a")
                b = Value(-3.0, label="b")
                c = a * b
                L = c + a          # a is used twice: two paths into L
                L.grad = 1.0
                L._backward()      # L = c + a: both get L.grad
                c._backward()      # c = a * b: a gets b * c.grad, b gets a * c.grad
                print(f"dL/da = {a.grad}  (b + 1 = {b.data + 1})")
                print(f"dL/db = {b.grad}  (a = {a.data})")
                """
            )
    a.written(
        "written_accumulate",
        PROSE["a1_value"]["written_accumulate.question"],
        PROSE["a1_value"]["written_accumulate.answer"],
    )
    return a


def assignment_backprop(engine: Source, viz: Source) -> Assignment:
    a = Assignment("a2_backprop", "Backpropagation", ["3.1", "3.2"])
    # The last cells compare with PyTorch: its CPU build, pinned as the kit pins it.
    a.requirements = ["graphviz>=0.20", *TORCH_REQUIREMENT]
    a.md(PROSE["a2_backprop"]["assignment-2-backpropagation"])
    a.setup()
    a.define("engine_given", "engine", joined(prefix_cell(engine, "Value"), class_cell(engine, "Value", BACKPROP)))
    a.md(PROSE["a2_backprop"]["why-a-topological-order"])
    a.define("engine_topo_order", "engine", method_cell(engine, "Value", ["_topo_order"]))
    a.tests("3.1", "### Check: task 3.1")
    a.md(PROSE["a2_backprop"]["backward-the-chain-rule-over-the-whole-g"])
    a.define("engine_backward", "engine", method_cell(engine, "Value", ["backward"]))
    a.tests("3.2", "### Check: task 3.2")
    a.md(PROSE["a2_backprop"]["seeing-the-graph-draw-dot"])
    a.define("viz_draw_dot", "viz", joined(header_cell(viz), definitions(viz, ["_record_text", "draw_dot"])))
    a.code(
        """
        import shutil

        x1 = Value(2.0, label="x1"); x2 = Value(0.0, label="x2")
        w1 = Value(-3.0, label="w1"); w2 = Value(1.0, label="w2")
        b = Value(6.8813735870195432, label="b")
        n = x1 * w1 + x2 * w2 + b; n.label = "n"
        o = n.tanh(); o.label = "o"
        o.backward()
        dot = draw_dot(o)
        if shutil.which("dot"):
            display(dot)
        else:
            print("Graphviz's `dot` program is not installed (Debian/Ubuntu: `sudo apt-get install graphviz`,")
            print("macOS: `brew install graphviz`, Windows: https://graphviz.org/download/). The graph as text:")
            print(dot.source)
        """,
        timeout=DEMO_TIMEOUT,
    )
    a.md(PROSE["a2_backprop"]["checking-against-pytorch"])
    a.code(
        """
        a = Value(-4.0); b = Value(2.0)
        c = a + b
        d = a * b + b**3
        c += c + 1
        c += 1 + c + (-a)
        d += d * 2 + (b + a).relu()
        d += 3 * d + (b - a).relu()
        e = c - d
        f = e**2
        g = f / 2.0
        g += 10.0 / f
        g.backward()
        print(f"g = {g.data:.6f}, dg/da = {a.grad:.6f}, dg/db = {b.grad:.6f}")
        """,
        timeout=DEMO_TIMEOUT,
    )
    a.code(  # no student code here: PyTorch's import alone takes seconds on a busy machine
        """
        # The same expression in PyTorch (float64): the three numbers above should match.
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: expected 24.704082, 138.833819, 645.577259")
        else:
            ta = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
            tb = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
            tc = ta + tb
            td = ta * tb + tb**3
            tc = tc + tc + 1
            tc = tc + 1 + tc + (-ta)
            td = td + td * 2 + (tb + ta).relu()
            td = td + 3 * td + (tb - ta).relu()
            tg = (tc - td) ** 2 / 2.0
            tg = tg + 10.0 / (tc - td) ** 2
            tg.backward()
            print(f"torch: g = {tg.item():.6f}, dg/da = {ta.grad.item():.6f}, dg/db = {tb.grad.item():.6f}")
        """
    )
    a.written(
        "written_order",
        PROSE["a2_backprop"]["written_order.question"],
        PROSE["a2_backprop"]["written_order.answer"],
    )
    return a


def assignment_training(engine: Source, nn: Source, train: Source, data: Source, viz: Source) -> Assignment:
    a = Assignment("a3_training", "Neurons, layers and training", ["4.1", "4.2", "4.3", "5.1", "5.2"])
    a.requirements = ["matplotlib>=3.8", "scikit-learn>=1.4"]
    a.md(PROSE["a3_training"]["assignment-3-a-neural-network-trained"])
    a.setup("%matplotlib inline")
    a.define("engine_given", "engine", whole_module(engine))
    a.md(PROSE["a3_training"]["modules-and-neurons"])
    a.define("nn_header", "nn", header_cell(nn))
    a.define("nn_module", "nn", definitions(nn, ["Module"]))
    a.define("nn_neuron", "nn", definitions(nn, ["Neuron"]))
    a.md(PROSE["a3_training"]["layers-and-the-mlp"])
    a.define("nn_layer", "nn", definitions(nn, ["Layer"]))
    a.define("nn_mlp", "nn", definitions(nn, ["MLP"]))
    # The checks build neurons, layers and MLPs alike: all three must exist first.
    a.md("### Checks: tasks 4.1 to 4.3 (run them once `Neuron`, `Layer` and `MLP` are all defined)")
    for task in ("4.1", "4.2", "4.3"):
        a.tests(task)
    a.md(PROSE["a3_training"]["losses"])
    a.define("train_header", "train", header_cell(train))
    a.define("train_losses", "train", definitions(train, ["svm_loss", "mse_loss", "l2_penalty"]))
    a.tests("5.1", "### Check: task 5.1")
    a.md(PROSE["a3_training"]["gradient-descent"])
    a.define("train_sgd", "train", definitions(train, ["learning_rate", "sgd_step", "accuracy"]))
    a.tests("5.2", "### Check: task 5.2")
    a.md(PROSE["a3_training"]["training-on-the-moons"])
    a.define("train_fit", "train", definitions(train, ["History", "classify_loss", "fit"]))
    a.define("data_moons", "data", joined(header_cell(data), definitions(data, ["make_moons"])))
    a.define("viz_plots", "viz", joined(header_cell(viz), definitions(viz, ["plot_decision_boundary", "plot_history"])))
    a.code(
        """
        import random

        random.seed(1337)
        X, y = make_moons(n_samples=50, noise=0.1)
        model = MLP(2, [16, 16, 1])
        history = fit(model, X, y, steps=30)
        print(f"{len(model.parameters())} parameters; final loss {history.loss[-1]:.4f}, "
              f"accuracy {history.accuracy[-1]:.0%}")
        """
    )
    a.code("plot_history(history)")
    a.code("plot_decision_boundary(model, X, y)")
    a.written(
        "written_boundary",
        PROSE["a3_training"]["written_boundary.question"],
        PROSE["a3_training"]["written_boundary.answer"],
    )
    return a


def course(reference: Path = REFERENCE) -> list[Assignment]:
    """The assignments in teaching order, built from the reference."""
    engine, nn, train, data, viz = (Source.load(m, reference) for m in ("engine", "nn", "train", "data", "viz"))
    return [
        assignment_value(engine),
        assignment_backprop(engine, viz),
        assignment_training(engine, nn, train, data, viz),
    ]
