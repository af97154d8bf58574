"""The class's common mistakes: failing checks clustered by the judge's diagnosis.

The judge names each mistake the same way for every student ("wrong local
derivative of tanh", "an endless loop (timeout)", "the package does not
import (SyntaxError)"); a cluster is every student with a failing check of that
name, whatever the task. Checks that were not run because an earlier probe of
the same child looped or crashed are not a mistake of their own: the loop is.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict

from grader.html_report.page import split_hint
from grader.types import Mistake, SubmissionResult

NOT_MISTAKES = {"", "not run"}
CSV_COLUMNS = ["task", "check", "check_name", "diagnosis", "count", "share", "students", "hint"]


def cluster_name(diagnosis: str) -> str:
    """The diagnosis with its numbers as N: "...at step 1" and "...at step 3" are one mistake."""
    return re.sub(r"\d+(?:\.\d+)?", "N", diagnosis.strip())


def clusters(results: list[SubmissionResult]) -> list[Mistake]:
    """Every mistake the class made, the most common first."""
    students: dict[str, set[str]] = defaultdict(set)
    checks: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    hints: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        for c in r.checks:
            name = cluster_name(c.diagnosis)
            if c.status != "failed" or name in NOT_MISTAKES:
                continue
            students[name].add(r.student)
            checks[name][c.id].add(r.student)
            hint = split_hint(c.output)[1]
            if hint:
                hints[name][hint] += 1
    size = len(results)
    found = []
    for name, who in students.items():
        per_check = {cid: sorted(s) for cid, s in checks[name].items()}
        found.append(Mistake(name, sorted(who), per_check, dict(hints[name].most_common()), size))
    return sorted(found, key=lambda m: (-m.count, m.tasks[0] if m.tasks else "", m.diagnosis))


def top_mistakes(results: list[SubmissionResult], n: int = 5) -> list[Mistake]:
    """The `n` mistakes made by the most students (for the terminal summary)."""
    return clusters(results)[:n]


def mistakes_csv(results: list[SubmissionResult]) -> str:
    """common-mistakes.csv: a row per (check, diagnosis), the most common mistakes first;
    `hint` is the hint those failures gave most often."""
    names: dict[str, str] = {}
    hints: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in results:
        for c in r.checks:
            names.setdefault(c.id, c.name)
            if c.status == "failed":
                hints[c.id, cluster_name(c.diagnosis)][split_hint(c.output)[1]] += 1
    order = {cid: k for k, cid in enumerate(names)}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in clusters(results):
        for cid, who in sorted(m.checks.items(), key=lambda item: (-len(item[1]), order[item[0]])):
            share = len(who) / m.class_size if m.class_size else 0.0
            hint = hints[cid, m.diagnosis].most_common(1)[0][0] if hints[cid, m.diagnosis] else ""
            writer.writerow([cid.split("/")[0], cid, names[cid], m.diagnosis, len(who), f"{share:.3f}",
                             " ".join(who), hint])  # fmt: skip
    return buffer.getvalue()


def mistakes_table(mistakes: list[Mistake]) -> object:
    """The top mistakes as a rich Table, for the terminal summary after grading."""
    from rich.table import Table

    table = Table(title="Most common mistakes (REPORTS/class-report.html has them all)")
    for col, justify in (("mistake", "left"), ("tasks", "left"), ("students", "right"), ("who", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for m in mistakes:
        who = ", ".join(m.students[:6]) + (f" +{m.count - 6}" if m.count > 6 else "")
        table.add_row(m.diagnosis, " ".join(m.tasks), f"{m.count} ({m.share:.0%})", who)
    return table
