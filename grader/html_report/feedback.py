"""REPORTS/<student>/feedback.html: the per-student page.

The score per task at a glance; then what the student's training did (their
loss curve against the reference's, the decision boundary of their trained
model); then every failing check with its message and hint, and for a failing
public check a picture of the student's own numbers: the computation graph
of the probe with the wrong gradients highlighted, or a table of the numbers
that differ. A hidden check shows its message only: no inputs, no pictures
(its evidence is None by construction, and this page checks visibility too).
"""

from __future__ import annotations

from typing import Any

from grader.html_report.curves import decision_boundary, loss_curves
from grader.html_report.graph import Graph, dot_source, expr_graph, graph_html, local_graphs, svgs_of
from grader.html_report.page import bar, esc, fmt_number, fmt_points, numbers, page, split_hint, table
from grader.oracle import close
from grader.rubric import TOLERANCE
from grader.tasks import TASKS
from grader.types import CheckResult, SubmissionResult

FEEDBACK_HTML = "feedback.html"
LEGEND = (
    "Your graph for this probe, drawn from the numbers your code returned: a box per value (data, grad), an "
    "oval per operation. Red boxes: the gradient (or data) differs from the reference's, whose value is shown "
    "under yours. A red oval marks the operation where, walking back from the root, a gradient first goes wrong."
)
EXPR_CAPTION = "The root is at the bottom; backward() walks from it up to the inputs."
LOCAL_CAPTION = "Case {k}: only out._backward() ran, with out.grad as shown and the inputs' grads at `grad before`."


def public(check: CheckResult) -> bool:
    return check.visibility == "visible" and check.evidence is not None


def score_table(result: SubmissionResult) -> str:
    rows = []
    for task, (score, top) in result.task_scores.items():
        mark = '<span class="ok">✔</span>' if score == top else '<span class="bad">✘</span>'
        rows.append([f"{mark} {esc(task)}", f'<span class="wide">{esc(TASKS[task])}</span>',
                     f"{fmt_points(score)} / {fmt_points(top)}", bar(score / top if top else 0.0)])  # fmt: skip
    return table(["task", '<span class="wide">what</span>', "points", ""], rows, numeric=[2])


def training_section(result: SubmissionResult) -> str:
    """The public training checks, passed or failed: curves and the boundary."""
    parts = []
    for check in result.checks:
        if not public(check) or check.evidence["probe"].get("kind") != "train":
            continue
        probe, got, want = check.evidence["probe"], check.evidence["result"], check.evidence["expected"]
        yours, reference = numbers(got.get("losses")), numbers(want.get("losses"))
        figures = []
        if len(reference) < 10:  # a short trajectory reads better as numbers
            figures.append(trajectory_table(got, want))
        elif yours and reference:
            figures.append(
                f'<figure><div class="fit">{loss_curves(yours, reference, f"Loss over {len(reference)} steps")}'
                "</div><figcaption>Your loss at every step (<span class=bad>red, dots</span>) and the reference's "
                "from the same start (<span class=ok>thick green</span>). They should lie on top of each other."
                "</figcaption></figure>"
            )
        if len(yours) >= 10:
            drawn = decision_boundary(probe, numbers(got.get("weights")), "Your trained model")
            if drawn:
                svg, accuracy = drawn
                figures.append(
                    f'<figure><div class="fit">{svg}</div><figcaption>Where your trained model says +1 (blue area) '
                    f"and -1 (orange area), with the moons it trained on (blue dots: +1, red dots: -1; a cross is "
                    f"on the wrong side): {accuracy:.0%} of the points on the right side.</figcaption></figure>"
                )
            else:
                figures.append("<p>Your trained weights are not finite numbers, so there is no boundary to draw.</p>")
        status = '<span class="ok">passed</span>' if check.status == "passed" else '<span class="bad">failed</span>'
        parts.append(f'<div class="card {check.status}"><h3>{esc(check.name)} — {status}</h3>'
                     f'<div class="pictures">{"".join(figures)}</div></div>')  # fmt: skip
    return "<h2>Your training</h2>" + "".join(parts) if parts else ""


def differing_numbers(got: dict[str, Any], want: dict[str, Any], limit: int = 12) -> str:
    """The numbers of a public check that differ from the expected ones, as a table."""
    rows = []
    for key, expected in want.items():
        if key not in got or key in ("torch", "node_grad", "children"):
            continue
        have = got[key]
        pairs = zip(have, expected) if isinstance(expected, list) and isinstance(have, list) else [(have, expected)]
        for i, (g, w) in enumerate(pairs):
            if isinstance(w, (int, float)) and not isinstance(w, bool) and not close(g, w):
                name = f"{key}[{i}]" if isinstance(expected, list) else key
                rows.append([esc(name), esc(fmt_number(w)), esc(fmt_number(g))])
    if not rows:
        return ""
    more = f"<p>… and {len(rows) - limit} more.</p>" if len(rows) > limit else ""
    shown = table(["value", "expected", "yours"], rows[:limit], numeric=[1, 2])
    return f"<p>The numbers that differ:</p>{shown}{more}"


