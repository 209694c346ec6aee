"""What every report states first: data source, sample window and (equity) train/evaluation split.

The same function feeds the notebooks' opening lines and the report index, so both always agree with
the data actually built (read from the pipeline's outputs, not re-derived from settings alone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

import settings
from asset_pricing.paths import ProjectPaths, project_paths
from asset_pricing.sources.pull import EQUITY_DESCRIPTION, RF_DESCRIPTION


@dataclass(frozen=True)
class StudyHeader:
    """Data source, window and split of a study, as shown at the top of its report."""

    study: str
    source: str
    window: str
    split: str = ""
    synthetic: bool = False
    title_suffix: str = ""  # appended to the report's title, e.g. "synthetic option quotes"

    def markdown(self, show_split: bool = True) -> str:
        """The header as Markdown lines (``show_split=False`` for reports that do not depend on TRAIN_END)."""
        lines = [f"**Data source:** {self.source}", f"**Sample window:** {self.window}"]
        if self.split and show_split:
            lines.append(f"**Train / evaluation split:** {self.split}")
        if self.synthetic:
            lines.append("**Note:** these are *synthetic option quotes* simulated on the real S&P 500 path, not OptionMetrics data.")
        return "  \n".join(lines)


def _month_span(index: pd.DatetimeIndex) -> str:
    return f"{index.min():%Y-%m} … {index.max():%Y-%m}"


def equity_header(paths: ProjectPaths | None = None) -> StudyHeader:
    """Header of the equity studies from ``data/interim`` and the equity/rf settings."""
    paths = paths or project_paths()
    daily = pd.read_parquet(paths.interim / "market_daily_returns.parquet")
    train_end = settings.get("TRAIN_END")
    equity_source = settings.get("EQUITY_SOURCE")
    rf_source = settings.get("RF_SOURCE")
    first_eval = (train_end + pd.offsets.MonthBegin(1)).to_period("M")
    return StudyHeader(
        study="equity",
        source=f"{EQUITY_DESCRIPTION[equity_source]} (EQUITY_SOURCE={equity_source}); risk-free: {RF_DESCRIPTION[rf_source]} (RF_SOURCE={rf_source})",
        window=f"{daily.index.min():%Y-%m-%d} … {daily.index.max():%Y-%m-%d} (daily), months {_month_span(daily.index)}",
        split=f"training through {train_end:%Y-%m} (TRAIN_END={train_end:%Y-%m-%d}), evaluation {first_eval} … {daily.index.max():%Y-%m}",
    )


def options_header(paths: ProjectPaths | None = None) -> StudyHeader:
    """Header of the option study from ``data/interim/options/meta.json`` (written by the filter stage)."""
    paths = paths or project_paths()
    meta = json.loads((paths.interim / "options" / "meta.json").read_text())
    synthetic = meta["source"] == "synthetic"
    return StudyHeader(
        study="options",
        source=f"{meta['label']} (OPTIONS_SOURCE={meta['source']})",
        window=f"{meta['start']} … {meta['end']}",
        synthetic=synthetic,
        title_suffix=meta["label"] if synthetic else "",
    )


def pricing_header(paths: ProjectPaths | None = None) -> StudyHeader:
    """Header of the pricing tests: HKM's published series (real quotes) and this build's option series."""
    build = options_header(paths)
    return StudyHeader(
        study="pricing",
        source=f"He-Kelly-Manela (2017) published option portfolios (real quotes, 1986-04 … 2012-01); this build: {build.source}",
        window=f"published 1986-04 … 2012-01; this build {build.window}",
        synthetic=build.synthetic,
        title_suffix=f"published real series and {build.title_suffix}" if build.synthetic else "",
    )


def study_header(study: str, paths: ProjectPaths | None = None) -> StudyHeader:
    """Header for ``study`` = 'equity', 'options' or 'pricing'."""
    if study == "options":
        return options_header(paths)
    if study == "pricing":
        return pricing_header(paths)
    return equity_header(paths)
