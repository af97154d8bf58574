"""The judges' diagnoses: a wrong answer of a known shape gets the hint that explains it."""

from __future__ import annotations

import math
import re
from types import ModuleType
from typing import Any

import pytest

from grader.child.probes import Api, error_info, run_probe
from grader.judge import judge
from grader.oracle import REFERENCE, expected
from grader.rubric import Check, build
from grader.types import Outcome, Verdict

CHECKS = {c.id: c for c in build(0)}


def local_check(op: str, hidden: bool = False) -> Check:
    kind = "hidden" if hidden else "public"
    return next(c for c in CHECKS.values() if c.judge == "local" and c.probe["op"] == op and f"/{kind}/" in c.id)


def answer(check: Check, grads: list[float]) -> dict[str, Any]:
    """The right forward values with the given gradients for the first case."""
    exp = expected(check.probe)
    cases = [dict(case) for case in exp["cases"]]
    cases[0] = {"data": cases[0]["data"], "grad": grads}
    return {"cases": cases}


def verdict(check: Check, result: dict[str, Any]) -> Verdict:
    return judge(check, Outcome("ok", result=result), expected(check.probe))


def case(check: Check) -> dict[str, Any]:
    return check.probe["cases"][0]


def test_swapped_product_rule_gets_the_issue_s_hint() -> None:
    check = local_check("mul")
    c = case(check)
    (a, b), g, (pa, pb) = c["inputs"], c["upstream"], c["pre"]
    v = verdict(check, answer(check, [pa + a * g, pb + b * g]))
    assert not v.passed
    assert "d(a*b)/da came back as a.data; it should be b.data" in v.output
    assert "a = 2.0, b = -3.0" in v.output and "expected: a.grad =" in v.output


@pytest.mark.parametrize(
    ("op", "wrong", "hint"),
    [
        ("tanh", lambda x, g, p: [p + (1 - x * x) * g], "1 - t**2, not 1 - x**2"),
        ("exp", lambda x, g, p: [p + x * g], "use out.data"),
        ("sigmoid", lambda x, g, p: [p + g / (1 + math.exp(-x))], "s * (1 - s)"),
        ("log", lambda x, g, p: [p + 1 / x], "multiply the local derivative by out.grad"),
        ("log", lambda x, g, p: [g / x], "accumulate with +="),
        ("log", lambda x, g, p: [p - g / x], "the sign is flipped"),
    ],
)
def test_common_mistakes_are_named(op: str, wrong: Any, hint: str) -> None:
    check = local_check(op)
    c = case(check)
    v = verdict(check, answer(check, wrong(c["inputs"][0], c["upstream"], c["pre"][0])))
    assert not v.passed and hint in v.output, v.output


def test_relu_inverted_is_named_and_doing_nothing_is_not_enough() -> None:
    check = local_check("relu")
    exp = expected(check.probe)
    # Doing nothing is right for x < 0 and x = 0, but not for x > 0.
    pairs = list(zip(exp["cases"], check.probe["cases"]))
    nothing = {"cases": [{"data": e["data"], "grad": list(c["pre"])} for e, c in pairs]}
    assert not verdict(check, nothing).passed
    inverted = {"cases": [{"data": e["data"], "grad": [c["pre"][0] + (c["inputs"][0] <= 0) * c["upstream"]]}
                          for e, c in pairs]}  # fmt: skip
    v = verdict(check, inverted)
    assert not v.passed and "x > 0 and 0 elsewhere" in v.output


def test_hidden_failure_names_the_kind_never_the_numbers() -> None:
    check = local_check("mul", hidden=True)
    c = case(check)
    v = verdict(check, answer(check, [c["pre"][0] + 1.0, c["pre"][1]]))
    assert not v.passed
    assert v.output.startswith("hidden check failed: wrong local derivative of multiplication")
    for x in [*c["inputs"], c["upstream"], *c["pre"]]:
        assert repr(x) not in v.output


def test_right_answer_passes_and_a_wrong_shape_fails_cleanly() -> None:
    check = CHECKS["3.2/public/seed-relu"]
    exp = expected(check.probe)
    good = {"data": exp["data"], "children": [], "grad": exp["grad"]}
    assert verdict(check, good).passed
    assert verdict(check, {"grad": None}).output.startswith("the results came back in an unexpected shape")


