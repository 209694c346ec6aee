"""Small quote panels in the project's layouts, shared by the option tests (not a test module).

- :func:`make_underlying`, :func:`make_quotes`: quotes as the portfolio stage reads them (docs/methods.md §4),
  priced by Black–Scholes at a flat volatility unless a row gives its mid;
- :func:`make_prepared_quotes`, :func:`quote`: raw OptionMetrics-layout rows checked and prepared as the
  filters read them (docs/methods.md §3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from asset_pricing.options import portfolios as pf
from asset_pricing.options import schema
from asset_pricing.options.bsm import bs_price

NO_FITS = pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("date", "exdate") else "float64") for c in pf.SMILE_COLUMNS})


def make_underlying(dates, closes, rf_annual=0.03, q=0.0) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(dates), name="date")
    return pd.DataFrame({"close": np.asarray(closes, float), "rf_annual": rf_annual, "r": np.log1p(rf_annual), "q": q}, index=index)


def make_quotes(rows: list[dict], underlying: pd.DataFrame, sigma: float = 0.2) -> pd.DataFrame:
    """Quotes from rows (date, exdate, cp_flag, strike, optionid[, mid, impl_volatility]) priced by BS at ``sigma``."""
    frame = pd.DataFrame(rows)
    frame["date"] = pd.to_datetime(frame["date"])
    frame["exdate"] = pd.to_datetime(frame["exdate"])
    frame = frame.join(underlying, on="date")
    frame["tau_days"] = (frame["exdate"] - frame["date"]).dt.days.astype("int64")
    frame["T"] = frame["tau_days"] / 365.0
    frame["moneyness"] = frame["strike"] / frame["close"]
    if "impl_volatility" not in frame:
        frame["impl_volatility"] = sigma
    frame["impl_volatility"] = frame["impl_volatility"].fillna(sigma)
    model = bs_price(frame["close"], frame["strike"], frame["T"], frame["r"], frame["q"], frame["impl_volatility"], frame["cp_flag"] == "C")
    frame["mid"] = frame["mid"].fillna(pd.Series(model, index=frame.index)) if "mid" in frame else model
    frame["cp_flag"] = pd.Categorical(frame["cp_flag"], categories=["C", "P"])
    frame["optionid"] = frame["optionid"].astype("int64")
    return frame


def make_prepared_quotes(rows: list[dict], close: float = 100.0, rf_annual: float = math.expm1(0.04), q: float = 0.02) -> pd.DataFrame:
    """Prepared quotes from rows with date, exdate, cp_flag, strike (points), best_bid, best_offer[, impl_volatility]."""
    frame = pd.DataFrame(rows)
    frame["strike_price"] = (frame.pop("strike") * 1000).round().astype("int64")
    defaults = {"secid": 108105, "volume": 0, "open_interest": 0, "impl_volatility": 0.2, "delta": np.nan}
    for column, value in defaults.items():
        if column not in frame:
            frame[column] = value
    if "optionid" not in frame:
        frame["optionid"] = np.arange(len(frame)) + 1
    dates = pd.DatetimeIndex(sorted(pd.to_datetime(frame["date"]).unique()), name="date")
    underlying = schema.validate_underlying(pd.DataFrame({"close": close, "rf_annual": rf_annual, "q": q}, index=dates), "underlying")
    return schema.attach_underlying(schema.validate_quotes(frame, underlying, "hand-made"), underlying)


def quote(exdate: str = "2010-02-19", cp: str = "C", strike: float = 100.0, bid: float = 5.0, offer: float = 5.2, iv: float = 0.2, date: str = "2010-01-04", **extra) -> dict:
    return {"date": date, "exdate": exdate, "cp_flag": cp, "strike": strike, "best_bid": bid, "best_offer": offer, "impl_volatility": iv, **extra}
