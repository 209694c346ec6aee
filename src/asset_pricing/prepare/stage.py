"""Prepare stage: raw prices and rates → ``data/interim`` (file and column names in docs/methods.md §1).

Writes ``daily_returns.parquet`` (wide, one column per ticker), ``market_daily_returns.parquet``
(column ``market``), ``market_vol_monthly.parquet`` (``sigma2, sigma, inv_sigma, inv_sigma2``) and
``rf_monthly.parquet`` (``rf_month``), each validated on the way in and written atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from asset_pricing import io
from asset_pricing.paths import ProjectPaths
from asset_pricing.prepare import equity
from asset_pricing.sources.pull import EquityRequest, raw_prices_path, raw_rf_path

log = logging.getLogger(__name__)

INTERIM_FILES = ("daily_returns.parquet", "market_daily_returns.parquet", "market_vol_monthly.parquet", "rf_monthly.parquet")


def prepare_targets(paths: ProjectPaths) -> list[Path]:
    return [paths.interim / name for name in INTERIM_FILES]


def prepare_equity(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Validate raw prices and rates, then write daily returns, market variance and monthly rf."""
    request = EquityRequest.from_settings(cfg)
    prices_file = raw_prices_path(paths, request.source)
    rf_file = raw_rf_path(paths, cfg["RF_SOURCE"])

    prices = io.read_parquet(prices_file)
    io.validate_date_index(prices.index, str(prices_file))
    assets, market = equity.select_columns(prices, list(request.tickers), request.market, str(prices_file))
    window = equity.select_window(assets.join(market.rename("__market__")), request.start, request.end, str(prices_file))
    io.validate_prices(window, str(prices_file))

    daily = equity.daily_simple_returns(window)
    daily.index.name = "date"
    asset_returns = daily.drop(columns="__market__")
    market_returns = daily[["__market__"]].rename(columns={"__market__": "market"})
    market_vol = equity.market_vol_table(market_returns["market"], cfg["MIN_DAYS"])
    if market_vol["sigma2"].notna().sum() == 0:
        raise io.DataValidationError(
            f"{prices_file}: the market {request.market!r} has no month with MIN_DAYS={cfg['MIN_DAYS']} valid returns."
        )

    rf_raw = io.read_parquet(rf_file)
    io.require_columns(rf_raw, ["rf_month"], str(rf_file))
    io.validate_date_index(rf_raw.index, str(rf_file))
    io.validate_numeric_frame(rf_raw[["rf_month"]], str(rf_file))
    rf = equity.monthly_rf_for_window(rf_raw, window.index.min(), window.index.max(), str(rf_file))

    log.info("prepared %d tickers, %s .. %s", asset_returns.shape[1], window.index.min().date(), window.index.max().date())
    outputs = [asset_returns, market_returns, market_vol, rf]
    return [io.write_parquet(df, target) for df, target in zip(outputs, prepare_targets(paths))]
