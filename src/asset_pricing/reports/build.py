"""Reports stage: execute each notebook in ``notebooks/`` and export it to ``_output/reports/*.html``.

The notebook runs with the interpreter that runs this code (so it works inside a venv), with its
working directory set to the notebook's folder (as in Jupyter). The source notebook is never written;
a failing cell raises :class:`ReportError` naming the notebook and the cell. Each report leaves a small
JSON entry beside its HTML; :func:`write_index` turns the entries into ``index.html``.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

from asset_pricing import io
from asset_pricing.paths import ProjectPaths
from asset_pricing.reports.header import study_header

log = logging.getLogger(__name__)


class ReportError(RuntimeError):
    """A notebook failed to execute; the message names the notebook and the cell."""


# Added to every exported report: a table wider than the page scrolls sideways inside its own output box
# (never cut by the page; column names with spaces wrap first), and long code lines wrap.
REPORT_CSS = """<style>
.jp-OutputArea-output { display: block; max-width: 100%; overflow-x: auto; }
.jp-RenderedHTMLCommon thead th { white-space: normal; }
.jp-InputArea-editor pre, .jp-InputArea-editor .highlight pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
</style>
"""


def with_report_css(body: str) -> str:
    """The exported HTML with :data:`REPORT_CSS` at the end of its ``<head>`` (after nbconvert's own styles)."""
    if "</head>" not in body:
        raise ReportError("exported HTML has no </head> to add the report styles to")
    return body.replace("</head>", REPORT_CSS + "</head>", 1)


class ThisInterpreterKernelManager(KernelManager):
    """A kernel manager that always starts ``sys.executable -m ipykernel_launcher`` (this venv's Python)."""

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (project)", language="python", name="python3",
            )
        return self._kernel_spec


@dataclass(frozen=True)
class NotebookInfo:
    """Title, description and study of a notebook, read from its first markdown cell and metadata."""

    stem: str
    title: str
    description: str
    study: str
    uses: tuple[str, ...]


def notebook_info(path: Path) -> NotebookInfo:
    """Read the title (first ``# `` heading), the first paragraph after it and ``asset_pricing`` metadata."""
    nb = nbformat.read(path, as_version=4)
    title, description = path.stem, ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [line.strip() for line in cell.source.splitlines()]
        heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
        if heading is None:
            continue
        title = lines[heading][2:].strip()
        rest = [line for line in lines[heading + 1:] if line and not line.startswith("#")]
        description = rest[0] if rest else ""
        break
    meta = nb.metadata.get("asset_pricing", {})
    return NotebookInfo(path.stem, title, description, meta.get("study", "equity"), tuple(meta.get("uses", ())))


def _failed_cell(nb: nbformat.NotebookNode) -> tuple[int, str]:
    for number, cell in enumerate(nb.cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return number, cell.source.splitlines()[0] if cell.source else ""
    return -1, ""


def execute_notebook(path: Path, *, timeout: int = 1200) -> nbformat.NotebookNode:
    """Execute a copy of the notebook in its own folder and return it with outputs (source untouched)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_manager_class=ThisInterpreterKernelManager,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        number, first_line = _failed_cell(nb)
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # drop the traceback's terminal colours
        summary = text.splitlines()[-1] if text else type(exc).__name__
        raise ReportError(f"{path}: cell {number} ({first_line!r}) failed: {summary}") from exc
    return nb


def build_report(path: Path, paths: ProjectPaths) -> list[Path]:
    """Execute ``path`` and write ``<stem>.html`` and its index entry ``<stem>.json`` under ``_output/reports``."""
    info = notebook_info(path)
    log.info("executing %s", path)
    started = datetime.now()
    nb = execute_notebook(path)
    header = study_header(info.study, paths)
    title = f"{info.title} — {header.title_suffix}" if header.title_suffix else info.title
    nb.metadata["title"] = title
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    html_path = io.write_text(with_report_css(body), paths.reports / f"{info.stem}.html")
    entry = {**asdict(info), "title": title, "source": header.source, "window": header.window,
             "built": started.strftime("%Y-%m-%d %H:%M"), "seconds": round((datetime.now() - started).total_seconds(), 1)}
    json_path = io.write_text(json.dumps(entry, indent=2), paths.reports / f"{info.stem}.json")
    return [html_path, json_path]


def write_index(paths: ProjectPaths, entries: list[Path]) -> Path:
    """``index.html``: a link to the methods page, then one row per report with title, description, data
    source, window and build time."""
    rows = []
    for entry_path in sorted(entries):
        entry = json.loads(Path(entry_path).read_text())
        rows.append(
            "<tr><td><a href='{href}'>{title}</a><br><small>{description}</small></td><td>{source}</td>"
            "<td>{window}</td><td>{built}</td></tr>".format(
                href=html.escape(f"{entry['stem']}.html"), title=html.escape(entry["title"]),
                description=html.escape(entry["description"]), source=html.escape(entry["source"]),
                window=html.escape(entry["window"]), built=html.escape(entry["built"]),
            )
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reports — asset_pricing</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.5rem;text-align:left;vertical-align:top}}small{{color:#555}}
.methods{{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;font-size:110%}}</style></head>
<body><h1>Reports</h1>
<p class="methods"><a href='methods.html'><strong>Methods</strong></a> — every rule these reports are built by, in words
and formulas, with the papers they come from and the replication mistakes the project avoids
(<code>docs/methods.md</code>).</p>
<p>Built by <code>doit</code>; each report is an executed notebook from <code>notebooks/</code>.</p>
<table><thead><tr><th>Report</th><th>Data source</th><th>Window</th><th>Built</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table></body></html>
"""
    return io.write_text(page, paths.reports / "index.html")