def graphs_of(check: CheckResult) -> list[tuple[Graph, str]]:
    """The computation graphs to draw for a failing public check, with their captions."""
    if not public(check):
        return []
    probe, got, want = check.evidence["probe"], check.evidence["result"], check.evidence["expected"]
    if probe.get("kind") == "expr":
        graph = expr_graph(probe, got, want)
        return [(graph, EXPR_CAPTION)] if graph and graph.any_wrong else []
    if probe.get("kind") == "local":
        return [(g, LOCAL_CAPTION.format(k=k + 1)) for k, g in local_graphs(probe, got, want)]
    return []


def trajectory_table(got: dict[str, Any], want: dict[str, Any]) -> str:
    """The loss at each step of a short trajectory: the reference's and the student's."""
    yours, reference = got.get("losses"), numbers(want.get("losses"))
    yours = yours if isinstance(yours, list) else []
    rows, classes = [], []
    for k, w in enumerate(reference):
        g = yours[k] if k < len(yours) else None
        rows.append([str(k), esc(fmt_number(w)), esc(fmt_number(g) if g is not None else "missing")])
        classes.append("" if g is not None and close(g, w) else "wrong")
    return "<p>The loss at each step:</p>" + table(["step", "reference", "yours"], rows, numeric=[1, 2],
                                                    row_classes=classes)  # fmt: skip


def picture(check: CheckResult, drawn: list[str]) -> str:
    """What to show below a failing public check's message: its graphs (already
    drawn), or the numbers that differ."""
    if not public(check):
        return ""
    if drawn:
        return f'<p class="lead">{esc(LEGEND)}</p>' + "".join(drawn)
    probe, got, want = check.evidence["probe"], check.evidence["result"], check.evidence["expected"]
    if probe.get("kind") == "train":
        return trajectory_table(got, want) if len(numbers(want.get("losses"))) < 10 else ""
    return differing_numbers(got, want)


def check_card(check: CheckResult, drawn: list[str]) -> str:
    text, hint = split_hint(check.output)
    hidden = check.visibility != "visible"
    badge = '<span class="badge">hidden check</span>' if hidden else ""
    points = f"{fmt_points(check.score)} / {fmt_points(check.max_score)}"
    return (
        f'<div class="card failed" id="{esc(check.id)}"><h3>{esc(check.name)}{badge}</h3>'
        f"<div>{esc(points)} points · <code>{esc(check.id)}</code></div>"
        f"<pre>{esc(text)}</pre>" + (f'<div class="hint">{esc(hint)}</div>' if hint else "")
        + picture(check, drawn) + "</div>"
    )


def same_failure_card(checks: list[CheckResult]) -> str:
    """Checks that failed with the very same message (a package that does not import,
    a function not written yet): the message once, the checks folded below it."""
    text, hint = split_hint(checks[0].output)
    lost = sum(c.max_score for c in checks)
    rows = [[f"<code>{esc(c.id)}</code>", esc(c.name), f"0 / {fmt_points(c.max_score)}"] for c in checks]
    tasks = ", ".join(dict.fromkeys(c.task for c in checks))
    return (f'<div class="card failed" id="{esc(checks[0].id)}"><h3>{len(checks)} checks failed the same way</h3>'
            f"<div>0 / {fmt_points(lost)} points · tasks {esc(tasks)}</div><pre>{esc(text)}</pre>"
            + (f'<div class="hint">{esc(hint)}</div>' if hint else "")
            + f"<details><summary>Which checks</summary>{table(['check', 'name', 'points'], rows, numeric=[2])}"
            "</details></div>")  # fmt: skip


def failing_cards(failing: list[CheckResult], drawn: dict[str, list[str]]) -> list[str]:
    """A card per failing check, except that checks without a picture that failed
    with the same message share one, and checks not run share one at the end."""
    groups: dict[str, list[CheckResult]] = {}
    for c in failing:
        if c.diagnosis == "not run":
            continue
        key = c.id if drawn.get(c.id) or public(c) else f"same:{c.output}"
        groups.setdefault(key, []).append(c)
    cards = [check_card(g[0], drawn.get(g[0].id, [])) if len(g) == 1 else same_failure_card(g)
             for g in groups.values()]  # fmt: skip
    skipped = [c for c in failing if c.diagnosis == "not run"]
    if skipped:
        cards.append(not_run_card(skipped))
    return cards


