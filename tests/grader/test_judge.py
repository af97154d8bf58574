"""The judges' diagnoses: a wrong answer of a known shape gets the hint that explains it."""

from __future__ import annotations

import math
from typing import Any

import pytest

from grader.judge import judge
from grader.oracle import expected
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
