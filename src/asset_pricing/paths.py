"""The project's folders, derived from the DATA_DIR and OUTPUT_DIR settings.

``data/raw`` holds immutable pulls (never removed by ``doit clean``), ``data/interim`` prepared data,
``data/processed`` the studies' outputs; ``_output/tables`` CSV tables and ``_output/reports`` HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import settings


@dataclass(frozen=True)
class ProjectPaths:
    data_dir: Path
    output_dir: Path

    @property
    def raw(self) -> Path:
        return self.data_dir / "raw"

    @property
    def manual(self) -> Path:
        return self.data_dir / "manual"

    @property
    def interim(self) -> Path:
        return self.data_dir / "interim"

    @property
    def processed(self) -> Path:
        return self.data_dir / "processed"

    @property
    def tables(self) -> Path:
        return self.output_dir / "tables"

    @property
    def figures(self) -> Path:
        return self.output_dir / "figures"

    @property
    def reports(self) -> Path:
        return self.output_dir / "reports"


def project_paths() -> ProjectPaths:
    """Paths from the current settings (environment, then ``.env``, then defaults)."""
    return ProjectPaths(data_dir=settings.get("DATA_DIR"), output_dir=settings.get("OUTPUT_DIR"))


# Raw option quotes: the contract between the option pulls (sources/) and the filter stage (options/).
def option_years(cfg: dict) -> list[int]:
    """Calendar years of the option window OPTIONS_START … OPTIONS_END (one raw file per year)."""
    return list(range(cfg["OPTIONS_START"].year, cfg["OPTIONS_END"].year + 1))


def raw_options_dir(paths: ProjectPaths, source: str) -> Path:
    """DATA_DIR/raw/options/<source>: quotes_YYYY.parquet, underlying.parquet (synthetic: truth_YYYY.parquet)."""
    return paths.raw / "options" / source


def raw_quote_path(paths: ProjectPaths, source: str, year: int) -> Path:
    """Raw quotes of one calendar year of an option source."""
    return raw_options_dir(paths, source) / f"quotes_{year}.parquet"


def raw_published_path(paths: ProjectPaths) -> Path:
    """He-Kelly-Manela's published option series and factors as pulled into DATA_DIR/raw/published/."""
    return paths.raw / "published" / "hkm_published_options.parquet"
