"""Stages of the option quotes: pull the raw panel (synthetic | wrds | files) and apply the CJS filters.

``pull_options`` writes DATA_DIR/raw/options/<source>/quotes_YYYY.parquet (one file per calendar year of
the window OPTIONS_START … OPTIONS_END) and underlying.parquet; the synthetic source also writes
truth_YYYY.parquet (planted defects). Files already on disk are never deleted: WRDS and user-file years
already pulled are skipped (an interrupted pull resumes); synthetic years are regenerated only when the
generator's settings changed (recorded in generator.json).

``filter_options`` applies the ten filters of SPEC §3.2 year by year in three passes so memory holds one
year at a time while the Level-3 thresholds use the whole sample:

1. per year: schema checks, filters 1–8, smile fits and residuals → per-bin residual moments;
2. per year: filter 9 with the whole-sample moments → moments of the parity-rate deviation d;
3. per year: filters 9 and 10 → DATA_DIR/interim/options/quotes_filtered_YYYY.parquet and
   smile_fit_YYYY.parquet.

Filters 1–8 are per row or per day, so processing by calendar year is exact. Every raw year is read and
checked in pass 1, before any output is written: a missing or corrupt year stops the stage with an
error naming the year and leaves every existing output untouched. Then the stage writes
interim/options/underlying.parquet, interim/options/meta.json and OUTPUT_DIR/tables/option_filters.csv
(CJS Table B.1).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from asset_pricing.io import DataValidationError, read_parquet, write_csv, write_parquet, write_text
from asset_pricing.options import filters
from asset_pricing.options.schema import (
    DATA_SOURCE_LABELS, FILTERED_QUOTE_COLUMNS, attach_underlying, check_quote_year, validate_quotes, validate_underlying,
)
from asset_pricing.options.synthetic import SyntheticPanelSpec, generate_synthetic_panel
from asset_pricing.paths import ProjectPaths

log = logging.getLogger(__name__)

SETTINGS_READ: tuple[str, ...] = (
    "OPTIONS_SOURCE", "OPTIONS_START", "OPTIONS_END", "OPTIONS_SECID", "DIVIDEND_YIELD", "SYNTHETIC_SEED",
    "SYNTHETIC_QUOTES", "SYNTHETIC_DEFECT_SHARE", "SYNTHETIC_MISSING_SHARE", "WRDS_USERNAME",
)
GENERATOR_MANIFEST = "generator.json"


# ---------------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------------
def option_years(cfg: dict[str, Any]) -> list[int]:
    """Calendar years of the option window OPTIONS_START … OPTIONS_END."""
    return list(range(pd.Timestamp(cfg["OPTIONS_START"]).year, pd.Timestamp(cfg["OPTIONS_END"]).year + 1))


def raw_options_dir(paths: ProjectPaths, source: str) -> Path:
    return paths.raw / "options" / source


def interim_options_dir(paths: ProjectPaths) -> Path:
    return paths.interim / "options"


def raw_quote_path(paths: ProjectPaths, source: str, year: int) -> Path:
    return raw_options_dir(paths, source) / f"quotes_{year}.parquet"


def pull_options_targets(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Raw files of the pull: quotes_YYYY (and truth_YYYY for synthetic) per year, underlying.parquet."""
    source = cfg["OPTIONS_SOURCE"]
    folder = raw_options_dir(paths, source)
    targets = [raw_quote_path(paths, source, year) for year in option_years(cfg)]
    if source == "synthetic":
        targets += [folder / f"truth_{year}.parquet" for year in option_years(cfg)]
    return targets + [folder / "underlying.parquet"]


