"""Section 4: a neural-network library. A Neuron computes act(w . x + b); a
Layer is a list of Neurons reading the same inputs; an MLP is a list of Layers.
`parameters()` lists every weight and bias in a fixed order, which the
optimiser and the grader rely on."""

from __future__ import annotations

import math
import random

import pytest
from helpers import check_close, check_value, fail

from micrograd.engine import Value
from micrograd.nn import MLP, Layer, Neuron


def check_same_objects(task: str, what: str, got: object, expected: list[Value], hint: str) -> None:
    """`got` is a list of exactly these Value objects, in this order."""
    __tracebackhide__ = True
    same = isinstance(got, list) and len(got) == len(expected)
    if not same or any(g is not e for g, e in zip(got, expected, strict=True)):
        count = len(got) if isinstance(got, list) else got
        fail(task, what, f"a list of {len(expected)} parameters in order", f"{type(got).__name__} of {count}", hint)


def set_neuron(n: Neuron, weights: list[float], bias: float) -> None:
    """Give a neuron known weights (the tests must not depend on the random ones)."""
    for w, x in zip(n.w, weights, strict=True):
        w.data = x
    n.b.data = bias


@pytest.mark.task4_1
def test_neuron_weights_and_bias() -> None:
    random.seed(7)
    n = Neuron(3)
    random.seed(7)
    draws = [random.uniform(-1, 1) for _ in range(3)]
    if not isinstance(n.w, list) or len(n.w) != 3 or not all(isinstance(w, Value) for w in n.w):
        fail("4.1", "Neuron(3).w", "a list of 3 Values", n.w, "one Value per input.")
    for i, (w, want) in enumerate(zip(n.w, draws, strict=True)):
        check_close("4.1", f"Neuron(3) after random.seed(7): w[{i}]", w.data, want, "random.uniform(-1, 1), in order.")
    check_value("4.1", "Neuron(3).b", n.b, 0.0, "the bias starts at Value(0.0).")


@pytest.mark.task4_1
@pytest.mark.parametrize("nin", [1, 3, 10])
def test_neuron_parameters(nin: int) -> None:
    n = Neuron(nin)
    check_same_objects(
        "4.1",
        f"Neuron({nin}).parameters()",
        n.parameters(),
        [*n.w, n.b],
        "the weight Values themselves, in order, then the bias: nin + 1 parameters.",
    )


@pytest.mark.task4_1
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 0.0),  # relu of -0.5
        ({"nonlin": False}, -0.5),
        ({"activation": "tanh"}, math.tanh(-0.5)),
        ({"activation": "sigmoid"}, 1 / (1 + math.exp(0.5))),
    ],
)
def test_neuron_output(kwargs: dict, expected: float) -> None:
    n = Neuron(2, **kwargs)
    set_neuron(n, [2.0, -1.0], 0.5)
    check_value(
        "4.1",
        f"Neuron(2, {kwargs}) with w=[2, -1], b=0.5 on x=[1, 3] (w.x + b = -0.5)",
        n([1.0, 3.0]),
        expected,
        "act = b + sum of w_i * x_i, then the activation (by name, self.activation) unless nonlin is False.",
    )


@pytest.mark.task4_1
def test_neuron_accepts_values() -> None:
    n = Neuron(2, nonlin=False)
    set_neuron(n, [0.5, 4.0], -1.0)
    check_value("4.1", "a linear Neuron(2) on x=[Value(2), Value(0.25)]", n([Value(2.0), Value(0.25)]), 1.0, "w.x + b.")


@pytest.mark.task4_1
def test_neuron_gradients_reach_weights() -> None:
    n = Neuron(2, nonlin=False)
    set_neuron(n, [0.5, 4.0], -1.0)
    n([3.0, -2.0]).backward()
    for name, got, want in (("w[0]", n.w[0].grad, 3.0), ("w[1]", n.w[1].grad, -2.0), ("b", n.b.grad, 1.0)):
        check_close(
            "4.1",
            f"a linear Neuron(2) on x=[3, -2], after backward(): {name}.grad",
            got,
            want,
            "the output must be built from the weight Values (self.w, self.b), not copies of their data.",
        )


@pytest.mark.task4_1
def test_zero_grad() -> None:
    n = Neuron(3)
    for p in n.parameters():
        p.grad = 5.0
    n.zero_grad()
    grads = [p.grad for p in n.parameters()]
    if grads != [0.0] * 4:
        fail("4.1", "Neuron(3).zero_grad() after setting every grad to 5", [0.0] * 4, grads, "set .grad = 0.0.")


