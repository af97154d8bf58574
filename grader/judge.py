"""Decide each check in the grader's process and explain failures.

The child only returned numbers; here they are compared with the reference's
and PyTorch's answers (`oracle.expected`). Public checks explain everything:
inputs, expected vs got, a hint. Hidden checks say what kind of thing failed
and give the hint, never their inputs or expected values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from grader.oracle import close, reference_modules
from grader.rubric import OP_NAME, PRIMITIVES, TRAIN_ACCURACY, Check, leaf_values, render
from grader.types import Outcome, Verdict

DERIVATIVE = {
    "add": "d(a+b)/da = 1 and d(a+b)/db = 1, each times out.grad",
    "mul": "d(a*b)/da = b and d(a*b)/db = a, each times out.grad",
    "pow": "d(x**n)/dx = n * x**(n-1), times out.grad",
    "div": "d(a/b)/da = 1/b and d(a/b)/db = -a/b**2, each times out.grad",
    "exp": "d(e**x)/dx = e**x, which is out.data; times out.grad",
    "log": "d(ln x)/dx = 1/x, times out.grad",
    "tanh": "d tanh(x)/dx = 1 - tanh(x)**2 = 1 - out.data**2, times out.grad",
    "sigmoid": "d s(x)/dx = s * (1 - s) with s = out.data, times out.grad",
    "relu": "relu passes out.grad through where x > 0 and nothing elsewhere (nothing at exactly 0)",
}
FORWARD = {
    "add": "out.data = self.data + other.data",
    "mul": "out.data = self.data * other.data",
    "pow": "out.data = self.data ** n",
    "div": "out.data = self.data / other.data",
    "exp": "out.data = math.exp(self.data)",
    "log": "out.data = math.log(self.data)",
    "tanh": "out.data = math.tanh(self.data)",
    "sigmoid": "out.data = 1 / (1 + math.exp(-self.data))",
    "relu": "out.data = self.data if self.data > 0 else 0.0",
}
ORDER_RULE = (
    "every node's _backward must run exactly once, after all the nodes that use it: "
    "walk the topological order from the root back to the leaves"
)


def fmt(x: object) -> str:
    return f"{x:.10g}" if isinstance(x, float) else repr(x)


def judge(check: Check, outcome: Outcome, expected: dict[str, Any] | None) -> Verdict:
    """Score one check from the child's outcome and the oracle's expectation."""
    if outcome.status != "ok" or outcome.result is None:
        return _fail(check, explain_outcome(check, outcome), _outcome_diagnosis(outcome))
    try:
        problem, hint = JUDGES[check.judge](check, outcome.result, expected or {})
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        problem, hint = Problem("the results came back in an unexpected shape", "malformed results"), ""
    if not problem:
        return Verdict(True, "passed", check.points)
    if check.hidden:
        detail = problem.kind if isinstance(problem, Problem) else "wrong result"
        text = f"hidden check failed: {detail} ({check.title})."
    else:
        text = str(problem)
    if hint:
        text += f"\nhint: {hint}"
    return _fail(check, text, problem.kind if isinstance(problem, Problem) else "wrong result")


def _fail(check: Check, text: str, diagnosis: str) -> Verdict:
    return Verdict(False, text, 0.0, diagnosis)


def _outcome_diagnosis(outcome: Outcome) -> str:
    """A short, student-independent name for a process-level failure."""
    if outcome.status in ("timeout", "crashed", "skipped", "malformed"):
        return {"timeout": "an endless loop (timeout)", "crashed": "the process crashed",
                "skipped": "not run", "malformed": "malformed results"}[outcome.status]  # fmt: skip
    err = outcome.error or {}
    kind = str(err.get("type", "Error"))
    if outcome.status == "import_error":
        return f"the package does not import ({kind})" if err else "the package does not import"
    return "not implemented yet" if kind == "NotImplementedError" else f"raises {kind}"


class Problem(str):
    """A public failure description that also knows its hidden-safe kind."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Problem:
        obj = super().__new__(cls, text)
        obj.kind = kind
        return obj