def filter_options_file_dep(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Inputs of :func:`filter_options`: the raw quote files of the window and the raw underlying."""
    source = cfg["OPTIONS_SOURCE"]
    return [raw_quote_path(paths, source, year) for year in option_years(cfg)] + [raw_options_dir(paths, source) / "underlying.parquet"]


def filter_options_targets(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Outputs of :func:`filter_options`."""
    folder = interim_options_dir(paths)
    years = option_years(cfg)
    return (
        [folder / f"quotes_filtered_{year}.parquet" for year in years]
        + [folder / f"smile_fit_{year}.parquet" for year in years]
        + [folder / "underlying.parquet", folder / "meta.json", paths.tables / "option_filters.csv"]
    )


# ---------------------------------------------------------------------------------------------------
# Pull
# ---------------------------------------------------------------------------------------------------
def pull_options(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Pull the raw option panel of OPTIONS_SOURCE (synthetic | wrds | files) into DATA_DIR/raw/options/<source>/."""
    source = cfg["OPTIONS_SOURCE"]
    folder = raw_options_dir(paths, source)
    if source == "synthetic":
        pull_synthetic_options(folder, SyntheticPanelSpec.from_settings(cfg))
    elif source == "wrds":
        from asset_pricing.sources.wrds_options import pull_wrds_options

        pull_wrds_options(folder, cfg)
    elif source == "files":
        from asset_pricing.sources.option_files import pull_option_files

        pull_option_files(paths.manual / "options", folder, cfg)
    else:  # settings restrict the choices; guard against a caller's dict
        raise DataValidationError(f"OPTIONS_SOURCE={source!r} is not one of synthetic | wrds | files.")
    return pull_options_targets(paths, cfg)


def pull_synthetic_options(folder: Path, spec: SyntheticPanelSpec) -> list[Path]:
    """Generate the synthetic panel year by year into ``folder`` (quotes, truth, underlying, generator.json).

    Years whose files exist and were made with the same spec are skipped; when the spec changed every
    year of the window is regenerated (files are replaced atomically, never deleted).
    """
    manifest_path = folder / GENERATOR_MANIFEST
    description = spec.describe()
    current = manifest_path.is_file() and json.loads(manifest_path.read_text(encoding="utf-8")) == description
    wanted = [
        year for year in spec.years
        if not (current and (folder / f"quotes_{year}.parquet").is_file() and (folder / f"truth_{year}.parquet").is_file())
    ]
    underlying_path = folder / "underlying.parquet"
    if not wanted and underlying_path.is_file():
        log.info("synthetic option panel in %s is current (%d years)", folder, len(spec.years))
        return sorted(folder.glob("quotes_*.parquet"))
    underlying, years = generate_synthetic_panel(spec, wanted)
    written = []
    for panel_year in tqdm(years, total=len(wanted), desc="synthetic option quotes", unit="year"):
        written.append(write_parquet(panel_year.quotes, folder / f"quotes_{panel_year.year}.parquet", index=False))
        written.append(write_parquet(panel_year.truth, folder / f"truth_{panel_year.year}.parquet", index=False))
    written.append(write_parquet(underlying, underlying_path))
    write_text(json.dumps(description, indent=2), manifest_path)
    return written


# ---------------------------------------------------------------------------------------------------
# Filter
# ---------------------------------------------------------------------------------------------------
def read_underlying(paths: ProjectPaths, cfg: dict[str, Any]) -> pd.DataFrame:
    """The checked raw underlying of OPTIONS_SOURCE (all its days; q = DIVIDEND_YIELD where missing)."""
    path = raw_options_dir(paths, cfg["OPTIONS_SOURCE"]) / "underlying.parquet"
    return validate_underlying(read_parquet(path), str(path), dividend_yield=float(cfg["DIVIDEND_YIELD"]))


def in_window(dates: pd.Series | pd.DatetimeIndex, cfg: dict[str, Any]) -> np.ndarray:
    """Mask of the dates inside OPTIONS_START … OPTIONS_END."""
    values = pd.DatetimeIndex(dates)
    return np.asarray((values >= cfg["OPTIONS_START"]) & (values <= cfg["OPTIONS_END"]))


def read_year_quotes(paths: ProjectPaths, cfg: dict[str, Any], year: int, underlying: pd.DataFrame) -> pd.DataFrame:
    """One raw year checked (schema, dates inside the year), clipped to the window, joined with the underlying.

    A missing or unreadable file raises :class:`DataValidationError` naming the year and the file. A raw
    file may hold days outside the window (a longer earlier pull); they are checked, then left out.
    """
    path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year)
    if not path.is_file():
        raise DataValidationError(f"option year {year}: {path} not found; run the option pull (OPTIONS_SOURCE={cfg['OPTIONS_SOURCE']}).")
    try:
        raw = read_parquet(path)
    except DataValidationError as exc:
        raise DataValidationError(f"option year {year}: {exc}") from exc
    quotes = validate_quotes(raw, underlying, str(path))
    check_quote_year(quotes, year, str(path))
    return attach_underlying(quotes[in_window(quotes["date"], cfg)], underlying)


def _finalize(quotes: pd.DataFrame, label: str) -> pd.DataFrame:
    """Contract columns, sorted by (date, cp_flag, exdate, strike_price), fresh index, data_source attrs."""
    final = quotes[list(FILTERED_QUOTE_COLUMNS)].reset_index(drop=True)
    final.attrs["data_source"] = label
    return final


def filter_options(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Apply the CJS filters to the raw option panel of OPTIONS_SOURCE (module docstring: the three passes)."""
    source = cfg["OPTIONS_SOURCE"]
    label = DATA_SOURCE_LABELS[source]
    years = option_years(cfg)
    underlying = read_underlying(paths, cfg)
    out_dir = interim_options_dir(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_count = 0
    removed = np.zeros(len(filters.FILTER_STEPS), dtype=np.int64)
    details: list[Counter] = [Counter() for _ in filters.FILTER_STEPS]
    smile_moments = filters.Moments.empty(filters.N_MONEYNESS_BINS)
    parity_moments = filters.Moments.empty()
    smile_fits: dict[int, pd.DataFrame] = {}

    def count(step: int, result: filters.FilterResult | filters.FilterRecord) -> None:
        removed[step - 1] += result.removed
        details[step - 1].update(result.detail)

    with tempfile.TemporaryDirectory(prefix=".filter_work_", dir=out_dir) as work_name:
        work = Path(work_name)
        for year in tqdm(years, desc="option filters 1/3: levels 1-2, smile fits", unit="year"):
            quotes = read_year_quotes(paths, cfg, year, underlying)
            raw_count += len(quotes)
            kept, records = filters.apply_level_1_2(quotes)
            for record in records:
                count(record.step, record)
            kept, smile_fits[year] = filters.add_smile_residuals(kept)
            smile_moments = smile_moments.merge(filters.smile_residual_moments(kept))
            write_parquet(kept, work / f"level2_{year}.parquet")
        for year in tqdm(years, desc="option filters 2/3: smile outliers", unit="year"):
            kept = filters.filter_smile_outliers(pd.read_parquet(work / f"level2_{year}.parquet"), smile_moments).kept
            parity_moments = parity_moments.merge(filters.parity_deviation_moments(kept))
        written = []
        for year in tqdm(years, desc="option filters 3/3: parity outliers", unit="year"):
            smile_result = filters.filter_smile_outliers(pd.read_parquet(work / f"level2_{year}.parquet"), smile_moments)
            count(9, smile_result)
            parity_result = filters.filter_parity_outliers(smile_result.kept, parity_moments)
            count(10, parity_result)
            written.append(write_parquet(_finalize(parity_result.kept, label), out_dir / f"quotes_filtered_{year}.parquet", index=False))
            fits = smile_fits[year]
            fits.attrs["data_source"] = label
            written.append(write_parquet(fits, out_dir / f"smile_fit_{year}.parquet", index=False))

    window_underlying = underlying[in_window(underlying.index, cfg)]
    window_underlying.attrs["data_source"] = label
    written.append(write_parquet(window_underlying, out_dir / "underlying.parquet"))
    meta = {
        "source": source,
        "label": label,
        "start": f"{pd.Timestamp(cfg['OPTIONS_START']):%Y-%m-%d}",
        "end": f"{pd.Timestamp(cfg['OPTIONS_END']):%Y-%m-%d}",
        "years": years,
        "smile_residual_bins": {"width": filters.MONEYNESS_BIN_WIDTH},
        "parity_deviation": {"mean": float(parity_moments.mean[0]), "sd": float(parity_moments.sd[0]), "pairs": int(parity_moments.count[0])},
    }
    written.append(write_text(json.dumps(meta, indent=2), out_dir / "meta.json"))
    table = filters.filter_table(raw_count, removed.tolist(), [dict(d) for d in details]).assign(data_source=label)
    written.append(write_csv(table, paths.tables / "option_filters.csv", index=False))
    log.info("option filters (%s):\n%s", label, table.drop(columns=["detail", "data_source"]).to_string(index=False))
    return written
