"""Pricing stage: option portfolios + market, risk-free and capital factors → the pricing tables.

Reads:

- ``data/raw/published/hkm_published_options.parquet`` (the ``pull_published`` task): He, Kelly and
  Manela's (2017) 18 option portfolios (real quotes, 1986-04 … 2012-01) with their ``rf``, ``mkt_rf`` and
  ``intermediary_capital_risk_factor``;
- ``data/processed/options/hkm_portfolio_returns.parquet`` and ``cjs_portfolio_returns.parquet`` (this
  build's 18 HKM and 54 CJS portfolios; ``df.attrs["data_source"]`` names their quotes, e.g. synthetic);
- ``data/interim/market_daily_returns.parquet`` (``market``, compounded to calendar months) and
  ``rf_monthly.parquet`` (``rf_month``): this build's market and risk-free rate.

Test sets: ``published_hkm18`` is priced exactly as HKM ran it, with the file's own rf, ``mkt_rf`` and
capital factor; ``hkm18`` and ``cjs54`` with the build's market excess return and rf, and HKM's capital
factor on the months it covers (to 2012-12).

Writes ``_output/tables/option_pricing_time_series.csv``, ``option_pricing_cross_section.csv`` and
``option_pricing_fitted.csv`` (columns in :mod:`asset_pricing.pricing.tables`). Settings read:
PRICING_NW_LAGS, PRICING_GMM_LAGS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from asset_pricing import io
from asset_pricing.options.stage_portfolios import option_portfolio_targets
from asset_pricing.paths import ProjectPaths
from asset_pricing.pricing.panel import check_monthly_index, monthly_market_excess, wide_monthly_returns
from asset_pricing.pricing.tables import TestAssets, price_all
from asset_pricing.sources.published import CAPITAL_FACTOR, DESCRIPTION, OPTION_IDS, raw_published_path

log = logging.getLogger(__name__)

SETTINGS_READ = ("PRICING_NW_LAGS", "PRICING_GMM_LAGS")  # for doit's config_changed up-to-date check
TABLE_FILES = ("option_pricing_time_series.csv", "option_pricing_cross_section.csv", "option_pricing_fitted.csv")


def pricing_targets(paths: ProjectPaths) -> list[Path]:
    """Files written by :func:`build_pricing` (doit ``targets``): time series, cross-section, fitted means."""
    return [paths.tables / name for name in TABLE_FILES]


def pricing_inputs(paths: ProjectPaths) -> list[Path]:
    """Files read by :func:`build_pricing` (doit ``file_dep``)."""
    _, cjs_file, hkm_file = option_portfolio_targets(paths)
    return [raw_published_path(paths), hkm_file, cjs_file,
            paths.interim / "market_daily_returns.parquet", paths.interim / "rf_monthly.parquet"]


def published_test_assets(published: pd.DataFrame, name: str) -> TestAssets:
    """HKM's 18 published portfolios with the file's rf, market (``mkt_rf``) and capital factor."""
    io.require_columns(published, [*OPTION_IDS, "rf", "mkt_rf", CAPITAL_FACTOR], name)
    check_monthly_index(published.index, name)
    factors = pd.DataFrame({"market": published["mkt_rf"], "capital": published[CAPITAL_FACTOR]})
    return TestAssets("published_hkm18", published[list(OPTION_IDS)], published["rf"], factors, DESCRIPTION)


def build_test_assets(name: str, returns_long: pd.DataFrame, file: Path, rf: pd.Series, market_excess: pd.Series,
                      capital: pd.Series) -> TestAssets:
    """This build's portfolios (long file) with the build's rf and market and HKM's capital factor."""
    source = returns_long.attrs.get("data_source", f"this build's option quotes ({file.name} has no data_source label)")
    factors = pd.concat([market_excess.rename("market"), capital.rename("capital")], axis=1)
    return TestAssets(name, wide_monthly_returns(returns_long, str(file)), rf, factors, source)


def read_test_assets(paths: ProjectPaths) -> list[TestAssets]:
    """The three test sets from the stage's input files (module docstring); errors name the file and column."""
    published_file, hkm_file, cjs_file, market_file, rf_file = pricing_inputs(paths)
    published = io.read_parquet(published_file)
    published_set = published_test_assets(published, str(published_file))

    market_daily = io.read_parquet(market_file)
    io.require_columns(market_daily, ["market"], str(market_file))
    io.validate_date_index(market_daily.index, str(market_file))
    rf_table = io.read_parquet(rf_file)
    io.require_columns(rf_table, ["rf_month"], str(rf_file))
    check_monthly_index(rf_table.index, str(rf_file))
    rf = rf_table["rf_month"]
    market_excess = monthly_market_excess(market_daily["market"], rf)

    build_sets = [
        build_test_assets(name, io.read_parquet(file), file, rf, market_excess, published_set.factors["capital"])
        for name, file in (("hkm18", hkm_file), ("cjs54", cjs_file))
    ]
    return [published_set, *build_sets]


def build_pricing(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Stage: the time-series and two-pass tests of every test set on both factor sets → three CSV tables.

    Settings: PRICING_NW_LAGS (Newey–West lag of the alphas and J-tests: auto or a number),
    PRICING_GMM_LAGS (Bartlett lags in the GMM standard errors of λ; 0 as HKM).
    """
    tests = read_test_assets(paths)
    for test in tests:
        log.info("test assets %s: %d portfolios, %s", test.name, test.returns.shape[1], test.data_source)
    rows = price_all(tests, cfg["PRICING_NW_LAGS"], cfg["PRICING_GMM_LAGS"])
    frames = (rows.time_series, rows.cross_section, rows.fitted)
    return [io.write_csv(frame, target, index=False, date_format="%Y-%m-%d") for frame, target in zip(frames, pricing_targets(paths))]
