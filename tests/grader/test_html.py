"""feedback.html and the class report, tested as a person sees them.

Four students of the embedded sample class are graded for real (only the tasks
each page is about, to stay fast): ada (the reference: her training curves),
hugo (relu's gradient inverted), emma (breadth-first backward) and jade (an
endless loop in the topological sort). The pages are checked for what they
say, for what they must never show (a hidden check's inputs, a picture of a
hidden probe), and rendered in headless Chromium to PNG: the text a browser
lays out, and the red of the highlighted graph nodes on screen.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.grading import grade_package
from grader.html_report import graph as graph_module
from grader.html_report import link_nbgrader_feedback, top_mistakes, write_class_reports, write_feedback_html
from grader.html_report.feedback import feedback_html
from grader.html_report.mistakes import CSV_COLUMNS, cluster_name
from grader.intake import find_package
from grader.rubric import TRAIN_POINTS, TRAIN_STEPS, build
from grader.samples import build_sample_class
from grader.types import CheckResult, SubmissionResult

SEED = 1234
TASKS = {"ada": ["5.2"], "hugo": ["2.4", "3.2"], "emma": ["3.2"], "jade": ["3.1", "3.2"]}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--hide-scrollbars"]  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SubmissionResult]:
    sample = build_sample_class(tmp_path_factory.mktemp("class") / "class")
    return {
        student: grade_package(find_package(sample / student), student, tasks=tasks, seed=SEED)
        for student, tasks in TASKS.items()
    }


@pytest.fixture(scope="module")
def reports(results: dict[str, SubmissionResult], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    for r in results.values():
        write_feedback_html(out / r.student, r)
    write_class_reports(out, list(results.values()))
    return out


def cards_of(text: str) -> dict[str, str]:
    """The HTML of each failing check's card, by check id."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<div class="card failed" id="([^"]+)">', text)]
    ends = [s for s, _ in starts[1:]] + [text.find("<footer>")]
    return {cid: text[s:e] for (s, cid), e in zip(starts, ends)}


def page(reports: Path, student: str) -> str:
    return (reports / student / "feedback.html").read_text(encoding="utf-8")


