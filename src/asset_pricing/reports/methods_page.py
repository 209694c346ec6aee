"""The methods page ``docs/methods.md`` rendered to ``_output/reports/methods.html`` beside the reports.

Markdown is parsed by ``markdown-it-py`` (CommonMark with GitHub's tables) and its ``dollarmath`` plugin,
which reads formulas written as on GitHub: ``$...$`` inline and ``$$`` … ``$$`` blocks. Each formula is
converted to MathML by ``latex2mathml``, so the page shows formulas in any current browser with no script
and no network (MathML Core). Headings get GitHub's anchors (``## §4 Option portfolios`` →
``#4-option-portfolios``), so links written for GitHub work in the HTML too, and the page opens with a
table of contents of the numbered sections.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

from asset_pricing import io
from asset_pricing.paths import ProjectPaths

METHODS_HTML = "methods.html"

STYLE = """
body{font-family:system-ui,sans-serif;line-height:1.5;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f2328}
h1,h2,h3{line-height:1.25}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;vertical-align:top}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px;font-size:90%}pre{background:#f6f8fa;padding:.8rem;overflow:auto}
pre code{background:none;padding:0}math{font-size:110%}math[display=block]{margin:.8rem 0}
nav.toc{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1.5rem;margin:1rem 0}
nav.toc ul{list-style:none;padding-left:1rem;margin:.2rem 0}nav.toc>ul{padding-left:0}
.back{font-size:90%}
"""


class MethodsPageError(ValueError):
    """The methods page cannot be rendered (a formula latex2mathml cannot read); the message names it."""


def github_slug(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation (including §) removed, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _render_math(latex: str, options: dict[str, Any]) -> str:
    display = bool(options.get("display_mode"))
    try:
        return latex_to_mathml(latex.strip(), display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises several types for input it cannot read
        raise MethodsPageError(f"formula ${latex.strip()}$ cannot be converted to MathML ({type(exc).__name__}: {exc}).") from exc


def markdown_parser() -> MarkdownIt:
    """CommonMark + tables + GitHub-style math (as MathML) + GitHub heading anchors; raw HTML is escaped."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    dollarmath_plugin(parser, allow_labels=False, allow_space=False, allow_digits=False, double_inline=True, renderer=_render_math)
    anchors_plugin(parser, min_level=1, max_level=4, slug_func=github_slug)
    return parser


def table_of_contents(markdown_text: str, levels: tuple[int, ...] = (2, 3)) -> list[tuple[int, str, str]]:
    """(level, title, anchor) of each heading of ``levels``, in order (fenced code blocks skipped)."""
    entries = []
    in_fence = False
    for line in markdown_text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        match = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if match and not in_fence and len(match.group(1)) in levels:
            title = match.group(2)
            entries.append((len(match.group(1)), title, github_slug(title)))
    return entries


def _toc_html(entries: list[tuple[int, str, str]]) -> str:
    parts, open_sub = ["<nav class='toc'><strong>Contents</strong><ul>"], False
    for level, title, anchor in entries:
        link = f"<a href='#{html.escape(anchor)}'>{html.escape(title)}</a>"
        if level == 2:
            parts.append("</ul></li>" if open_sub else "</li>" if len(parts) > 1 else "")
            parts.append(f"<li>{link}")
            open_sub = False
        else:
            parts.append("" if open_sub else "<ul>")
            parts.append(f"<li>{link}</li>")
            open_sub = True
    parts.append("</ul></li>" if open_sub else "</li>" if entries else "")
    parts.append("</ul></nav>")
    return "".join(parts)


def render_methods_html(markdown_text: str, *, title: str = "Methods", source: str = "docs/methods.md") -> str:
    """A standalone HTML page from the methods Markdown: a link back to the reports, contents, the body."""
    body = markdown_parser().render(markdown_text)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — asset_pricing</title><style>{STYLE}</style></head>
<body><p class="back"><a href="index.html">← Reports</a> · rendered from <code>{html.escape(source)}</code> by <code>doit</code></p>
{_toc_html(table_of_contents(markdown_text))}
{body}</body></html>
"""


def write_methods_page(source: Path, paths: ProjectPaths) -> Path:
    """Render ``source`` (``docs/methods.md``) to ``OUTPUT_DIR/reports/methods.html``."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: file not found (the methods page lives in docs/methods.md).")
    try:
        page = render_methods_html(source.read_text(encoding="utf-8"), source=f"{source.parent.name}/{source.name}")
    except MethodsPageError as exc:
        raise MethodsPageError(f"{source}: {exc}") from exc
    return io.write_text(page, paths.reports / METHODS_HTML)
