"""He, Kelly and Manela's published option portfolios and factors, shipped with the package (real data).

The file ``sources/data/hkm_published_options.csv`` holds the columns of the authors' public data file
``He_Kelly_Manela_Factors_And_Test_Assets_monthly.csv`` (zip ``He_Kelly_Manela_Factors.zip`` on Asaf
Manela's web site) that concern the option study, unchanged:

- ``yyyymm``: month, integer YYYYMM, 1970-01 … 2012-12;
- ``mkt_rf``, ``smb``, ``hml``, ``rf``: Fama–French monthly factors and the one-month T-bill (fractions);
- ``intermediary_capital_ratio``: HKM's primary-dealer capital ratio (level);
- ``intermediary_capital_risk_factor``: HKM's intermediary capital risk factor (innovations of the
  capital ratio scaled by its lagged level, a traded-factor-like monthly fraction; HKM 2017 §2);
- ``Options_01`` … ``Options_09``: the leverage-adjusted **call** portfolios at moneyness 0.900, 0.925,
  …, 1.100, each the equal-weight mean of the 30-, 60- and 90-day portfolios of Constantinides,
  Jackwerth and Savov (2013); ``Options_10`` … ``Options_18``: the **put** portfolios, same moneyness.
  Monthly total returns (not excess), fractions, 1986-04 … 2012-01 (310 months, none missing).

:func:`load_hkm_published` returns it with a month-end index and the option columns renamed to this
project's HKM identifiers (``hkm_C_900`` … ``hkm_P_1100``, moneyness × 1000); :func:`pull_published`
writes that frame to ``data/raw/published/`` so the later stages read it like any other pull.

Citation and terms (stated by the authors): free for non-commercial use, provided as is; cite
He, Z., B. Kelly and A. Manela (2017), "Intermediary asset pricing: New evidence from many asset
classes", Journal of Financial Economics 126(1), 1–35, and, for the option returns, Constantinides,
G. M., J. C. Jackwerth and A. Savov (2013), "The puzzle of index option returns", Review of Asset
Pricing Studies 3(2), 229–257.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asset_pricing.io import DataValidationError, require_columns, write_parquet, write_text
from asset_pricing.paths import ProjectPaths, raw_published_path

log = logging.getLogger(__name__)

PUBLISHED_FILE = "hkm_published_options.csv"
CITATION = (
    "He, Kelly and Manela (2017), 'Intermediary asset pricing: New evidence from many asset classes', "
    "Journal of Financial Economics 126(1), 1-35; option portfolios built by Constantinides, Jackwerth and "
    "Savov (2013), 'The puzzle of index option returns', Review of Asset Pricing Studies 3(2), 229-257."
)
TERMS = "Free for non-commercial use, provided as is, cite the papers (terms stated by the authors)."
DESCRIPTION = "He-Kelly-Manela (2017) published option portfolios (real quotes, built by CJS 2013)"
FACTOR_COLUMNS: tuple[str, ...] = ("mkt_rf", "smb", "hml", "rf", "intermediary_capital_ratio", "intermediary_capital_risk_factor")
MONEYNESS_PER_MILLE: tuple[int, ...] = (900, 925, 950, 975, 1000, 1025, 1050, 1075, 1100)
OPTION_IDS: tuple[str, ...] = tuple(f"hkm_{cp}_{k}" for cp in ("C", "P") for k in MONEYNESS_PER_MILLE)
AUTHORS_OPTION_COLUMNS: tuple[str, ...] = tuple(f"Options_{i:02d}" for i in range(1, 19))
CAPITAL_FACTOR = "intermediary_capital_risk_factor"


def packaged_file() -> Path:
    """Path of the CSV shipped inside the package (``asset_pricing/sources/data/``)."""
    return Path(str(resources.files("asset_pricing.sources").joinpath("data", PUBLISHED_FILE)))


def parse_hkm_published(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """The authors' columns → month-end index ``date``, factors, and the 18 option series as ``hkm_C_900`` …

    ``Options_01``…``09`` are the calls and ``10``…``18`` the puts, moneyness 0.900 … 1.100 in steps of
    0.025 (the order HKM publish; checked in the tests: call betas fall with moneyness, put means fall).
    Errors name ``name`` (the file) and the column.
    """
    require_columns(raw, ["yyyymm", *FACTOR_COLUMNS, *AUTHORS_OPTION_COLUMNS], name)
    yyyymm = pd.to_numeric(raw["yyyymm"], errors="coerce")
    month = yyyymm % 100
    bad = yyyymm.isna() | (month < 1) | (month > 12) | (yyyymm != yyyymm.round())
    if bad.any():
        raise DataValidationError(f"{name}: column 'yyyymm' must hold integer months YYYYMM, found {raw['yyyymm'][bad].iloc[0]!r}.")
    periods = pd.PeriodIndex.from_fields(year=(yyyymm // 100).astype(int), month=month.astype(int), freq="M")
    index = periods.to_timestamp(how="end").normalize().rename("date")
    if index.has_duplicates:
        raise DataValidationError(f"{name}: month {index[index.duplicated()][0]:%Y-%m} appears twice in column 'yyyymm'.")
    values = {}
    for column in [*FACTOR_COLUMNS, *AUTHORS_OPTION_COLUMNS]:
        numbers = pd.to_numeric(raw[column], errors="coerce")
        text = numbers.isna() & raw[column].notna()
        if text.any():
            raise DataValidationError(f"{name}: column '{column}' holds a non-number {raw[column][text].iloc[0]!r}.")
        values[column] = numbers.to_numpy(dtype=np.float64)
    frame = pd.DataFrame(values, index=index).sort_index()
    frame = frame.rename(columns=dict(zip(AUTHORS_OPTION_COLUMNS, OPTION_IDS)))
    frame.attrs["data_source"] = DESCRIPTION
    return frame


def load_hkm_published(path: str | Path | None = None) -> pd.DataFrame:
    """HKM's published monthly factors and 18 option portfolios (module docstring), from the packaged file.

    Returns
    -------
    DataFrame indexed by month-end ``date`` (1970-01-31 … 2012-12-31) with columns :data:`FACTOR_COLUMNS`
    and :data:`OPTION_IDS` (monthly total returns, fractions; NaN outside 1986-04 … 2012-01).
    """
    source = Path(path) if path is not None else packaged_file()
    if not source.is_file():
        raise FileNotFoundError(f"{source}: file not found (the package ships it; reinstall with `pip install -e .`).")
    return parse_hkm_published(pd.read_csv(source), str(source))


def published_option_returns(published: pd.DataFrame) -> pd.DataFrame:
    """The 18 option series in long form: ``portfolio_id``, ``date`` (month end), ``return`` — the layout
    of this project's ``hkm_portfolio_returns.parquet``; months without a published return are left out."""
    require_columns(published, OPTION_IDS, "published HKM series")
    long = published[list(OPTION_IDS)].rename_axis("date").reset_index().melt(id_vars="date", var_name="portfolio_id", value_name="return")
    return long.dropna(subset=["return"])[["portfolio_id", "date", "return"]].reset_index(drop=True)


def pull_published(paths: ProjectPaths, cfg: dict[str, Any] | None = None) -> list[Path]:
    """Write the packaged HKM series (checked, tidy) to data/raw/published/, with a provenance JSON."""
    source = packaged_file()
    published = load_hkm_published(source)
    target = raw_published_path(paths)
    written = [write_parquet(published, target)]
    provenance = {
        "source": "package data asset_pricing/sources/data/" + PUBLISHED_FILE,
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "citation": CITATION,
        "terms": TERMS,
        "option_months": [f"{published[list(OPTION_IDS)].dropna(how='all').index[i]:%Y-%m}" for i in (0, -1)],
    }
    written.append(write_text(json.dumps(provenance, indent=2), target.with_suffix(".json")))
    return written
