"""A link from nbgrader's feedback HTML to the student's feedback.html.

Notebook submissions are graded twice (nbgrader in its kernel, the sandbox on
the rebuilt package); the pictures are in the sandbox's feedback.html. The
copy of nbgrader's feedback page in the student's report folder gets a banner
at the top of its body linking there, by a relative path, so the two files
can move together (a zip, an LMS upload).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from grader.html_report.page import esc
from grader.report import atomic_write

MARK = "<!-- micrograd-kit: feedback.html link -->"


def banner(href: str) -> str:
    return (f'{MARK}<div style="font:16px/1.5 system-ui,sans-serif;background:#fff8c5;border:1px solid #d4a72c;'
            f'padding:8px 12px;margin:8px">Your graded feedback with pictures of your own work (your computation '
            f'graphs, your training curves): <a href="{esc(href)}">feedback.html</a></div>')  # fmt: skip


def link_nbgrader_feedback(page: Path, feedback: Path) -> bool:
    """Put a link to `feedback` at the top of nbgrader's feedback `page` (once).
    False when the page has no <body> to put it in."""
    text = page.read_text(encoding="utf-8", errors="replace")
    if MARK in text:
        return True
    body = re.search(r"<body[^>]*>", text, re.I)
    if body is None:
        return False
    href = Path(os.path.relpath(feedback, page.parent)).as_posix()
    atomic_write(page, text[: body.end()] + banner(href) + text[body.end() :])
    return True
