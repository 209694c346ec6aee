"""Report build: notebooks run with this interpreter, errors name notebook and cell, sources stay clean."""

from __future__ import annotations

import json
import sys

import nbformat
import pytest

import settings
from asset_pricing.paths import project_paths
from asset_pricing.reports.build import ReportError, execute_notebook, notebook_info, write_index

NOTEBOOKS = sorted((settings.PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def _notebook(tmp_path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A title\n\nWhat it shows.")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["asset_pricing"] = {"study": "equity", "uses": ["prepare"]}
    path = tmp_path / "99_test.ipynb"
    nbformat.write(nb, path)
    return path


def test_notebook_runs_with_this_interpreter_in_its_own_folder(tmp_path):
    path = _notebook(tmp_path, "import sys, os\nprint(sys.executable)\nprint(os.getcwd())")
    before = path.read_text()
    executed = execute_notebook(path)
    printed = executed.cells[1].outputs[0]["text"].splitlines()
    assert printed == [sys.executable, str(tmp_path)]
    assert path.read_text() == before  # the source notebook is not written


def test_failing_cell_error_names_notebook_and_cell(tmp_path):
    path = _notebook(tmp_path, "x = 1", "raise ValueError('boom in the data')")
    with pytest.raises(ReportError) as info:
        execute_notebook(path)
    message = str(info.value)
    assert "99_test.ipynb" in message and "cell 3" in message and "boom in the data" in message


def test_notebook_info_reads_title_description_and_metadata(tmp_path):
    info = notebook_info(_notebook(tmp_path, "1"))
    assert (info.title, info.description, info.study, info.uses) == ("A title", "What it shows.", "equity", ("prepare",))


def test_index_lists_each_report_with_source_window_and_build_time(tmp_path):
    paths = project_paths()
    entry = tmp_path / "01_x.json"
    entry.write_text(json.dumps({"stem": "01_x", "title": "X <report>", "description": "d", "source": "src S",
                                 "window": "1990 … 2018", "built": "2026-01-01 10:00"}))
    html = write_index(paths, [entry]).read_text()
    assert "href='01_x.html'" in html and "X &lt;report&gt;" in html and "src S" in html and "2026-01-01 10:00" in html


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebooks_have_no_outputs_and_declare_their_study(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert nb.metadata["asset_pricing"]["study"] in {"equity", "options", "pricing"}
    assert "sys.path" not in "".join(cell.source for cell in nb.cells)


def test_headers_name_synthetic_quotes_and_the_pricing_report_names_both_sources():
    from asset_pricing.reports.header import study_header

    paths = project_paths()
    folder = paths.interim / "options"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"source": "synthetic", "label": "synthetic option quotes", "start": "1996-01-01", "end": "2018-11-30"}))
    options, pricing = study_header("options", paths), study_header("pricing", paths)
    assert options.title_suffix == "synthetic option quotes" and options.synthetic
    assert pricing.title_suffix == "published real series and synthetic option quotes"
    assert "published option portfolios (real quotes" in pricing.source and "synthetic option quotes (OPTIONS_SOURCE=synthetic)" in pricing.source
    (folder / "meta.json").write_text(json.dumps({"source": "wrds", "label": "OptionMetrics (WRDS)", "start": "1996-01-01", "end": "2018-11-30"}))
    assert study_header("options", paths).title_suffix == "" and study_header("pricing", paths).title_suffix == ""
