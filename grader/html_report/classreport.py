"""REPORTS/class-report.html: how the class did, and the mistakes behind it.

The score distribution, the pass rate of every task and every check, and the
mistakes clustered by the judge's diagnosis, each with its count, its share of
the class and the students who made it, linked to their feedback.html. This
page is the instructor's: it names hidden checks (never their inputs).
"""

from __future__ import annotations

import statistics
from urllib.parse import quote

from grader.html_report.curves import svg_of_figure
from grader.html_report.feedback import FEEDBACK_HTML
from grader.html_report.mistakes import clusters
from grader.html_report.page import bar, esc, fmt_points, page, table
from grader.report import STUDENTS
from grader.tasks import TASKS
from grader.types import Mistake, SubmissionResult


def student_link(student: str) -> str:
    return f'<a href="{STUDENTS}/{quote(student)}/{FEEDBACK_HTML}">{esc(student)}</a>'


def distribution_svg(totals: list[float], top: float) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.8))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.18, top=0.88)
    ax = fig.add_subplot()
    bins = max(5, min(20, int(top // 5) or 5))
    ax.hist(totals, bins=bins, range=(0, top or 1), color="#0969da", edgecolor="white")
    ax.set(xlabel=f"total points (of {fmt_points(top)})", ylabel="students", title="Score distribution")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    return svg_of_figure(fig)


def distribution(results: list[SubmissionResult]) -> str:
    totals = [r.total for r in results]
    top = max((r.max_score for r in results), default=0.0)
    stats = (f"{len(results)} students · mean {statistics.fmean(totals):.1f} · median {statistics.median(totals):g} · "
             f"min {min(totals):g} · max {max(totals):g} (of {fmt_points(top)})")  # fmt: skip
    rows = [[student_link(r.student), f"{fmt_points(r.total)} / {fmt_points(r.max_score)}",
             bar(r.total / r.max_score if r.max_score else 0.0)]
            for r in sorted(results, key=lambda r: (-r.total, r.student))]  # fmt: skip
    return (f"<h2>Score distribution</h2><p>{esc(stats)}</p>"
            f'<figure><div class="fit">{distribution_svg(totals, top)}</div></figure>'
            f"<details><summary>Every student's total</summary>{table(['student', 'points', ''], rows, numeric=[1])}"
            "</details>")  # fmt: skip


def task_rates(results: list[SubmissionResult]) -> str:
    rows = []
    for task, title in TASKS.items():
        scores = [r.task_scores[task] for r in results if task in r.task_scores]
        if not scores:
            continue
        full = sum(s == m for s, m in scores) / len(scores)
        mean = sum(s / m for s, m in scores) / len(scores)
        rows.append([esc(task), f'<span class="wide">{esc(title)}</span>', f"{full:.0%}", f"{mean:.0%}",
                     bar(full)])  # fmt: skip
    headers = ["task", '<span class="wide">what</span>', "full marks", "mean points", ""]
    return "<h2>Pass rate per task</h2>" + table(headers, rows, numeric=[2, 3])


def check_rates(results: list[SubmissionResult]) -> str:
    order: dict[str, str] = {}
    passed: dict[str, int] = {}
    graded: dict[str, int] = {}
    for r in results:
        for c in r.checks:
            order.setdefault(c.id, c.name)
            graded[c.id] = graded.get(c.id, 0) + 1
            passed[c.id] = passed.get(c.id, 0) + (c.status == "passed")
    rows = []
    for cid, name in order.items():
        rate = passed[cid] / graded[cid]
        rows.append([f"<code>{esc(cid)}</code>", f'<span class="wide">{esc(name)}</span>',
                     f"{passed[cid]}/{graded[cid]}", bar(rate)])  # fmt: skip
    headers = ["check", '<span class="wide">title</span>', "passed", ""]
    return (f"<h2>Pass rate per check</h2><details><summary>Every check of the rubric ({len(rows)})</summary>"
            f"{table(headers, rows, numeric=[2])}</details>")  # fmt: skip


def mistake_card(m: Mistake) -> str:
    links = " ".join(student_link(s) for s in m.students)
    checks = table(
        ["check", "students"],
        [[f"<code>{esc(cid)}</code>", " ".join(student_link(s) for s in who)] for cid, who in m.checks.items()],
    )
    hints = "".join(f'<div class="hint">{esc(h)} <span class="badge">{n}×</span></div>' for h, n in m.hints.items())
    return (f'<div class="card failed"><h3>{esc(m.diagnosis)}</h3>'
            f"<div><b>{m.count}</b> student{'s' if m.count != 1 else ''} ({m.share:.0%} of the class) · "
            f"tasks {esc(', '.join(m.tasks))}</div>"
            f'<div class="students">{links}</div>{hints}'
            f"<details><summary>Which checks ({len(m.checks)})</summary>{checks}</details></div>")  # fmt: skip


def class_report_html(results: list[SubmissionResult]) -> str:
    results = sorted(results, key=lambda r: r.student)
    body = ["<h1>Class report</h1>"]
    if not results:
        body.append("<p>No submissions were graded.</p>")
        return page("Class report", "\n".join(body))
    found = clusters(results)
    body.append(distribution(results))
    body.append(task_rates(results))
    body.append(check_rates(results))
    body.append(f"<h2>Common mistakes ({len(found)})</h2><p class=lead>Failing checks clustered by the judge's "
                "diagnosis, the most common first; the same list is in common-mistakes.csv. Checks not run because "
                "an earlier probe looped or crashed count under that loop or crash.</p>")  # fmt: skip
    body.extend(mistake_card(m) for m in found)
    return page("Class report", "\n".join(body))