@pytest.mark.task4_2
def test_layer_neurons() -> None:
    layer = Layer(3, 4)
    shapes = [len(n.w) for n in layer.neurons] if isinstance(layer.neurons, list) else layer.neurons
    if shapes != [3, 3, 3, 3]:
        fail("4.2", "Layer(3, 4).neurons: inputs per neuron", [3, 3, 3, 3], shapes, "nout Neurons of nin inputs.")


@pytest.mark.task4_2
def test_layer_passes_options_on() -> None:
    layer = Layer(2, 3, nonlin=False, activation="tanh")
    got = [(n.nonlin, n.activation) for n in layer.neurons]
    if got != [(False, "tanh")] * 3:
        fail("4.2", "Layer(2, 3, nonlin=False, activation='tanh')", [(False, "tanh")] * 3, got, "pass **kwargs on.")


@pytest.mark.task4_2
def test_layer_parameters() -> None:
    layer = Layer(3, 4)
    expected = [p for n in layer.neurons for p in n.parameters()]
    check_same_objects(
        "4.2", "Layer(3, 4).parameters()", layer.parameters(), expected, "neuron by neuron: 4 * (3 + 1) = 16."
    )


@pytest.mark.task4_2
def test_layer_output() -> None:
    layer = Layer(2, 3, nonlin=False)
    for i, n in enumerate(layer.neurons):
        set_neuron(n, [1.0, float(i)], 0.0)
    out = layer([1.0, 2.0])
    if not isinstance(out, list) or len(out) != 3:
        fail("4.2", "a Layer(2, 3) on two inputs", "a list of 3 Values", out, "one output per neuron, in order.")
    for i, v in enumerate(out):
        check_value("4.2", f"Layer(2, 3) output {i} (w=[1, {i}], b=0, x=[1, 2])", v, 1.0 + 2.0 * i, "neuron i's.")


@pytest.mark.task4_2
def test_layer_of_one_neuron_returns_a_value() -> None:
    layer = Layer(2, 1, nonlin=False)
    set_neuron(layer.neurons[0], [1.0, 1.0], 0.0)
    check_value("4.2", "Layer(2, 1) on x=[1, 2]", layer([1.0, 2.0]), 3.0, "one neuron: its Value, not a list.")


@pytest.mark.task4_3
@pytest.mark.parametrize(("nin", "nouts", "count"), [(2, [16, 16, 1], 337), (3, [4, 4, 1], 41), (1, [1], 2)])
def test_mlp_parameter_count(nin: int, nouts: list[int], count: int) -> None:
    got = len(MLP(nin, nouts).parameters())
    if got != count:
        fail("4.3", f"len(MLP({nin}, {nouts}).parameters())", count, got, "layer i reads sizes[i] inputs.")


@pytest.mark.task4_3
def test_mlp_layers() -> None:
    model = MLP(3, [4, 5, 2], activation="tanh")
    got = [(len(layer.neurons), len(layer.neurons[0].w), layer.neurons[0].nonlin) for layer in model.layers]
    want = [(4, 3, True), (5, 4, True), (2, 5, False)]
    if got != want:
        fail("4.3", "MLP(3, [4, 5, 2]): (neurons, inputs each, nonlin) per layer", want, got, "the last is linear.")
    acts = {n.activation for layer in model.layers for n in layer.neurons}
    if acts != {"tanh"}:
        fail("4.3", "MLP(3, [4, 5, 2], activation='tanh'): activations", {"tanh"}, acts, "pass activation on.")


@pytest.mark.task4_3
def test_mlp_parameters_order() -> None:
    model = MLP(2, [3, 1])
    expected = [p for layer in model.layers for p in layer.parameters()]
    check_same_objects("4.3", "MLP(2, [3, 1]).parameters()", model.parameters(), expected, "first layer first.")


@pytest.mark.task4_3
def test_mlp_output() -> None:
    model = MLP(2, [2, 1])
    first, last = model.layers
    set_neuron(first.neurons[0], [1.0, -1.0], 0.0)  # relu(x0 - x1)
    set_neuron(first.neurons[1], [-1.0, 1.0], 0.0)  # relu(x1 - x0)
    set_neuron(last.neurons[0], [2.0, 3.0], 0.5)  # linear
    check_value(
        "4.3",
        "a 2-2-1 MLP on x=[1, 4] (hidden: relu(-3)=0, relu(3)=3; output 2*0 + 3*3 + 0.5)",
        model([1.0, 4.0]),
        9.5,
        "feed x through each layer in turn; return the last layer's output.",
    )


@pytest.mark.task4_3
def test_mlp_zero_grad() -> None:
    model = MLP(2, [3, 1])
    for p in model.parameters():
        p.grad = 1.0
    model.zero_grad()
    left = [p.grad for p in model.parameters() if p.grad != 0.0]
    if left:
        fail("4.3", "MLP(2, [3, 1]).zero_grad()", "every grad 0.0", left, "Module.zero_grad uses parameters().")
