"""The package's stages import only from the stages below them (README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "asset_pricing"
# Below every stage: modules any stage may import, which import no stage (and never reports/) themselves.
SHARED = {"io", "paths", "econometrics", "stats"}
# stage -> stages it may import from (besides SHARED and settings); reports/ sits above every stage.
ALLOWED: dict[str, set[str]] = {
    "sources": set(),
    "prepare": {"sources"},
    "volmanaged": {"prepare"},
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
            if top in SHARED | {stage} or name in SHARED_LEAVES:
                continue
            if not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED[stage]):
                offending.append(f"{path.relative_to(PACKAGE)} imports asset_pricing.{name}")
    assert offending == []


def test_shared_modules_import_no_stage():
    offending = []
    for name in sorted(SHARED):
        target = PACKAGE / name
        for path in sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]:
            outside = {imported for imported in _imports(path) if imported.split(".")[0] not in SHARED}
            offending += [f"{path.relative_to(PACKAGE)} imports asset_pricing.{imported}" for imported in sorted(outside)]
    assert offending == []


def test_no_stage_imports_the_report_layer():
    """Stages write files; reports/ reads them (the normality table lives in stats/, below both)."""
    offending = [f"{path.relative_to(PACKAGE)} imports asset_pricing.{name}"
                 for stage in ALLOWED for path in sorted((PACKAGE / stage).rglob("*.py"))
                 for name in _imports(path) if name.split(".")[0] == "reports"]
    assert offending == []


def test_shared_option_leaves_import_nothing_but_io():
    for leaf in SHARED_LEAVES:
        path = PACKAGE / (leaf.replace(".", "/") + ".py")
        assert _imports(path) <= {"io"}, path


def test_option_stage_never_reads_the_sources():
    """Filters and portfolios read files; pulls (including the synthetic panel) live in sources/."""
    assert not (PACKAGE / "options" / "synthetic.py").exists()
    assert (PACKAGE / "sources" / "synthetic_options.py").is_file() and (PACKAGE / "sources" / "option_pull.py").is_file()
