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
