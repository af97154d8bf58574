"""A tiny neural-network library on top of `Value`: neurons, layers, MLPs.

Every number in a model is a `Value`, so a forward pass builds a graph and
`loss.backward()` fills in every weight's `.grad`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from micrograd.engine import Value

Input = Value | float
ACTIVATIONS = ("relu", "tanh", "sigmoid")


class Module:
    """Base class: something with parameters whose gradients can be reset."""

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to 0 (call it before each `backward()`)."""
        ### BEGIN SOLUTION [4.1] zero_grad(): set .grad of every parameter to 0.
        for p in self.parameters():
            p.grad = 0.0
        ### END SOLUTION

    def parameters(self) -> list[Value]:
        """All trainable Values, in a fixed order."""
        return []


class Neuron(Module):
    """One neuron: act(w . x + b).

    Weights start uniform in [-1, 1] (from `random`, so `random.seed` makes a
    model reproducible); the bias starts at 0. `nonlin=False` makes it linear.
    """

    def __init__(self, nin: int, nonlin: bool = True, activation: str = "relu") -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"Neuron: activation must be one of {ACTIVATIONS}, got {activation!r}")
        ### BEGIN SOLUTION [4.1] Neuron.__init__: nin weights drawn with random.uniform(-1, 1), in order, then a bias Value(0.0).
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        ### END SOLUTION
        self.nonlin = nonlin
        self.activation = activation

    def __call__(self, x: Sequence[Input]) -> Value:
        """The neuron's output for one input vector `x` (Values or floats)."""
        if len(x) != len(self.w):
            raise ValueError(f"Neuron: expected {len(self.w)} inputs, got {len(x)}")
        ### BEGIN SOLUTION [4.1] Neuron.__call__: act = b + sum of w_i * x_i; apply the activation (getattr(act, self.activation)()) only if self.nonlin.
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return getattr(act, self.activation)() if self.nonlin else act
        ### END SOLUTION

    def parameters(self) -> list[Value]:
        """The weights in order, then the bias."""
        ### BEGIN SOLUTION [4.1] Neuron.parameters: the weights in order, then the bias.
        return self.w + [self.b]
        ### END SOLUTION

    def __repr__(self) -> str:
        kind = self.activation.capitalize() if self.nonlin else "Linear"
        return f"{kind}Neuron({len(self.w)})"


class Layer(Module):
    """`nout` independent neurons that all read the same inputs."""

    def __init__(self, nin: int, nout: int, **kwargs: object) -> None:
        ### BEGIN SOLUTION [4.2] Layer.__init__: nout Neurons of nin inputs each, passing **kwargs on.
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]
        ### END SOLUTION

    def __call__(self, x: Sequence[Input]) -> Value | list[Value]:
        """A list of outputs, or a single Value when the layer has one neuron."""
        ### BEGIN SOLUTION [4.2] Layer.__call__: every neuron's output; a bare Value (not a list) when there is exactly one neuron.
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out
        ### END SOLUTION

    def parameters(self) -> list[Value]:
        """Each neuron's parameters, neuron by neuron."""
        ### BEGIN SOLUTION [4.2] Layer.parameters: each neuron's parameters, neuron after neuron.
        return [p for n in self.neurons for p in n.parameters()]
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: layers of sizes `nouts`; the last one is linear.

    >>> len(MLP(2, [16, 16, 1]).parameters())
    337
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: str = "relu") -> None:
        ### BEGIN SOLUTION [4.3] MLP.__init__: one Layer per entry of nouts (layer i reads sizes[i] inputs); every layer is nonlinear except the last.
        sizes = [nin, *nouts]
        self.layers = [
            Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1, activation=activation)
            for i in range(len(nouts))
        ]
        ### END SOLUTION

    def __call__(self, x: Sequence[Input]) -> Value | list[Value]:
        """Feed `x` through every layer in turn."""
        ### BEGIN SOLUTION [4.3] MLP.__call__: feed x through each layer in turn and return the last output.
        for layer in self.layers:
            x = layer(x)
        return x
        ### END SOLUTION

    def parameters(self) -> list[Value]:
        """Each layer's parameters, first layer first."""
        ### BEGIN SOLUTION [4.3] MLP.parameters: each layer's parameters, first layer first.
        return [p for layer in self.layers for p in layer.parameters()]
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
