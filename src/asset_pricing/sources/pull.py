"""Pull stage: fetch raw data from the configured source into ``data/raw`` (immutable).

A raw file is never deleted by ``doit clean`` nor by a failed pull (writes are atomic). An existing raw
file that already covers the request is kept as it is: re-pulling is an explicit choice (delete the file,
or change the request, e.g. ``TICKERS``). The embedded source stores its whole dataset; the window and
tickers are applied by the prepare stage.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

import settings as project_settings
from asset_pricing import io
from asset_pricing.paths import ProjectPaths
from asset_pricing.sources import embedded

log = logging.getLogger(__name__)

DEFAULT_MARKET = {"embedded": embedded.EMBEDDED_MARKET, "yahoo": "^GSPC", "files": "MARKET"}
EQUITY_DESCRIPTION = {
    "embedded": embedded.EQUITY_DESCRIPTION,
    "yahoo": "Yahoo Finance adjusted closes (yfinance)",
    "files": "user files data/manual/prices.(csv|parquet)",
}
RF_DESCRIPTION = {
    "embedded": embedded.RF_DESCRIPTION,
    "fred": "FRED TB3MS 3-month T-bill, rf_month = TB3MS/100/12",
    "files": "user file data/manual/rf.(csv|parquet)",
}


@dataclass(frozen=True)
class EquityRequest:
    """What the equity pull must cover, resolved from settings (source defaults filled in)."""

    source: str
    tickers: tuple[str, ...]
    market: str
    start: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def from_settings(cls, cfg: dict[str, Any]) -> "EquityRequest":
        source = cfg["EQUITY_SOURCE"]
        tickers = tuple(cfg["TICKERS"]) or (tuple(project_settings.MAG7_TICKERS) if source == "yahoo" else ())
        market = cfg["MARKET_TICKER"] or DEFAULT_MARKET[source]
        return cls(source, tickers, market, cfg["START_DATE"], cfg["END_DATE"])


def raw_prices_path(paths: ProjectPaths, source: str) -> Path:
    return paths.raw / "equity" / f"prices_{source}.parquet"


def raw_rf_path(paths: ProjectPaths, source: str) -> Path:
    return paths.raw / "rf" / f"rf_{source}.parquet"


def _covers(existing: pd.DataFrame, request: EquityRequest) -> bool:
    """Whether an existing raw price file already holds the request's columns and window."""
    needed = set(request.tickers) | {request.market}
    if not needed.issubset(existing.columns):
        return False
    if request.source == "embedded":
        return True
    return existing.index.min() <= request.start + pd.Timedelta(days=7) and existing.index.max() >= request.end - pd.Timedelta(days=7)


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    meta = {**meta, "pulled_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    io.write_text(json.dumps(meta, indent=2, default=str), path.with_suffix(".json"))


def pull_equity(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Fetch daily adjusted closes for the request into ``data/raw/equity/prices_<source>.parquet``."""
    request = EquityRequest.from_settings(cfg)
    target = raw_prices_path(paths, request.source)
    if target.exists() and _covers(io.read_parquet(target), request):
        log.info("raw prices %s already cover the request; not pulled again (delete it to re-pull)", target)
        return [target]
    if request.source == "embedded":
        prices = embedded.load_prices()
    elif request.source == "yahoo":
        from asset_pricing.sources.yahoo import fetch_yahoo_prices

        prices = fetch_yahoo_prices(list(request.tickers), request.market, request.start, request.end)
    else:
        from asset_pricing.sources.files import read_manual_prices

        prices = read_manual_prices(paths.manual)
    io.validate_prices(prices, f"{request.source} prices")
    io.write_parquet(prices, target)
    _write_meta(target, {"source": request.source, "description": EQUITY_DESCRIPTION[request.source],
                         "columns": list(prices.columns), "first": prices.index.min(), "last": prices.index.max()})
    return [target]


def pull_rf(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Fetch the monthly risk-free rate into ``data/raw/rf/rf_<source>.parquet`` (column ``rf_month``)."""
    source = cfg["RF_SOURCE"]
    target = raw_rf_path(paths, source)
    if target.exists():
        existing = io.read_parquet(target)
        first, last = existing.index.min().to_period("M"), existing.index.max().to_period("M")
        if source == "embedded" or (first <= cfg["START_DATE"].to_period("M") and last >= cfg["END_DATE"].to_period("M")):
            log.info("raw risk-free rate %s already covers the request; not pulled again", target)
            return [target]
    if source == "embedded":
        rf = embedded.load_rf_monthly()
    elif source == "fred":
        from asset_pricing.sources.fred import fetch_fred_rf

        rf = fetch_fred_rf(cfg["START_DATE"], cfg["END_DATE"])
    else:
        from asset_pricing.sources.files import read_manual_rf

        rf = read_manual_rf(paths.manual)
    io.require_columns(rf, ["rf_month"], f"{source} risk-free rate")
    io.validate_date_index(rf.index, f"{source} risk-free rate")
    io.write_parquet(rf, target)
    _write_meta(target, {"source": source, "description": RF_DESCRIPTION[source],
                         "first": rf.index.min(), "last": rf.index.max()})
    return [target]