def test_errors_from_student_code_are_explained() -> None:
    check = CHECKS["3.1/public/chain"]
    err = {"type": "RecursionError", "message": "maximum recursion depth exceeded", "where": None}
    v = judge(check, Outcome("error", error=err), None)
    assert "RecursionError" in v.output and "explicit stack" in v.output


def test_seed_expression_golden_values() -> None:
    exp = expected(CHECKS["3.2/public/seed-relu"].probe)
    assert math.isclose(exp["data"][-1], 24.70408163265306, rel_tol=1e-12)
    assert math.isclose(exp["grad"][0], 138.83381924198252, rel_tol=1e-12)
    assert math.isclose(exp["grad"][1], 645.5772594752186, rel_tol=1e-12)


# ------------------------------------------------- variants of the reference, run in-process


def engine_variant(old: str, new: str) -> ModuleType:
    """The reference engine with one text edit, loaded under a name of its own."""
    text = (REFERENCE / "engine.py").read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    module = ModuleType(f"engine_variant_{abs(hash(new))}")
    exec(compile(text.replace(old, new), "micrograd/engine.py", "exec"), module.__dict__)
    return module


def grade_in_process(engine: ModuleType, tasks: set[str]) -> dict[str, Verdict]:
    """Public and hidden checks of `tasks` on `engine`'s Value, judged as the grader does."""
    api = Api({"Value": engine.Value})
    verdicts = {}
    for c in build(0, tasks=tasks):
        try:
            outcome = Outcome("ok", result=run_probe(api, c.probe))
        except Exception as exc:
            outcome = Outcome("error", error=error_info(exc))
        verdicts[c.id] = judge(c, outcome, expected(c.probe) if outcome.status == "ok" else None)
    return verdicts


COMPOSITE_DIV = (
    '        out = Value(self.data / other.data, (self, other), "/")\n',
    '        return self * other**-1\n        out = None\n',
)
TANH_FROM_EXP = (
    '        out = Value(math.tanh(self.data), (self,), "tanh")\n',
    "        e = (self * 2).exp()\n        return (e - 1) / (e + 1)\n        out = None\n",
)


@pytest.mark.parametrize(("edit", "structure"), [(COMPOSITE_DIV, "1.2/public/structure"),
                                                 (TANH_FROM_EXP, "1.4/public/structure")])  # fmt: skip
def test_composite_ops_lose_only_the_structure_point(edit: tuple[str, str], structure: str) -> None:
    verdicts = grade_in_process(engine_variant(*edit), {"1.2", "1.4", "2.2", "2.4", "3.2"})
    failed = {cid: v for cid, v in verdicts.items() if not v.passed}
    assert set(failed) == {structure}, {k: v.output for k, v in failed.items()}
    v = failed[structure]
    assert 0 < v.score < 1 and "primitive" in v.output and "graded separately" in v.output
    assert "derivative" not in v.output.split("hint:")[0]


def test_renamed_prev_costs_only_the_structure_checks() -> None:
    src = (REFERENCE / "engine.py").read_text(encoding="utf-8")
    engine = ModuleType("engine_renamed")
    exec(compile(re.sub(r"\b_prev\b", "_children", src), "micrograd/engine.py", "exec"), engine.__dict__)
    verdicts = grade_in_process(engine, {"1.1", "1.2", "2.1", "2.2"})
    failed = {cid: v for cid, v in verdicts.items() if not v.passed}
    assert set(failed) == {"1.1/public/structure", "1.2/public/structure"}, failed
    assert "found `_children` instead" in failed["1.1/public/structure"].output


def test_missing_sigmoid_names_its_task_and_costs_no_section_3_point() -> None:
    engine = engine_variant("    def sigmoid(self) -> Value:", "    def _no_sigmoid(self) -> Value:")
    verdicts = grade_in_process(engine, {"1.4", "2.4", "3.1", "3.2"})
    failed = {cid: v for cid, v in verdicts.items() if not v.passed}
    assert failed and all(cid.startswith(("1.4", "2.4")) for cid in failed), sorted(failed)
    public = [v for cid, v in failed.items() if "/public/" in cid]
    assert all("Task 1.4" in v.output for v in public), [v.output for v in public]
    # partial credit: tanh and relu still count in the structure check
    assert verdicts["1.4/public/structure"].score == pytest.approx(0.67)