def explain_outcome(check: Check, outcome: Outcome) -> str:
    if outcome.status in ("timeout", "crashed", "skipped", "malformed"):
        return outcome.message
    err = outcome.error or {}
    kind, message, where = str(err.get("type", "Error")), str(err.get("message", "")), err.get("where")
    place = ""
    if isinstance(where, dict):
        place = f" at {where.get('file')}:{where.get('line')}"
        if where.get("function"):
            place += f" in {where.get('function')}()"
        if where.get("code"):
            place += f": `{where.get('code')}`"
    if outcome.status == "import_error":
        text = outcome.message or f"the package could not be imported: {kind}: {message}{place}"
        return (
            text
            if outcome.message
            else text + "\nhint: run `python -c 'import micrograd.engine, micrograd.nn'` to see it."
        )
    if kind == "NotImplementedError":
        return f"not implemented yet: {message or 'NotImplementedError'}{place}"
    shown = message if not check.hidden or kind in ("ProbeError", "PermissionError") else "(message hidden)"
    text = f"your code raised {kind}: {shown}{place}"
    if kind == "RecursionError":
        text += "\nhint: a recursive walk fails on deep graphs; use an explicit stack (Task 3.1)."
    elif kind == "PermissionError":
        text += "\nhint: graded code may not write files, start processes or use the network."
    return text


# -------------------------------------------------------------------- judges


