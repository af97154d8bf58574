"""Feedback you can see: REPORTS/<student>/feedback.html, REPORTS/class-report.html
and REPORTS/common-mistakes.csv.

Everything is drawn in the grader's process from the plain numbers the sandbox
returned; hidden checks never get inputs or pictures. One concern per module:
page (the HTML shell), graph (a probe's computation graph, Graphviz), curves
(training pictures, matplotlib), feedback (the student's page), mistakes
(clustering by diagnosis, the csv), classreport (the class's page), nbgrader_link
(a link from nbgrader's feedback HTML to feedback.html, for notebook submissions).
"""

from __future__ import annotations

from pathlib import Path

from grader.html_report.classreport import class_report_html
from grader.html_report.feedback import FEEDBACK_HTML, feedback_html
from grader.html_report.mistakes import mistakes_csv, mistakes_table, top_mistakes
from grader.html_report.nbgrader_link import link_nbgrader_feedback
from grader.report import atomic_write
from grader.types import SubmissionResult

CLASS_REPORT = "class-report.html"
MISTAKES_CSV = "common-mistakes.csv"

__all__ = [
    "feedback_html",
    "link_nbgrader_feedback",
    "mistakes_table",
    "top_mistakes",
    "write_class_reports",
    "write_feedback_html",
]


def write_feedback_html(folder: Path, result: SubmissionResult) -> None:
    """Write `folder/feedback.html` (a student's report folder) atomically."""
    atomic_write(folder / FEEDBACK_HTML, feedback_html(result))


def write_class_reports(out: Path, results: list[SubmissionResult]) -> None:
    """Write `out/class-report.html` and `out/common-mistakes.csv` for `results`."""
    atomic_write(out / MISTAKES_CSV, mistakes_csv(results))
    atomic_write(out / CLASS_REPORT, class_report_html(results))
