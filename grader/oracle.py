"""The grader's ground truth: the reference micrograd and PyTorch float64.

Runs only in the grader's own process. The reference is loaded from
`reference/micrograd` by path under the name `micrograd`, whatever else is on
`sys.path`: an instructor who runs the grader from inside a student's folder
must not get that student's package as the reference.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import math
import sys
from functools import cache, lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.child.probes import API_MODULES, Api, run_probe

REFERENCE = Path(__file__).resolve().parent.parent / "reference" / "micrograd"
TORCH_KINDS = ("expr", "local", "module", "loss")
AGREEMENT = 1e-9  # reference and torch must agree this closely (relative)


class OracleError(RuntimeError):
    """The reference and PyTorch disagree: a bug in the kit, not the student's."""


@cache
def reference_modules() -> dict[str, ModuleType]:
    """engine, nn and train of reference/micrograd, imported as `micrograd`."""
    loaded = sys.modules.get("micrograd")
    if loaded is None or Path(getattr(loaded, "__file__", "") or "").resolve().parent != REFERENCE:
        for name in [n for n in sys.modules if n == "micrograd" or n.startswith("micrograd.")]:
            del sys.modules[name]
        spec = importlib.util.spec_from_file_location(
            "micrograd", REFERENCE / "__init__.py", submodule_search_locations=[str(REFERENCE)]
        )
        assert spec and spec.loader
        package = importlib.util.module_from_spec(spec)
        sys.modules["micrograd"] = package
        spec.loader.exec_module(package)
    return {name: importlib.import_module(f"micrograd.{name}") for name in ("engine", "nn", "train")}


@cache
def reference_api() -> Api:
    modules = reference_modules()
    return Api({name: getattr(modules[home], name) for name, home in API_MODULES.items()})


def expected(probe: dict[str, Any]) -> dict[str, Any]:
    """The reference's answer to `probe`, checked against PyTorch where torch applies.

    Public probes are the same for every student, so answers are cached."""
    return _expected(json.dumps(probe, sort_keys=True))


@lru_cache(maxsize=256)
def _expected(key: str) -> dict[str, Any]:
    probe = json.loads(key)
    # The reference's graphs hold no reference cycles: the cycle collector
    # would only slow it down (see micrograd.engine.cycle_collector_paused).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        ref = run_probe(reference_api(), probe)
    finally:
        if was_enabled:
            gc.enable()
    if probe["kind"] in TORCH_KINDS:
        truth = torch_probe(probe)
        problem = _disagreement(ref, truth)
        if problem:
            raise OracleError(f"reference and PyTorch disagree on {problem} for probe {probe}")
        ref["torch"] = truth
    return ref


def _disagreement(ref: dict[str, Any], truth: dict[str, Any], path: str = "") -> str:
    for key, t in truth.items():
        r = ref.get(key)
        if key == "cases":
            for i, (a, b) in enumerate(zip(r, t)):
                problem = _disagreement(a, b, f"{path}cases[{i}].")
                if problem:
                    return problem
        elif isinstance(t, list):
            for i, (a, b) in enumerate(zip(r, t)):
                if not close(a, b, AGREEMENT):
                    return f"{path}{key}[{i}] ({a} vs {b})"
        elif isinstance(t, (int, float)) and not close(r, t, AGREEMENT):
            return f"{path}{key} ({r} vs {t})"
    return ""