def in_short(failing: list[CheckResult]) -> str:
    """One line per mistake (the judge's diagnosis) with the tasks it costs, the
    first thing a student reads; an endless loop says where it never ended."""
    by_diagnosis: dict[str, list[CheckResult]] = {}
    for c in failing:
        by_diagnosis.setdefault(c.diagnosis or "failed", []).append(c)
    items = []
    for diagnosis, checks in by_diagnosis.items():
        if diagnosis == "not run":
            continue
        tasks = ", ".join(dict.fromkeys(c.task for c in checks))
        count = f"{len(checks)} check{'s' if len(checks) > 1 else ''}"
        if "timeout" in diagnosis:
            first = checks[0]
            items.append(f"<li><b>Your code never finished</b> in Task {esc(first.task)} ({esc(TASKS[first.task])}): "
                         f"an endless loop? It first hung on “{esc(first.name)}” ({count} timed out, tasks "
                         f"{esc(tasks)}).</li>")  # fmt: skip
        else:
            items.append(f"<li><b>{esc(diagnosis)}</b> — tasks {esc(tasks)} ({count})</li>")
    skipped = by_diagnosis.get("not run", [])
    if skipped:
        items.append(f"<li>{len(skipped)} check{'s were' if len(skipped) > 1 else ' was'} not run: an earlier probe in "
                     "the same group looped or crashed, and they would have run after it.</li>")  # fmt: skip
    return "<h2>In short</h2><ul>" + "".join(items) + "</ul>" if items else ""


def not_run_card(checks: list[CheckResult]) -> str:
    """The checks that never ran, in one card rather than one each."""
    rows = [[f"<code>{esc(c.id)}</code>", esc(c.name), f"0 / {fmt_points(c.max_score)}"] for c in checks]
    return (f'<div class="card failed"><h3>{len(checks)} checks not run</h3><p>An earlier probe in their group '
            "looped or crashed (see above), so these were not run; they cost their points until it is fixed.</p>"
            f"<details><summary>Which checks</summary>{table(['check', 'name', 'points'], rows, numeric=[2])}"
            "</details></div>")  # fmt: skip


def feedback_html(result: SubmissionResult) -> str:
    """The whole page for one student."""
    failing = [c for c in result.checks if c.status == "failed"]
    hidden_failing = [c for c in failing if c.visibility != "visible"]
    body = [f"<h1>Feedback for {esc(result.student)}</h1>",
            f'<div class="score">{fmt_points(result.total)} / {fmt_points(result.max_score)}</div>']  # fmt: skip
    if not failing:
        body.append('<p class="lead">Every check passed, the hidden ones included.</p>')
    elif len(hidden_failing) == len(failing):
        body.append('<p class="lead">All public checks passed, but hidden checks did not: they run the same '
                    "operations on other inputs. Test your code on more inputs than the public examples.</p>")
    else:
        pictures = " Public checks show a picture of your own numbers." if any(map(public, failing)) else ""
        body.append(f'<p class="lead">{len(failing)} of {len(result.checks)} checks fail; each is explained '
                    f"below.{pictures}</p>")  # fmt: skip
    body.append(in_short(failing))
    body.append("<h2>Score per task</h2>" + score_table(result))
    if result.notes:
        notes = "".join(f"<pre>{esc(n)}</pre>" for n in dict.fromkeys(result.notes))
        body.append(f"<h2>Notes</h2>{notes}")
    body.append(training_section(result))
    if failing:
        body.append(f"<h2>{len(failing)} failing check{'s' if len(failing) > 1 else ''}</h2>")
        wanted = [(c.id, graph, caption) for c in failing for graph, caption in graphs_of(c)]
        prefixes = [f"g{k}" for k in range(len(wanted))]
        svgs = svgs_of([dot_source(graph) for _, graph, _ in wanted], prefixes)
        drawn: dict[str, list[str]] = {}
        for (cid, graph, caption), svg in zip(wanted, svgs):
            local = caption.startswith("Case")
            drawn.setdefault(cid, []).append(graph_html(graph, svg, caption, local=local))
        body.extend(failing_cards(failing, drawn))
    body.append(f"<footer>Numbers are compared with PyTorch (float64) and the reference within {esc(TOLERANCE)}. "
                "Hidden checks never show their inputs or expected values.</footer>")  # fmt: skip
    return page(f"Feedback for {result.student}", "\n".join(b for b in body if b))
