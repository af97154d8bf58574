"""Neuron, Layer and MLP: sizes, parameter order, and forward/backward against a torch model with the same weights."""

from __future__ import annotations

import math
import random

import pytest
import torch

from micrograd.engine import Value
from micrograd.nn import MLP, Layer, Neuron


@pytest.fixture(autouse=True)
def _seeded() -> None:
    random.seed(1337)


def torch_forward(model: MLP, x: list[float]) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """The same network in torch: one (W, b) pair per layer holding the model's current weights."""
    params: list[torch.Tensor] = []
    h = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    inputs = h
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        params += [W, b]
        h = W @ h + b
        if layer.neurons[0].nonlin:
            h = getattr(h, layer.neurons[0].activation)()
    return h.squeeze(), params, inputs


def torch_grads_in_micrograd_order(params: list[torch.Tensor]) -> list[float]:
    """Flatten torch's (W, b) grads neuron by neuron: a neuron's weights, then its bias."""
    out: list[float] = []
    for W, b in zip(params[::2], params[1::2], strict=True):
        for row, bias in zip(W.grad.tolist(), b.grad.tolist(), strict=True):
            out += [*row, bias]
    return out


def assert_all_close(actual: list[float], expected: list[float], rel: float = 1e-10) -> None:
    assert len(actual) == len(expected)
    bad = [
        (i, a, e)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True))
        if not math.isclose(a, e, rel_tol=rel, abs_tol=1e-12)
    ]
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


# --------------------------------------------------------------------------- shape


@pytest.mark.parametrize(("nin", "nouts", "count"), [(2, [16, 16, 1], 337), (3, [4, 4, 1], 41), (1, [1], 2)])
def test_parameter_count(nin: int, nouts: list[int], count: int) -> None:
    assert len(MLP(nin, nouts).parameters()) == count


def test_parameter_order_is_neuron_by_neuron_weights_then_bias() -> None:
    model = MLP(3, [4, 2, 1])
    expected = [p for layer in model.layers for n in layer.neurons for p in [*n.w, n.b]]
    actual = model.parameters()
    assert len(actual) == len(expected)
    assert all(a is e for a, e in zip(actual, expected, strict=True))


def test_neuron_starts_with_uniform_weights_and_zero_bias() -> None:
    n = Neuron(50)
    assert all(-1 <= w.data <= 1 for w in n.w)
    assert len({w.data for w in n.w}) == 50
    assert n.b.data == 0.0
    assert n.parameters()[-1] is n.b


def test_random_seed_makes_models_reproducible() -> None:
    random.seed(7)
    first = [p.data for p in MLP(2, [3, 1]).parameters()]
    random.seed(7)
    assert [p.data for p in MLP(2, [3, 1]).parameters()] == first


def test_every_layer_is_nonlinear_except_the_last() -> None:
    model = MLP(2, [3, 3, 1], activation="tanh")
    assert [layer.neurons[0].nonlin for layer in model.layers] == [True, True, False]
    assert {n.activation for layer in model.layers for n in layer.neurons} == {"tanh"}


def test_single_output_returns_a_value_and_wider_layers_return_lists() -> None:
    assert isinstance(MLP(2, [4, 1])([1.0, 2.0]), Value)
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)
    out = Layer(2, 3)([1.0, 2.0])
    assert isinstance(out, list)
    assert len(out) == 3
    assert all(isinstance(v, Value) for v in out)


def test_neuron_computes_activation_of_weighted_sum() -> None:
    n = Neuron(2, activation="tanh")
    n.w[0].data, n.w[1].data, n.b.data = 0.5, -1.0, 0.25
    assert math.isclose(n([2.0, 0.5]).data, math.tanh(0.5 * 2.0 - 1.0 * 0.5 + 0.25), rel_tol=1e-15)
    linear = Neuron(2, nonlin=False)
    linear.w[0].data, linear.w[1].data = 3.0, -4.0
    assert linear([1.0, 1.0]).data == -1.0


def test_repr_names_the_structure() -> None:
    assert repr(MLP(2, [2, 1])) == "MLP of [Layer of [ReluNeuron(2), ReluNeuron(2)], Layer of [LinearNeuron(2)]]"


# ------------------------------------------------------------------ against torch


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("x", [[0.5, -1.5, 2.0], [-0.3, 0.8, 0.1]])
def test_mlp_forward_and_grads_match_torch(activation: str, x: list[float]) -> None:
    model = MLP(3, [8, 6, 1], activation=activation)
    for p in model.parameters():  # non-zero biases, so their gradients are tested too
        p.data += random.uniform(-0.1, 0.1)
    xs = [Value(v) for v in x]
    out = model(xs)
    out.backward()

    t_out, t_params, t_x = torch_forward(model, x)
    t_out.backward()

    assert math.isclose(out.data, t_out.item(), rel_tol=1e-10, abs_tol=1e-12)
    assert_all_close([p.grad for p in model.parameters()], torch_grads_in_micrograd_order(t_params))
    assert_all_close([v.grad for v in xs], t_x.grad.tolist())


def test_zero_grad_resets_every_parameter() -> None:
    model = MLP(2, [4, 1])
    model([1.0, -1.0]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


# ------------------------------------------------------------------------- errors


def test_unknown_activation_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="activation"):
        Neuron(2, activation="softplus")
    with pytest.raises(ValueError, match="activation"):
        MLP(2, [2, 1], activation="gelu")


@pytest.mark.parametrize("x", [[1.0], [1.0, 2.0, 3.0]])
def test_wrong_input_length_is_a_value_error(x: list[float]) -> None:
    with pytest.raises(ValueError, match="expected 2 inputs"):
        MLP(2, [3, 1])(x)
    with pytest.raises(ValueError, match="expected 2 inputs"):
        Neuron(2)(x)
