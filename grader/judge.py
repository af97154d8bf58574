"""Decide each check in the grader's process and explain failures.

The child only returned numbers; here they are compared with the reference's
and PyTorch's answers (`oracle.expected`). Public checks explain everything:
inputs, expected vs got, a hint. Hidden checks say what kind of thing failed
and give the hint, never their inputs or expected values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from grader.oracle import close, reference_modules
from grader.rubric import OP_NAME, TRAIN_ACCURACY, Check, leaf_values, render
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
# The task that asks for each name a probe may need, for "'Value' object has no
# attribute 'tanh'" and friends: the feedback says where that name is written.
NAME_TASK = {
    "__add__": "1.1", "__radd__": "1.1", "__mul__": "1.1", "__rmul__": "1.1", "__neg__": "1.1",
    "__sub__": "1.1", "__rsub__": "1.1", "_prev": "1.1", "_op": "1.1", "data": "1.1", "grad": "2.1",
    "__pow__": "1.2", "__truediv__": "1.2", "__rtruediv__": "1.2",
    "exp": "1.3", "log": "1.3", "tanh": "1.4", "sigmoid": "1.4", "relu": "1.4",
    "_backward": "2.1", "_topo_order": "3.1", "backward": "3.2",
    "zero_grad": "4.1", "parameters": "4.1", "Neuron": "4.1", "activation": "4.1", "nonlin": "4.1",
    "Layer": "4.2", "MLP": "4.3", "Module": "4.1",
    "svm_loss": "5.1", "mse_loss": "5.1", "l2_penalty": "5.1",
    "learning_rate": "5.2", "sgd_step": "5.2", "accuracy": "5.2",
}  # fmt: skip
# A number written as a Python operator's left operand needs the reflected method.
REFLECTED = {"+": "__radd__", "-": "__rsub__", "*": "__rmul__", "/": "__rtruediv__", "** or pow()": "__pow__"}
SAFE_HIDDEN_ERRORS = ("AttributeError", "TypeError", "NameError", "ImportError", "ProbeError", "PermissionError")
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
        if isinstance(problem, Problem) and problem.hidden_detail:
            text += f"\n{problem.hidden_detail}"
    else:
        text = str(problem)
    if hint:
        text += f"\nhint: {hint}"
    credit = problem.credit if isinstance(problem, Problem) else 0.0
    return _fail(check, text, problem.kind if isinstance(problem, Problem) else "wrong result", credit)


def _fail(check: Check, text: str, diagnosis: str, credit: float = 0.0) -> Verdict:
    """A failed check; `credit` is the share of its cases that passed (partial credit)."""
    if check.depends_on:
        tasks = ", ".join(check.depends_on)
        text += f"\n(this check also runs your code of Tasks {tasks}: if one of those fails, fix it first)"
    return Verdict(False, text, round(check.points * max(0.0, min(credit, 1.0)), 2), diagnosis)


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
    """A public failure description that also knows its hidden-safe kind, the
    share of the check's cases that passed, and what a hidden check may add
    (where the student's code raised: never an input)."""

    kind: str
    credit: float
    hidden_detail: str

    def __new__(cls, text: str, kind: str, credit: float = 0.0, hidden_detail: str = "") -> Problem:
        obj = super().__new__(cls, text)
        obj.kind = kind
        obj.credit = credit
        obj.hidden_detail = hidden_detail
        return obj


def credit(passed: list[bool], trivial: list[bool]) -> float:
    """Partial credit: the share of cases that pass, but nothing unless a case
    whose answer a do-nothing implementation cannot give passes too (relu at
    -0.5 returns 0 whether or not relu exists)."""
    if not passed:
        return 0.0
    if any(trivial) and not any(p for p, t in zip(passed, trivial) if not t):
        return 0.0
    return sum(passed) / len(passed)


def _place(where: object) -> str:
    if not isinstance(where, dict):
        return ""
    place = f" at {where.get('file')}:{where.get('line')}"
    if where.get("function"):
        place += f" in {where.get('function')}()"
    if where.get("code"):
        place += f": `{where.get('code')}`"
    return place


def missing_name_hint(kind: str, message: str) -> str:
    """For a missing method, attribute or argument: which task asks for it."""
    name = ""
    found = re.search(r"has no attribute '(\w+)'|unexpected keyword argument '(\w+)'|name '(\w+)' is not defined"
                      r"|`(\w+)` is not defined", message)  # fmt: skip
    if found:
        name = next(g for g in found.groups() if g)
    else:
        operand = re.search(r"unsupported operand type\(s\) for ([^:]+): '(\w+)' and 'Value'", message)
        if operand and operand.group(2) in ("int", "float"):
            name = REFLECTED.get(operand.group(1).strip(), "")
    task = NAME_TASK.get(name)
    if not task or kind not in ("AttributeError", "TypeError", "NameError", "ProbeError"):
        return ""
    if name.startswith("__r"):
        return f"a number on the left (as in 2 / a) needs Value.{name} (Task {task})."
    if name in ("activation", "nonlin"):
        return f"Neuron, Layer and MLP take `{name}=` (Task {task}); Layer passes it on to its neurons."
    return f"`{name}` is defined in Task {task}; the grader looks for exactly that name."


def explain_error(err: dict[str, Any], hidden: bool) -> str:
    """One exception from the student's code, for the student. Hidden checks show
    the kind, the location and messages that cannot carry inputs, nothing else."""
    kind, message = str(err.get("type", "Error")), str(err.get("message", ""))
    place = _place(err.get("where"))
    if kind == "NotImplementedError":
        return f"not implemented yet: {message or 'NotImplementedError'}{place}"
    if kind == "skipped":
        return message
    safe = kind in SAFE_HIDDEN_ERRORS and not re.search(r"\d", message)
    shown = message if not hidden or safe else "(message hidden)"
    text = f"your code raised {kind}: {shown}{place}"
    hint = missing_name_hint(kind, message)
    if hint:
        text += f"\nhint: {hint}"
    return text


def explain_outcome(check: Check, outcome: Outcome) -> str:
    if outcome.status in ("timeout", "crashed", "skipped", "malformed"):
        return outcome.message
    err = outcome.error or {}
    kind, message = str(err.get("type", "Error")), str(err.get("message", ""))
    place = _place(err.get("where"))
    if outcome.status == "import_error":
        text = outcome.message or f"the package could not be imported: {kind}: {message}{place}"
        return (
            text
            if outcome.message
            else text + "\nhint: run `python -c 'import micrograd.engine, micrograd.nn'` to see it."
        )
    text = explain_error(err, check.hidden)
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
    """Forward values only, a share of the point per op node (the graph's
    structure is the task's separate structure check)."""
    program = check.probe["program"]
    names = render(program)
    errors = got.get("errors") or {}
    ops = [i for i, instr in enumerate(program) if instr[0] != "leaf"]
    wrong: list[int] = []
    for i in ops:
        g = got["data"][i]
        if str(i) in errors or not (close(g, exp["data"][i]) and close(g, exp["torch"]["data"][i])):
            wrong.append(i)
    leaves_bad = [i for i, instr in enumerate(program) if instr[0] == "leaf" and str(i) in errors]
    if leaves_bad:
        err = errors[str(leaves_bad[0])]
        return Problem(f"{check.title}: Value({program[leaves_bad[0]][1]!r}) failed: {explain_error(err, False)}",
                       "Value() fails", hidden_detail=explain_error(err, True)), ""  # fmt: skip
    if not wrong:
        return "", ""
    share = credit([i not in wrong for i in ops], [exp["data"][i] == 0 for i in ops])
    i = wrong[0]
    op = program[i][0]
    if str(i) in errors:
        err = errors[str(i)]
        line = f"  {names[i]}: {explain_error(err, False)}"
        kind = f"{OP_NAME.get(op, op)} raises {err.get('type')}"
        problem = Problem(f"{check.title}: with {leaf_values(program)}\n{line}", kind, share, explain_error(err, True))
        return problem, "" if "\nhint:" in line else (f"{FORWARD[op]}." if op in FORWARD else "")
    lines = [f"  {names[k]}: expected {fmt(exp['data'][k])}, got {fmt(got['data'][k])}" for k in wrong[:4]
             if str(k) not in errors]  # fmt: skip
    text = Problem(
        f"{check.title}: with {leaf_values(program)}\n" + "\n".join(lines),
        f"wrong forward value of {OP_NAME.get(op, op)}",
        share,
    )
    hint = f"{FORWARD[op]}." if op in FORWARD else "- a, a - b, 2 + a and friends are built on + and * (Task 1.1)."
    return text, hint


STRUCTURE_WHY = {
    "div": "division is a primitive with its own backward rule: Value(self.data / other.data, (self, other), '/'), "
    "so a / b is the exactly rounded quotient PyTorch computes and draws as one node (a * b**-1 gives the right "
    "values and gradients, which are graded separately, but not the graph this task asks for)",
    "tanh": "tanh is a primitive with its own backward rule, 1 - t**2 (built from exp it gives the right values "
    "and gradients, graded separately, but overflows for large |x| and is not the graph this task asks for)",
    "sigmoid": "sigmoid is a primitive with its own backward rule, s * (1 - s)",
}


def judge_structure(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    """Each op's node: the _op label and the children in order, a share of the point per op."""
    problems: list[tuple[str, str, str]] = []  # (text, kind, hint)
    cases = check.probe["cases"]
    for case, have, want in zip(cases, got["cases"], exp["cases"]):
        op = case["op"]
        expr = render([["leaf", x] for x in case["inputs"]] + [[op, *case["args"]]])[-1]
        inputs = ", ".join(f"{'abc'[i]}" for i in range(len(case["inputs"])))
        if "error" in have:
            problems.append((f"{expr}: {explain_error(have['error'], False)}", f"{OP_NAME[op]} raises", ""))
            continue
        kids = [("abc"[k] if k >= 0 else f"a new node holding {fmt(d)}") for k, d in
                zip(have["children"], have["children_data"])]  # fmt: skip
        want_kids = ["abc"[k] if k >= 0 else f"a node holding {fmt(d)}" for k, d in
                     zip(want["children"], want["children_data"])]  # fmt: skip
        if have["attr"] != "_prev":
            found = f"found `{have['attr']}` instead" if have["attr"] else "found no such attribute"
            problems.append((
                f"{expr}: the grader looks for the inputs in `_prev` ({found})",
                "the inputs are not in _prev",
                "keep the children in `self._prev` (Task 1.1): backward(), the topological order and the pictures "
                "follow `_prev`.",
            ))  # fmt: skip
        elif have["children"] != want["children"] or kids != want_kids:
            why = STRUCTURE_WHY.get(op, f"{OP_NAME[op]} is one node whose children are its inputs, in order")
            problems.append((
                f"{expr}: the result's _prev is ({', '.join(kids)}); expected ({', '.join(want_kids)})",
                f"{OP_NAME[op]} is not one node with its inputs as children",
                f"{why}. The inputs here: {inputs}.",
            ))  # fmt: skip
        elif have["op_label"] != want["op_label"]:
            problems.append((
                f"{expr}: the result's _op is {have['op_label']!r}; expected {want['op_label']!r}",
                f"wrong _op label of {OP_NAME[op]}",
                "the label names the operation in drawings of the graph and in error messages; use the one the "
                "task gives.",
            ))  # fmt: skip
    if not problems:
        return "", ""
    share = 1 - len(problems) / len(cases)
    text = f"{check.title}:\n" + "\n".join(f"  {t}" for t, _, _ in problems)
    hints = list(dict.fromkeys(h for _, _, h in problems if h))
    return Problem(text, problems[0][1], share), " ".join(hints)


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
    """Each case on its own (a point each): the grads after the rules between out
    and its inputs ran, against torch and the reference."""
    op = check.probe["op"]
    if len(got["cases"]) != len(exp["cases"]):
        return Problem(f"{check.title}: wrong number of results", "wrong number of results"), ""
    failures: list[tuple[Problem, str]] = []
    passed, trivial = [], []
    for case, have, want, truth in zip(check.probe["cases"], got["cases"], exp["cases"], exp["torch"]["cases"]):
        failure = _local_case(check, op, case, have, want, truth)
        passed.append(failure is None)
        trivial.append(all(close(p0, w) for p0, w in zip(case["pre"], want["grad"])))  # doing nothing is right
        if failure:
            failures.append(failure)
    if not failures:
        return "", ""
    n = len(check.probe["cases"])
    (first, hint), share = failures[0], credit(passed, trivial)
    if n > 1:
        text = f"{len(failures)} of {n} cases fail; the first:\n{first}"
        return Problem(text, first.kind, share, first.hidden_detail), hint
    return Problem(str(first), first.kind, share, first.hidden_detail), hint


def _local_case(
    check: Check, op: str, case: dict[str, Any], have: dict[str, Any], want: dict[str, Any], truth: dict[str, Any]
) -> tuple[Problem, str] | None:
    if "error" in have:
        err = have["error"]
        return Problem(f"{check.info['expr']}: {explain_error(err, False)}", f"{OP_NAME[op]} raises {err.get('type')}",
                       hidden_detail=explain_error(err, True)), ""  # fmt: skip
    if _compare(have["grad"], want["grad"], truth["grad"]) is None:
        return None
    names = "abcdefgh"
    expr = render([["leaf", x] for x in case["inputs"]] + [[op, *case["args"]]])[-1]
    inputs = ", ".join(f"{names[i]} = {x!r}" for i, x in enumerate(case["inputs"]))
    pre = ", ".join(f"{names[i]}.grad = {g!r}" for i, g in enumerate(case["pre"]))
    expect = ", ".join(f"{names[i]}.grad = {fmt(v)}" for i, v in enumerate(want["grad"]))
    result = ", ".join(f"{names[i]}.grad = {fmt(v)}" for i, v in enumerate(have["grad"]))
    unchanged = [names[i] for i, (h, p0) in enumerate(zip(have["grad"], case["pre"])) if h == p0]
    wrong = [i for i, (h, w) in enumerate(zip(have["grad"], want["grad"])) if not close(h, w)]
    note = ""
    if unchanged and set(wrong) <= {names.index(u) for u in unchanged}:
        note = f"\n  {', '.join(u + '.grad' for u in unchanged)} unchanged: the rule added nothing to it"
    text = Problem(
        f"local derivative of {expr} ({OP_NAME[op]}'s _backward)\n  inputs: {inputs}; "
        f"out.grad = {case['upstream']!r}; before _backward: {pre}\n  expected: {expect}\n  got:      {result}{note}",
        f"wrong local derivative of {OP_NAME[op]}",
        hidden_detail="the rule left a .grad unchanged." if note else "",
    )
    try:
        candidates = _local_candidates(op, case)
    except (ArithmeticError, ValueError):
        candidates = []
    for hint, candidate in candidates:
        if len(candidate) == len(have["grad"]) and all(close(a, b) for a, b in zip(have["grad"], candidate)):
            return text, hint
    if note:
        return text, f"the rule must add to the grad of every input: {DERIVATIVE[op]}."
    return text, DERIVATIVE[op] + "."


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
        ), (
            "the output is right, so some parameter is not part of the graph that computed it: build the output "
            "from the Value parameters themselves (not copies or their .data)."
        )
    return "", ""


def judge_zero_grad(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    """Only what zero_grad() does: the other checks never call it."""
    zeroed = got["zeroed"]
    if len(zeroed) == len(exp["zeroed"]) and all(v == 0 for v in zeroed):
        return "", ""
    left = sum(1 for v in zeroed if v != 0)
    return Problem(f"{check.title}: {left} of {len(zeroed)} grads are not 0 after zero_grad()",
                   "zero_grad() leaves gradients"), "set p.grad = 0 for every p in self.parameters()."  # fmt: skip


def judge_init(check: Check, got: dict[str, Any], exp: dict[str, Any]) -> tuple[str, str]:
    """The initialisation the task asks for: the same random draws, in order, and a zero bias."""
    have, want = got["init"], exp["init"]
    if len(have) == len(want) and all(close(h, w) for h, w in zip(have, want)):
        return "", ""
    shown = ", ".join(fmt(v) for v in have)
    expect = ", ".join(fmt(v) for v in want)
    return Problem(f"{check.title}: parameters() holds [{shown}]; expected [{expect}]", "wrong initialisation"), (
        "draw each weight with random.uniform(-1, 1), in order, and start the bias at Value(0.0): a course "
        "seeds `random` to make results reproducible."
    )


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
                "the grader builds the demo's loss itself (svm_loss and l2_penalty are graded in Task 5.1); "
                "the steps check sgd_step (p.data -= lr * p.grad) and learning_rate(k, steps)."
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
    "zero_grad": judge_zero_grad,
    "init": judge_init,
    "structure": judge_structure,
    "loss": judge_loss,
    "call": judge_call,
    "trajectory": judge_trajectory,
    "fit": judge_fit,
}
