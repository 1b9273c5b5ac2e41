"""Building blocks of a self-contained HTML page: escaped text, tables, embedded images.

Everything user-supplied (class names, paths, recipe values) goes through `html.escape`;
images are embedded as base64 PNG data URIs and the style sheet is inline, so the page
opens anywhere, offline, as one file.

Example:
    >>> table(["class", "f1"], [["<cat>", "0.91"]]).split("<tbody>")[1]
    '<tr><td>&lt;cat&gt;</td><td class="num">0.91</td></tr></tbody></table>'
    >>> image(b"\\x89PNG", "curves")[:41]
    '<img alt="curves" src="data:image/png;bas'
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5em 2em 3em; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em;
     margin-top: 1.8em; }
.sub { color: #666; margin-top: 0; }
nav a { margin-right: 0.9em; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f0f3f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.headline { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 0.6em 0; }
.metric { border: 1px solid #dde; border-radius: 6px; padding: 0.5em 1em; min-width: 8em; }
.metric .value { font-size: 1.5em; font-weight: 600; }
.metric .label { color: #666; font-size: 0.85em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.4em 0.8em;
        margin: 0.6em 0; }
img { max-width: 100%; height: auto; }
.cols { display: flex; flex-wrap: wrap; gap: 2em; }
code { font-size: 0.9em; }
"""

_NUMBER = re.compile(r"^[-+]?[\d.,]+(e[-+]?\d+)?( ?(%|MB|KB|B|ms|s|min))?$")


def esc(value: Any) -> str:
    """`value` as text, HTML-escaped (quotes too)."""
    return html.escape(str(value), quote=True)


def cell(value: Any) -> str:
    """A table cell, right-aligned when it holds a figure."""
    text = "" if value is None else str(value)
    kind = ' class="num"' if _NUMBER.match(text) else ""
    return f"<td{kind}>{esc(text)}</td>"


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], id: str | None = None) -> str:
    """A table with a header row; every cell escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    attr = f' id="{esc(id)}"' if id else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(pairs: Iterable[tuple[Any, Any]], columns: int = 1) -> str:
    """A table of names and values, `columns` (name, value) pairs to a row.

    Example:
        >>> key_values([("a", 1), ("b", 2), ("c", 3)], columns=2).count("<tr>")
        3
    """
    pairs = list(pairs)
    rows = []
    for start in range(0, len(pairs), columns):
        row: list[Any] = []
        for name, value in pairs[start : start + columns]:
            row += [name, value]
        rows.append(row + [""] * (2 * columns - len(row)))
    return table(["field", "value"] * columns, rows)


def image(png: bytes, alt: str, width: int | None = None) -> str:
    """An <img> holding `png` as a base64 data URI: no file beside the page needed;
    shown at most `width` pixels wide when given."""
    data = base64.b64encode(png).decode("ascii")
    size = f' style="width: {int(width)}px"' if width else ""
    return f'<img alt="{esc(alt)}"{size} src="data:image/png;base64,{data}">'


def figure_image(figure: Any, alt: str, width: int | None = None) -> str:
    """A matplotlib Figure (kerascls.viz's plots) rendered and embedded as PNG."""
    from kerascls.viz.files import figure_png

    return image(figure_png(figure), alt, width)


def note(text: str) -> str:
    """A highlighted note: what a section could not show, and why."""
    return f'<p class="note">{esc(text)}</p>'


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def headline(metrics: Iterable[tuple[str, str]]) -> str:
    """Big figures in boxes: (label, value) pairs."""
    boxes = "".join(
        f'<div class="metric"><div class="value">{esc(value)}</div>'
        f'<div class="label">{esc(label)}</div></div>'
        for label, value in metrics
    )
    return f'<div class="headline">{boxes}</div>'


def section(id: str, title: str, body: str) -> str:
    """A <section id=...> with its heading; `body` is HTML already built here."""
    return f'<section id="{esc(id)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: inline style, a contents bar, then each (id, title, body)."""
    links = " ".join(f'<a href="#{esc(id)}">{esc(name)}</a>' for id, name, _ in sections)
    content = "\n".join(section(*s) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>\n"
        f'<body><main><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>'
        f"<nav>{links}</nav>\n{content}\n</main></body></html>\n"
    )