def close(got: object, want: float, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Is `got` a float within tolerance of `want`? (NaN and inf must match exactly.)"""
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return False
    if math.isnan(want) or math.isinf(want):
        return (math.isnan(want) and math.isnan(got)) or got == want
    return abs(got - want) <= abs_tol + rel * abs(want)


# --------------------------------------------------------------------- torch


@cache
def _torch() -> Any:
    import torch

    torch.set_num_threads(1)
    return torch


def _t_op(op: str, *args: Any) -> Any:
    torch = _torch()
    a = args[0]
    if op == "add":
        return a + args[1]
    if op == "sub":
        return a - args[1]
    if op == "mul":
        return a * args[1]
    if op == "div":
        return a / args[1]
    if op == "pow":
        return a ** args[1]
    if op == "neg":
        return -a
    return getattr(torch, op)(a)


def torch_probe(probe: dict[str, Any]) -> dict[str, Any]:
    """The same measurement as `probes.run_probe`, computed by PyTorch in float64."""
    torch = _torch()

    def leaf(x: float) -> Any:
        return torch.tensor(float(x), dtype=torch.float64, requires_grad=True)

    def grad_of(t: Any) -> float:
        return 0.0 if t.grad is None else float(t.grad)

    kind = probe["kind"]
    if kind == "expr":
        nodes: list[Any] = []
        leaves: list[Any] = []
        for op, *args in probe["program"]:
            if op == "leaf":
                leaves.append(leaf(args[0]))
                nodes.append(leaves[-1])
            else:
                vals = [a["c"] if isinstance(a, dict) else nodes[a] for a in args]
                nodes.append(_t_op(op, *vals))
        out: dict[str, Any] = {"data": [float(n.detach()) for n in nodes]}
        if probe.get("backward"):
            repeat = probe.get("repeat", 1)
            for k in range(repeat):  # leaves accumulate: twice gives exactly twice the gradient
                nodes[probe.get("root", -1)].backward(retain_graph=k < repeat - 1)
            out["grad"] = [grad_of(t) for t in leaves]
        return out
    if kind == "local":
        cases = []
        for case in probe["cases"]:
            leaves = [leaf(x) for x in case["inputs"]]
            args = [leaves[i] if isinstance(i, int) else i["c"] for i in case["args"]]
            result = _t_op(probe["op"], *args)
            result.backward(torch.tensor(float(case["upstream"]), dtype=torch.float64))
            grads = [pre + grad_of(t) for pre, t in zip(case["pre"], leaves)]
            cases.append({"data": float(result.detach()), "grad": grads})
        return {"cases": cases}
    if kind == "module":
        return _torch_module(probe)
    if kind == "loss":
        values = [leaf(s) for s in probe["values"]]
        stacked = torch.stack(values)
        fn = probe["fn"]
        if fn == "svm_loss":
            ys = torch.tensor(probe["ys"], dtype=torch.float64)
            loss = torch.relu(1 - ys * stacked).mean()
        elif fn == "mse_loss":
            ys = torch.tensor(probe["ys"], dtype=torch.float64)
            loss = ((stacked - ys) ** 2).mean()
        else:
            loss = probe["alpha"] * (stacked * stacked).sum()
        loss.backward()
        return {"data": loss.item(), "grad": [grad_of(v) for v in values]}
    raise ValueError(f"no torch oracle for {kind}")


def _layer_sizes(probe: dict[str, Any]) -> list[tuple[int, int, bool]]:
    """(nin, nout, nonlinear) for each layer of the probe's module."""
    kind, args, kwargs = probe["module"], probe["args"], probe["kwargs"]
    if kind == "neuron":
        return [(args[0], 1, kwargs.get("nonlin", True))]
    if kind == "layer":
        return [(args[0], args[1], kwargs.get("nonlin", True))]
    sizes = [args[0], *args[1]]
    return [(sizes[i], sizes[i + 1], i != len(args[1]) - 1) for i in range(len(args[1]))]


def _torch_module(probe: dict[str, Any]) -> dict[str, Any]:
    torch = _torch()
    layers = _layer_sizes(probe)
    out: dict[str, Any] = {"nparams": sum((nin + 1) * nout for nin, nout, _ in layers)}
    if "weights" not in probe:
        return out
    act = getattr(torch, probe["kwargs"].get("activation", "relu"))
    weights = torch.tensor(probe["weights"], dtype=torch.float64)
    params = []
    h = torch.tensor(probe["x"], dtype=torch.float64)
    offset = 0
    for nin, nout, nonlin in layers:
        # Parameters come neuron by neuron: nin weights, then that neuron's bias.
        block = weights[offset : offset + (nin + 1) * nout].reshape(nout, nin + 1).clone().requires_grad_(True)
        offset += (nin + 1) * nout
        params.append(block)
        h = block[:, :nin] @ h + block[:, nin]
        if nonlin:
            h = act(h)
    out["out"] = [float(v) for v in h.detach()]
    if probe.get("backward"):
        (h * torch.tensor(probe["coef"], dtype=torch.float64)).sum().backward()
        out["grads"] = [float(g) for block in params for g in block.grad.reshape(-1)]
    return out
