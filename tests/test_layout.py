"""The package's stages import only from the stages below them (README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "asset_pricing"
# stage -> stages it may import from (besides the shared modules io, paths, econometrics and settings)
ALLOWED: dict[str, set[str]] = {
    "sources": set(),
    "prepare": {"sources"},
    "volmanaged": {"prepare", "reports.normality"},
    "options": set(),
    "pricing": {"sources", "prepare", "options"},
}
# The OptionMetrics quote contract and the Black-Scholes formulas are leaf modules of options/ that the
# sources writing option quotes share (they import nothing but io).
SHARED_LEAVES = {"options.schema", "options.bsm"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("asset_pricing."):
            names.add(node.module.removeprefix("asset_pricing."))
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("asset_pricing.") for a in node.names if a.name.startswith("asset_pricing."))
    return names


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_stage_imports_only_from_stages_below_it(stage):
    folder = PACKAGE / stage
    if not folder.is_dir():
        pytest.skip(f"{stage}/ does not exist")
    offending = []
    for path in sorted(folder.rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in {"io", "paths", "econometrics", stage} or name in SHARED_LEAVES:
                continue
            if not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED[stage]):
                offending.append(f"{path.relative_to(PACKAGE)} imports asset_pricing.{name}")
    assert offending == []


def test_shared_option_leaves_import_nothing_but_io():
    for leaf in SHARED_LEAVES:
        path = PACKAGE / (leaf.replace(".", "/") + ".py")
        assert _imports(path) <= {"io"}, path


def test_option_stage_never_reads_the_sources():
    """Filters and portfolios read files; pulls (including the synthetic panel) live in sources/."""
    assert not (PACKAGE / "options" / "synthetic.py").exists()
    assert (PACKAGE / "sources" / "synthetic_options.py").is_file() and (PACKAGE / "sources" / "option_pull.py").is_file()
