"""The methods page rendered beside the reports: formulas as MathML (offline), GitHub anchors, a link from the index."""

from __future__ import annotations

import json
import re

import pytest

import settings
from asset_pricing.paths import project_paths
from asset_pricing.reports.build import write_index
from asset_pricing.reports.methods_page import (
    METHODS_HTML,
    MethodsPageError,
    github_slug,
    render_methods_html,
    table_of_contents,
    write_methods_page,
)

METHODS_MD = settings.PROJECT_ROOT / "docs" / "methods.md"
SMALL_PAGE = """# Methods

## §2 Volatility-managed portfolios

### §2.1 Signals

The signal is $s_t = 1/\\sigma^2_t$ and the exposure held in month $t$ is $x_{t-1}$:

$$
k = \\frac{1}{\\operatorname{mean}(s_\\tau)}
$$

| setting | default |
|---|---|
| `MIN_DAYS` | 10 |
"""


def test_formulas_become_mathml_and_headings_get_numbered_anchors():
    page = render_methods_html(SMALL_PAGE)
    assert page.count("<math") == 4 and page.count('display="block"') == 1
    assert "<mfrac>" in page and "$" not in re.sub(r"<code>.*?</code>", "", page)
    assert 'id="21-signals"' in page and "<h3" in page and "§2.1 Signals" in page
    assert "href='#21-signals'" in page  # table of contents
    assert "<table>" in page and "<script" not in page and "http" not in page.replace("http://www.w3.org/1998/Math/MathML", "")


@pytest.mark.parametrize("text, kept", [
    ("Costs $5 and $10 a month.", "$5 and $10"),
    ("Costs \\$5 and \\$10 a month.", "$5 and $10"),
    ("`$not$` is code, and so are `x$` and `$y`.", "<code>$not$</code>"),
])
def test_dollar_amounts_and_code_are_not_formulas(text, kept):
    page = render_methods_html(text)
    assert "<math" not in page and kept in page


def test_a_formula_that_cannot_be_read_names_itself():
    with pytest.raises(MethodsPageError, match=r"\\frac\{1\}\{"):
        render_methods_html("A broken formula $\\frac{1}{$ here.\n\n$$\n\\frac{1}{\n$$\n")


def test_github_slug_drops_the_section_sign_and_punctuation():
    assert github_slug("§4.4 Exit prices and fills") == "44-exit-prices-and-fills"
    assert github_slug("§9.6 A fixed /252 daily rate") == "96-a-fixed-252-daily-rate"


def test_the_projects_methods_page_renders_every_numbered_section():
    markdown = METHODS_MD.read_text(encoding="utf-8")
    page = render_methods_html(markdown)
    sections = [title for level, title, _ in table_of_contents(markdown) if title.startswith("§")]
    assert len(sections) >= 30
    for title in sections:
        assert f'id="{github_slug(title)}"' in page, title
    assert page.count("<math") > 50
    text = re.sub(r"<(code|pre)>.*?</\1>", "", re.sub(r"<math.*?</math>", "", page, flags=re.DOTALL), flags=re.DOTALL)
    assert "$" not in text  # every formula was converted


def test_write_methods_page_writes_beside_the_reports():
    paths = project_paths()
    written = write_methods_page(METHODS_MD, paths)
    assert written == paths.reports / METHODS_HTML and "§9 Common replication mistakes" in written.read_text()


def test_index_links_the_methods_page(tmp_path):
    entry = tmp_path / "01_x.json"
    entry.write_text(json.dumps({"stem": "01_x", "title": "X", "description": "d", "source": "s", "window": "w", "built": "b"}))
    index = write_index(project_paths(), [entry]).read_text()
    assert "href='methods.html'" in index and ">Methods<" in index
    assert index.index("methods.html") < index.index("01_x.html")  # before the reports