def visible_text(html: str) -> str:
    """Roughly what a reader sees: tags dropped, SVG text kept, entities decoded."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# ------------------------------------------------------------- what they say


def test_page_is_self_contained(reports: Path) -> None:
    for student in TASKS:
        text = page(reports, student)
        assert "<script" not in text.lower()
        assert not re.search(r'(src|href)="(https?:|//|/)', text), "no external files or links"
        assert 'name="viewport"' in text, "readable on a phone"
        assert text.count("<html") == 1


def test_ada_sees_her_curves_match_the_reference(results: dict[str, SubmissionResult], reports: Path) -> None:
    text = page(reports, "ada")
    seen = visible_text(text)
    assert "Every check passed" in seen
    assert "Your training" in seen and f"Loss over {TRAIN_STEPS} steps" in seen
    assert "reference" in seen and "yours" in seen
    fit = next(c for c in results["ada"].checks if c.id == "5.2/public/fit")
    assert fit.evidence["result"]["losses"] == pytest.approx(fit.evidence["expected"]["losses"], rel=1e-6)
    accuracy = re.search(r"Your trained model: (\d+)% right", seen)
    assert accuracy and int(accuracy.group(1)) >= 85
    # The 5-step trajectory is a table: every step matches, no row is marked wrong.
    assert "The loss at each step" in seen
    trajectory = text[text.index("5 SGD steps") : text.index(f"{TRAIN_STEPS} steps on {TRAIN_POINTS} moons")]
    assert 'class=wrong' not in trajectory
    assert text.count("<svg") == 2  # the training curve and the decision boundary


def test_hugo_sees_his_relu_highlighted_with_the_expected_gradient(reports: Path) -> None:
    cards = cards_of(page(reports, "hugo"))
    local = visible_text(cards["2.4/public/relu-10"])
    assert "Only relu's _backward ran" in local and "goes wrong here" in local
    assert "grad 0.25" in local and "expected grad 0.75" in local  # a = 3: his rule added nothing
    seed = visible_text(cards["3.2/public/seed-relu"])
    assert "first goes wrong at: relu (making (b + a).relu()), relu (making (b - a).relu())" in seed
    assert "expected grad 138.834" in seed  # d(root)/da, beside his 173.542
    assert "grad 173.542" in seed


def test_emma_sees_where_breadth_first_order_goes_wrong(reports: Path) -> None:
    cards = cards_of(page(reports, "emma"))
    seed = visible_text(cards["3.2/public/seed-relu"])
    # (node 22) ** 2 feeds both / 2.0 and 10.0 / ...: breadth-first runs its rule before both have added in.
    assert "first goes wrong at: **2 (making (node 22) ** 2)" in seed
    assert "the order of backward()" in seed
    diamond = visible_text(cards["3.2/public/diamond"])
    assert "goes wrong here" in diamond and "expected grad" in diamond


def test_jade_is_told_her_sort_never_ends_without_a_graph(reports: Path) -> None:
    text = page(reports, "jade")
    cards = cards_of(text)
    seen = visible_text(text)
    assert "Your code never finished in Task 3.1 (Topological order (iterative)): an endless loop?" in seen
    assert "did not finish" in visible_text(cards["3.1/public/diamond"])
    assert "checks not run" in seen, "the checks after the loop are one card, not one each"
    assert "2 checks failed the same way" in seen  # both topological-order probes timed out
    assert "<svg" not in text, "no picture of a graph the student's code could not build"
    assert "The same graph as a table" not in text


def test_hidden_checks_show_no_inputs_and_no_pictures(results: dict[str, SubmissionResult], reports: Path) -> None:
    hidden = [c for c in build(SEED) if c.hidden]
    secrets = set()
    for check in hidden:
        for number in re.findall(r"-?\d+\.\d{3,}", str(check.probe)):
            secrets.add(number)
    assert secrets
    for student, result in results.items():
        text = page(reports, student)
        cards = cards_of(text)
        # What a student can see: the page's HTML and attributes, and the text inside its pictures.
        pictures = " ".join(re.findall(r"<svg.*?</svg>", text, re.S))
        shown = re.sub(r"<svg.*?</svg>", "", text, flags=re.S) + visible_text(pictures)
        leaked = sorted(s for s in secrets if re.search(rf"(?<![\d.]){re.escape(s)}(?!\d)", shown))
        assert not leaked, f"{student}'s page shows hidden inputs {leaked[:5]}"
        for c in result.checks:
            if c.visibility != "visible":
                assert c.evidence is None
                if c.status == "failed" and c.id in cards:  # checks that failed the same way share a card
                    assert "<svg" not in cards[c.id], c.id


def test_a_hidden_check_with_evidence_still_gets_no_picture(results: dict[str, SubmissionResult]) -> None:
    """Defence in depth: even if a hidden check carried evidence, the page draws nothing from it."""
    public = next(c for c in results["hugo"].checks if c.id == "3.2/public/seed-relu")
    hidden = CheckResult(**{**public.__dict__, "id": "3.2/hidden/x", "visibility": "after_due_date"})
    text = feedback_html(SubmissionResult("x", checks=[hidden]))
    assert "<svg" not in text and "expected grad" not in text


def test_without_dot_the_graph_is_a_table_with_a_clear_message(
    results: dict[str, SubmissionResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    text = feedback_html(results["hugo"])
    assert "<svg" not in text
    card = cards_of(text)["3.2/public/seed-relu"]
    assert "Graphviz&#x27;s `dot` is not installed" in card and "apt-get install graphviz" in card
    assert "<table" in card and "class=wrong" in card and "expected grad" in card


# ---------------------------------------------------------- the class report


def test_class_report_lists_each_mistake_with_its_students(reports: Path) -> None:
    text = (reports / "class-report.html").read_text(encoding="utf-8")
    seen = visible_text(text)
    assert "Score distribution" in seen and "<svg" in text
    assert "Pass rate per task" in seen and "Pass rate per check" in seen
    for student in TASKS:
        assert f'href="students/{student}/feedback.html"' in text
    assert "wrong local derivative of relu" in seen
    assert "an endless loop (timeout)" in seen
    assert "not run" not in re.findall(r"<h3>([^<]*)</h3>", text), "not-run checks are the loop's, not a mistake"
    rows = list(csv.DictReader(io.StringIO((reports / "common-mistakes.csv").read_text(encoding="utf-8"))))
    assert list(rows[0]) == CSV_COLUMNS
    backward = [r for r in rows if r["diagnosis"] == "wrong gradient after backward()"]
    assert backward and {s for r in backward for s in r["students"].split()} == {"emma", "hugo"}
    relu = next(r for r in rows if r["check"] == "2.4/public/relu-10")
    assert relu["students"] == "hugo" and relu["count"] == "1" and relu["share"] == "0.250"
    loops = [r for r in rows if r["diagnosis"] == "an endless loop (timeout)"]
    assert any(r["students"] == "jade" and r["task"] == "3.1" for r in loops), loops


def test_top_mistakes_cluster_by_diagnosis(results: dict[str, SubmissionResult]) -> None:
    top = top_mistakes(list(results.values()), 3)
    assert top[0].diagnosis == "wrong gradient after backward()"
    assert top[0].students == ["emma", "hugo"] and top[0].share == 0.5
    assert top[0].tasks == ["3.2"]
    assert all(m.diagnosis != "not run" for m in top_mistakes(list(results.values()), 100))
    assert cluster_name("the loss trajectory leaves the reference's at step 3") == (
        "the loss trajectory leaves the reference's at step N"
    )


# ---------------------------------------------------------------- in a browser


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("Chromium is not installed: `apt-get install chromium` (CI installs it) to render the reports")
    return exe


def browse(html: Path, png: Path, tmp: Path, width: int = 420) -> str:
    """Render `html` to `png` (a phone's width by default); return the DOM Chromium built."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--window-size={width},6000",
               f"--screenshot={png}", "--dump-dom", html.as_uri()]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=300)
    assert done.returncode == 0 and png.exists(), done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8", "replace")