def _compare(got: list[Any], want: list[float], torch: list[float] | None) -> tuple[int, Any] | None:
    """The first index where `got` misses the reference or torch."""
    if len(got) != len(want):
        return (-1, f"{len(got)} values instead of {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        t = torch[i] if torch else w
        if not (close(g, w) and close(g, t)):
            return (i, g)
    return None


def judge_expr_forward(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    program = check.probe["program"]
    names = render(program)
    bad = _compare(got["data"], exp["data"], exp["torch"]["data"])
    if bad:
        i, value = bad
        op = program[i][0]
        text = Problem(
            f"{check.title}: with {leaf_values(program)}\n"
            f"  {names[i]}: expected {fmt(exp['data'][i])}, got {fmt(value)}",
            f"wrong forward value of {OP_NAME.get(op, op)}",
        )
        hint = f"{FORWARD[op]}." if op in FORWARD else "- a, a - b, 2 + a and friends are built on + and * (Task 1.1)."
        return text, hint
    for i, instr in enumerate(program):
        op, *args = instr
        refs = [a for a in args if isinstance(a, int)]
        if op in PRIMITIVES and refs and not set(refs) <= set(got["children"][i]):
            return Problem(
                f"{check.title}: the result of {names[i]} does not list its inputs in _prev",
                "the result's _prev does not hold its inputs",
            ), "pass the inputs as the children, e.g. Value(data, (self, other), '*'): backward follows _prev."
    return "", ""


def judge_expr_backward(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    program = check.probe["program"]
    names = render(program)
    root = names[-1]
    bad = _compare(got["data"], exp["data"], exp["torch"]["data"])
    if bad:
        return Problem(f"{check.title}: wrong forward values (see Tasks 1.x)", "wrong forward value"), ""
    leaves = [i for i, instr in enumerate(program) if instr[0] == "leaf"]
    bad = _compare(got["grad"], exp["grad"], exp["torch"]["grad"])
    if not bad:
        return "", ""
    k, value = bad
    want = exp["grad"][k]
    leaf = names[leaves[k]]
    text = Problem(
        f"{check.title}: with {leaf_values(program)}\n  d(root)/d{leaf}: expected {fmt(want)}, got {fmt(value)}"
        + (f"\n  (root = {root})" if len(root) < 60 else ""),
        "wrong gradient after backward()",
    )
    if isinstance(value, float) and want and close(value, 2 * want):
        return text, "gradients came back twice too large: is some rule called twice? " + ORDER_RULE + "."
    return text, ORDER_RULE + "; and every rule adds to .grad (+=)."


def _local_candidates(op: str, case: dict[str, Any]) -> list[tuple[str, list[float]]]:
    """Wrong answers students often give, each with the hint that explains it."""
    xs, args, g, pre = case["inputs"], case["args"], case["upstream"], case["pre"]
    vals = [xs[a] if isinstance(a, int) else a["c"] for a in args]
    x = vals[0]
    y = vals[1] if len(vals) > 1 else None

    def local(rule: Callable[[float, Any], list[float]]) -> list[float]:
        """Per-input local derivatives under `rule`, summed over repeated inputs."""
        parts = [0.0] * len(xs)
        for arg, d in zip(args, rule(x, y)):
            if isinstance(arg, int):
                parts[arg] += d
        return parts

    def sigmoid(a: float) -> float:
        return 1 / (1 + math.exp(-a))

    right: dict[str, Callable[[float, Any], list[float]]] = {
        "add": lambda a, b: [1.0, 1.0],
        "mul": lambda a, b: [b, a],
        "pow": lambda a, n: [n * a ** (n - 1)],
        "div": lambda a, b: [1 / b, -a / b**2],
        "exp": lambda a, _: [math.exp(a)],
        "log": lambda a, _: [1 / a],
        "tanh": lambda a, _: [1 - math.tanh(a) ** 2],
        "sigmoid": lambda a, _: [sigmoid(a) * (1 - sigmoid(a))],
        "relu": lambda a, _: [float(a > 0)],
    }
    wrong: dict[str, list[Callable[[float, Any], list[float]]]] = {
        "mul": [lambda a, b: [a, b]],
        "pow": [lambda a, n: [n * a**n], lambda a, n: [a ** (n - 1)], lambda a, n: [(n - 1) * a ** (n - 1)]],
        "div": [lambda a, b: [1 / b, a / b**2], lambda a, b: [b, a]],
        "exp": [lambda a, _: [a]],
        "log": [lambda a, _: [a], lambda a, _: [math.log(a)]],
        "tanh": [lambda a, _: [1 - a * a], lambda a, _: [1 - math.tanh(a)], lambda a, _: [math.tanh(a) ** 2]],
        "sigmoid": [lambda a, _: [sigmoid(a)], lambda a, _: [a * (1 - a)]],
        "relu": [lambda a, _: [float(a <= 0)], lambda a, _: [1.0]],
    }
    wrong_hints = {
        "mul": "d(a*b)/da came back as a.data; it should be b.data (and d(a*b)/db is a.data).",
        "pow": "the power rule is n * x**(n-1) (both the factor n and the exponent n - 1).",
        "div": "the derivative of a/b with respect to b is -a/b**2: mind the minus sign and the square.",
        "exp": "exp is its own derivative: use out.data (e**x), not x.",
        "log": "d(ln x)/dx = 1/x.",
        "tanh": "use the output t = out.data: 1 - t**2, not 1 - x**2, 1 - t or t**2.",
        "sigmoid": "with s = out.data the derivative is s * (1 - s).",
        "relu": "relu's gradient is out.grad where x > 0 and 0 elsewhere, including at x = 0.",
    }
    d = local(right[op])
    out: list[tuple[str, list[float]]] = []
    for rule in wrong.get(op, []):
        out.append((wrong_hints[op], [p0 + w * g for p0, w in zip(pre, local(rule))]))
    if args == [0, 0]:
        once = right[op](x, y)[0]
        twice = "a node used twice gets a gradient from each use: with `=` the second rule overwrote the first; use +=."
        out.append((twice, [once * g]))
        out.append((twice, [pre[0] + once * g]))
    out.append(("multiply the local derivative by out.grad (the chain rule).", [p0 + w for p0, w in zip(pre, d)]))
    out.append(
        ("accumulate with += : a node can feed several others, and each adds its share to .grad.", [w * g for w in d])
    )
    out.append(("accumulate with += (not =) and multiply by out.grad.", list(d)))
    out.append(("the sign is flipped.", [p0 - w * g for p0, w in zip(pre, d)]))
    return out


def judge_local(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    op = check.probe["op"]
    if len(got["cases"]) != len(exp["cases"]):
        return Problem(f"{check.title}: wrong number of results", "wrong number of results"), ""
    for case, have, want, truth in zip(check.probe["cases"], got["cases"], exp["cases"], exp["torch"]["cases"]):
        if not (close(have["data"], want["data"]) and close(have["data"], truth["data"])):
            return Problem(f"{check.info['expr']}: the forward value is wrong (Task 1.x)", "wrong forward value"), ""
        if _compare(have["grad"], want["grad"], truth["grad"]) is None:
            continue
        names = "abcdefgh"
        expr = render([["leaf", x] for x in case["inputs"]] + [[op, *case["args"]]])[-1]
        inputs = ", ".join(f"{names[i]} = {x!r}" for i, x in enumerate(case["inputs"]))
        pre = ", ".join(f"{names[i]}.grad = {g!r}" for i, g in enumerate(case["pre"]))
        expect = ", ".join(f"{names[i]}.grad = {fmt(v)}" for i, v in enumerate(want["grad"]))
        result = ", ".join(f"{names[i]}.grad = {fmt(v)}" for i, v in enumerate(have["grad"]))
        text = Problem(
            f"local derivative of {expr} ({OP_NAME[op]}'s _backward)\n  inputs: {inputs}; "
            f"out.grad = {case['upstream']!r}; before _backward: {pre}\n  expected: {expect}\n  got:      {result}",
            f"wrong local derivative of {OP_NAME[op]}",
        )
        try:
            candidates = _local_candidates(op, case)
        except (ArithmeticError, ValueError):
            candidates = []
        for hint, candidate in candidates:
            if len(candidate) == len(have["grad"]) and all(close(a, b) for a, b in zip(have["grad"], candidate)):
                return text, hint
        return text, DERIVATIVE[op] + "."
    return "", ""


def judge_topo(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    program = check.probe["program"]
    names = render(program)
    order = [i for i in got["order"] if isinstance(i, int)]
    need = {i for i in exp["order"] if i >= 0}
    position: dict[int, int] = {}
    for pos, i in enumerate(order):
        if i >= 0:
            if i in position:
                return Problem(f"{check.title}: `{names[i]}` appears twice in the order", "a node appears twice"), (
                    "remember which nodes you have visited (a set) so each is listed once."
                )
            position[i] = pos
    missing = need - position.keys()
    if missing:
        i = min(missing)
        return Problem(f"{check.title}: `{names[i]}` is missing from the order", "a node is missing"), (
            "visit every child in _prev of every node you reach."
        )
    for i in position:
        for a in program[i][1:]:
            if isinstance(a, int) and position[a] > position[i]:
                return Problem(
                    f"{check.title}: `{names[i]}` comes before its input `{names[a]}`", "a node comes before its inputs"
                ), "append a node only after all of its children (post-order)."
    return "", ""


def judge_chain(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    if check.probe.get("topo"):
        if got.get("length") != exp["length"]:
            return Problem(
                f"{check.title}: the order lists {got.get('length')} nodes; the chain has {exp['length']}",
                "wrong number of nodes in the order",
            ), "each node exactly once."
        return "", ""
    if not close(got["data"], exp["data"]):
        return Problem(f"{check.title}: wrong value at the end of the chain", "wrong forward value"), ""
    if not close(got["grad"], exp["grad"]):
        return Problem(
            f"{check.title}: d(end)/d(start): expected {fmt(exp['grad'])}, got {fmt(got['grad'])}",
            "wrong gradient through a long chain",
        ), ORDER_RULE + "."
    return "", ""


def judge_count(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    want, have = exp["nparams"], got.get("nparams")
    if have == want:
        return "", ""
    hint = "each neuron has one weight per input plus one bias; parameters() lists them all."
    if isinstance(have, int) and have < want:
        hint = "too few parameters: is a bias missing, or a layer's parameters not collected? " + hint
    return Problem(f"{check.title}: parameters() returned {have} parameters", "wrong number of parameters"), hint


def judge_module(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    problem, hint = judge_count(check, got, exp)
    if problem:
        return problem, hint
    p = check.probe
    if p["module"] == "layer" and got["is_list"] != exp["is_list"]:
        want = "a list of Values" if exp["is_list"] else "a single Value (not a one-item list)"
        return Problem(f"{check.title}: the layer should return {want}", "the layer returns the wrong type"), (
            "a layer with one neuron returns that neuron's Value itself."
        )
    order_hint = (
        "parameters() must list each neuron's weights and then its bias, neuron after neuron, layer after layer; "
        "hidden layers use the activation, the last MLP layer is linear."
    )
    bad = _compare(got["out"], exp["out"], exp["torch"]["out"])
    if bad:
        i, value = bad
        return Problem(
            f"{check.title}: with weights loaded in parameters() order and x = {p['x']}\n"
            f"  output {i}: expected {fmt(exp['out'][i])}, got {fmt(value)}",
            "wrong output",
        ), order_hint
    bad = _compare(got["grads"], exp["grads"], exp["torch"]["grads"])
    if bad:
        i, value = bad
        return Problem(
            f"{check.title}: parameter {i}'s gradient: expected {fmt(exp['grads'][i])}, got {fmt(value)}",
            "wrong parameter gradient",
        ), "the forward pass is right, so look at backward (Tasks 2.x, 3.x) and at zero_grad()."
    if p.get("zero_grad") and any(v != 0 for v in got["zeroed"]):
        return Problem(f"{check.title}: some grads are not 0 after zero_grad()", "zero_grad() leaves gradients"), (
            "set p.grad = 0 for every p in self.parameters()."
        )
    return "", ""


def judge_loss(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    p = check.probe
    fn = p["fn"]
    inputs = f"values {p['values']}" + (f", ys {p['ys']}" if fn != "l2_penalty" else f", alpha {p['alpha']}")
    hints = {
        "svm_loss": "the mean of relu(1 - y * score) over the points.",
        "mse_loss": "the mean of (pred - y)**2 over the points.",
        "l2_penalty": "alpha times the sum of p * p.",
    }
    if not (close(got["data"], exp["data"]) and close(got["data"], exp["torch"]["data"])):
        return Problem(
            f"{check.title}: {fn}({inputs}): expected {fmt(exp['data'])}, got {fmt(got['data'])}", f"wrong {fn} value"
        ), hints[fn]
    bad = _compare(got["grad"], exp["grad"], exp["torch"]["grad"])
    if bad:
        i, value = bad
        return Problem(
            f"{check.title}: {fn}({inputs}): d(loss)/d(value {i}): expected {fmt(exp['grad'][i])}, got {fmt(value)}",
            f"wrong {fn} gradient",
        ), "build the loss from Value operations only, so backward can reach every input."
    return "", ""


def judge_call(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    fn = check.probe["fn"]
    key = {"learning_rate": "values", "sgd_step": "data", "accuracy": "value"}[fn]
    want, have = exp[key], got[key]
    ok = close(have, want) if key == "value" else (len(have) == len(want) and all(map(close, have, want)))
    if ok:
        return "", ""
    hints = {
        "learning_rate": "start - (start - end) * step / total: 1.0, 0.91, 0.55, 0.109 for total = 100.",
        "sgd_step": "p.data -= lr * p.grad: move against the gradient.",
        "accuracy": "the fraction of points where (score > 0) == (y > 0).",
    }
    return Problem(f"{check.title}: expected {want}, got {have}", f"wrong {fn} result"), hints[fn]


def judge_trajectory(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    for k, (g, w) in enumerate(zip(got["losses"], exp["losses"])):
        if not close(g, w):
            return Problem(
                f"{check.title}: the loss at step {k}: expected {fmt(w)}, got {fmt(g)}",
                f"the loss trajectory leaves the reference's at step {k}",
            ), (
                "step 0 checks the loss (svm_loss + l2_penalty); later steps check backward, sgd_step and "
                "learning_rate(k, steps)."
            )
    if len(got["losses"]) != len(exp["losses"]):
        return Problem(f"{check.title}: wrong number of steps", "wrong number of steps"), ""
    return "", ""


def judge_fit(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    """Measure the student's trained weights here, with the reference model."""
    weights = got["weights"]
    if len(weights) != len(exp["weights"]) or not all(isinstance(w, float) and math.isfinite(w) for w in weights):
        return Problem(f"{check.title}: the trained weights are not finite numbers", "training diverged"), ""
    acc = trained_accuracy(check.probe, weights)
    if acc >= TRAIN_ACCURACY:
        return "", ""
    ref = trained_accuracy(check.probe, exp["weights"])
    return Problem(
        f"{check.title}: the trained model reaches {acc:.0%} accuracy (the reference: {ref:.0%})",
        f"training reaches only {acc:.0%} accuracy",
    ), "check the loss, the learning-rate schedule and that sgd_step moves against the gradient."


def trained_accuracy(probe: dict[str, Any], weights: list[float]) -> float:
    modules = reference_modules()
    Value, MLP = modules["engine"].Value, modules["nn"].MLP
    model = MLP(*probe["args"], **probe["kwargs"])
    for p, w in zip(model.parameters(), weights):
        p.data = w
    scores = [model([Value(v) for v in row]) for row in probe["X"]]
    return modules["train"].accuracy(scores, probe["y"])


JUDGES: dict[str, Callable[[Check, dict[str, Any], dict[str, Any]], tuple[str, str]]] = {
    "expr_forward": judge_expr_forward,
    "expr_backward": judge_expr_backward,
    "local": judge_local,
    "topo": judge_topo,
    "chain": judge_chain,
    "count": judge_count,
    "module": judge_module,
    "loss": judge_loss,
    "call": judge_call,
    "trajectory": judge_trajectory,
    "fit": judge_fit,
}