def test_relu_threshold_at_one_fails_the_public_check() -> None:
    engine = engine_variant('out = Value(self.data if self.data > 0 else 0.0, (self,), "ReLU")',
                            'out = Value(self.data if self.data > 1 else 0.0, (self,), "ReLU")')  # fmt: skip
    verdicts = grade_in_process(engine, {"1.4"})
    relu = next(v for cid, v in verdicts.items() if "/public/" in cid and not v.passed)
    # x = -0.5 and x = 0 give 0 whatever relu does: no credit while x = 0.5 fails
    assert relu.score == 0 and "relu" in relu.output


def test_relu_rule_wrong_only_at_zero_costs_one_case_of_three() -> None:
    engine = engine_variant("            if out.data > 0:\n                self.grad += out.grad",
                            "            if self.data >= 0:\n                self.grad += out.grad")  # fmt: skip
    v = grade_in_process(engine, {"2.4"})["2.4/public/relu-10"]
    assert not v.passed and v.score == pytest.approx(2.0) and "1 of 3 cases fail" in v.output


def test_sigmoid_without_overflow_guard_costs_one_case() -> None:
    engine = engine_variant("        if x >= 0:\n", "        if True:\n")
    failed = {cid: v for cid, v in grade_in_process(engine, {"1.4"}).items() if not v.passed}
    assert list(failed) == ["1.4/public/2"], failed
    assert failed["1.4/public/2"].score == 0.5 and "OverflowError" in failed["1.4/public/2"].output


def test_rule_that_changes_nothing_says_unchanged() -> None:
    engine = engine_variant("            self.grad += out.data * out.grad\n", "            pass\n")
    v = grade_in_process(engine, {"2.3"})["2.3/public/exp-6"]
    assert not v.passed and "a.grad unchanged" in v.output


def test_hidden_titles_carry_no_inputs() -> None:
    for seed in range(5):
        for c in build(seed):
            if c.hidden:
                assert not re.search(r"\d\.\d", c.title), c.title
                assert c.title == next(h for h in build(seed + 1) if h.id == c.id).title


def test_hidden_type_error_shows_the_name_and_the_task_not_inputs() -> None:
    check = CHECKS["4.1/hidden/tanh"]
    err = {"type": "TypeError", "message": "Neuron.__init__() got an unexpected keyword argument 'activation'",
           "where": {"file": "micrograd/nn.py", "line": 3, "function": "__init__"}}  # fmt: skip
    v = judge(check, Outcome("error", error=err), None)
    assert "activation" in v.output and "Task 4.1" in v.output and "micrograd/nn.py:3" in v.output
    err = {"type": "ValueError", "message": "bad input 0.4821", "where": None}
    assert "0.4821" not in judge(check, Outcome("error", error=err), None).output


def test_no_probe_calls_zero_grad_but_its_own_check() -> None:
    for c in build(0):
        calls = c.probe.get("zero_grad") or c.judge == "zero_grad"
        assert bool(calls) == (c.id == "4.1/public/zero_grad"), c.id


def test_section_3_graphs_use_only_add_and_mul_besides_the_integration_checks() -> None:
    for c in build(1, tasks={"3.1", "3.2"}):
        if c.integration or "program" not in c.probe:
            continue
        ops = {instr[0] for instr in c.probe["program"]}
        assert ops <= {"leaf", "add", "mul"}, (c.id, ops)


def test_a_broken_topological_sort_costs_section_3_2_only_its_integration_checks() -> None:
    engine = engine_variant("                order.append(stack.pop())\n", "                stack.pop()\n")
    failed = {cid for cid, v in grade_in_process(engine, {"3.1", "3.2"}).items() if not v.passed}
    integration = {c.id for c in build(0, tasks={"3.2"}) if c.integration}
    assert failed and failed <= {c.id for c in build(0, tasks={"3.1"})} | integration, failed
    assert integration <= failed


def test_training_trajectory_does_not_charge_the_losses_again() -> None:
    check = CHECKS["5.2/public/trajectory"]
    assert check.probe.get("own_loss") and check.depends_on == ()
