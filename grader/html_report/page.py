"""The HTML page shell and the small building blocks both reports share.

A page is one self-contained file: the stylesheet (style.css, next to this
module) is inlined, pictures are inline SVG, there are no scripts and no links
to anything outside the reports folder, so it opens the same from a laptop, a
phone, an LMS attachment or a zip.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

STYLE = Path(__file__).with_name("style.css")


@cache
def stylesheet() -> str:
    return STYLE.read_text(encoding="utf-8")


def esc(text: object) -> str:
    """Text as HTML: everything a student's code or a message holds is escaped."""
    return html.escape(str(text), quote=True)


def page(title: str, body: str) -> str:
    """A complete HTML document around `body`."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>\n{stylesheet()}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def fmt_number(x: object) -> str:
    """Numbers as the judge prints them (10 significant digits)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    return f"{x:.10g}"


def numbers(x: object) -> list[float]:
    """`x` if it is a list of real numbers, else []: what came back from a student's
    code is only drawn when it has the shape a picture needs."""
    if not isinstance(x, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
        return []
    return [float(v) for v in x]


def number(x: object) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def fmt_points(x: float) -> str:
    return f"{x:g}"


def bar(fraction: float, label: str = "") -> str:
    """A horizontal bar (pure CSS), green when full, amber when partial, red when low."""
    fraction = min(max(fraction, 0.0), 1.0)
    kind = "" if fraction >= 0.999 else ("mid" if fraction >= 0.5 else "low")
    title = f' title="{esc(label)}"' if label else ""
    return f'<div class="bar {kind}"{title}><span style="width:{fraction * 100:.1f}%"></span></div>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (),
          row_classes: Sequence[str] | None = None) -> str:  # fmt: skip
    """An HTML table; cells are already HTML. `numeric` columns are right-aligned."""
    num = set(numeric)
    head = "".join(f'<th{" class=num" if i in num else ""}>{h}</th>' for i, h in enumerate(headers))
    body = []
    for k, row in enumerate(rows):
        cls = row_classes[k] if row_classes and row_classes[k] else ""
        cells = "".join(f'<td{" class=num" if i in num else ""}>{c}</td>' for i, c in enumerate(row))
        body.append(f'<tr{f" class={cls}" if cls else ""}>{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(svg: str, caption: str, *, scroll: bool = False) -> str:
    """An inline SVG with its caption; `scroll` keeps a wide graph at full size
    with a horizontal scroll bar instead of shrinking its text on a phone."""
    cls = "scroll" if scroll else "fit"
    return f'<figure><div class="{cls}">{svg}</div><figcaption>{caption}</figcaption></figure>'


def split_hint(output: str) -> tuple[str, str]:
    """A verdict's text without its `hint:` lines, and the hint."""
    body, hints = [], []
    for line in output.splitlines():
        (hints if line.startswith("hint: ") else body).append(line.removeprefix("hint: "))
    return "\n".join(body).strip(), " ".join(hints).strip()
