"""The rubric against known-wrong code: single-line mutants of the reference's solutions."""

from __future__ import annotations

from grader.mutants import FILES, REFERENCE, equivalents, generate, grade_mutants, sample, summary, table

MUTANTS = generate()


def test_mutants_cover_every_task_and_compile() -> None:
    tasks = {m.task for m in MUTANTS}
    assert tasks == {"1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2", "4.1", "4.2", "4.3",
                     "5.1", "5.2"}  # fmt: skip
    assert len({m.id for m in MUTANTS}) == len(MUTANTS) > 150
    for m in MUTANTS[:: max(1, len(MUTANTS) // 20)]:
        text = (REFERENCE / m.file).read_text(encoding="utf-8")
        compile(m.apply(text), m.file, "exec")
        assert m.apply(text) != text and m.file in FILES


def test_mutant_ids_are_stable() -> None:
    assert [m.id for m in generate()] == [m.id for m in MUTANTS]


def test_equivalent_mutants_have_reasons_and_exist() -> None:
    ids = {m.id for m in MUTANTS}
    for mid, reason in equivalents().items():
        assert mid in ids, f"{mid} is listed as equivalent but the generator no longer makes it"
        assert len(reason) > 20, mid


def test_a_sample_of_mutants_loses_points_in_its_own_task() -> None:
    """A few mutants spread over the tasks, graded in the sandbox like a submission."""
    known = equivalents()
    picked = [m for m in sample(MUTANTS, 40) if m.id not in known][::5]
    graded = grade_mutants(picked, jobs=2)
    for g in graded:
        assert g.own > 0, f"{g.mutant.file}:{g.mutant.line} [{g.mutant.task}] {g.mutant.new.strip()}: lost {g.lost}"
    s = summary(graded)
    assert s["killed_in_own_task"] == len(picked)
    assert "| all |" in table(graded)