def colours(png: Path) -> dict[tuple[int, int, int], int]:
    from PIL import Image

    with Image.open(png) as im:
        counts = im.convert("RGB").getcolors(maxcolors=1 << 20) or []
    return {rgb: n for n, rgb in counts}


def near(counts: dict[tuple[int, int, int], int], rgb: tuple[int, int, int], tol: int = 6) -> int:
    return sum(n for c, n in counts.items() if all(abs(a - b) <= tol for a, b in zip(c, rgb)))


def test_pages_render_in_chromium(reports: Path, tmp_path: Path) -> None:
    hugo_png = tmp_path / "hugo.png"
    dom = browse(reports / "hugo" / "feedback.html", hugo_png, tmp_path)
    seen = visible_text(dom)
    assert "Feedback for hugo" in seen and "goes wrong here" in seen and "expected grad 0.75" in seen
    hugo = colours(hugo_png)
    assert len(hugo) > 50, "the page rendered more than a blank screen"
    assert near(hugo, (0xFF, 0xEB, 0xE9)) > 500, "the highlighted (red) graph nodes are on screen"

    jade_png = tmp_path / "jade.png"
    seen = visible_text(browse(reports / "jade" / "feedback.html", jade_png, tmp_path))
    assert "never finished" in seen and "did not finish" in seen
    assert near(colours(jade_png), (0xFF, 0xEB, 0xE9)) < 100, "no highlighted graph for a sort that never ends"

    class_png = tmp_path / "class.png"
    seen = visible_text(browse(reports / "class-report.html", class_png, tmp_path, width=1000))
    assert "Class report" in seen and "Common mistakes" in seen and "wrong local derivative of relu" in seen
    assert len(colours(class_png)) > 50
    print(f"screenshots: {hugo_png} {jade_png} {class_png}")


def test_numbers_of_the_wrong_shape_are_not_drawn(results: dict[str, SubmissionResult]) -> None:
    """Evidence is whatever a student's code returned: odd shapes give text, never a crash."""
    checks = []
    odd_values = ["x", None, [1.0], {"a": 1}, [True, "2"], 5]
    for c in results["hugo"].checks + results["ada"].checks:
        if c.evidence is None:
            continue
        for k, odd in enumerate(odd_values):
            result = {key: odd for key in c.evidence["result"]}
            evidence = {**c.evidence, "result": result}
            checks.append(CheckResult(**{**c.__dict__, "id": f"{c.id}/{k}", "status": "failed", "evidence": evidence}))
    text = feedback_html(SubmissionResult("odd", checks=checks))
    assert "Feedback for odd" in text and "goes wrong here" not in text


def test_nbgrader_feedback_links_to_feedback_html(tmp_path: Path) -> None:
    page = tmp_path / "ada" / "notebooks" / "a2_backprop.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><head></head><body class='x'><h1>a2_backprop</h1></body></html>", encoding="utf-8")
    assert link_nbgrader_feedback(page, tmp_path / "ada" / "feedback.html")
    assert link_nbgrader_feedback(page, tmp_path / "ada" / "feedback.html")  # once only
    text = page.read_text(encoding="utf-8")
    assert text.count('href="../feedback.html"') == 1
    assert text.index("feedback.html") < text.index("<h1>")
    (tmp_path / "bad.html").write_text("no body here", encoding="utf-8")
    assert not link_nbgrader_feedback(tmp_path / "bad.html", tmp_path / "feedback.html")
