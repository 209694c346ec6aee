"""This build's 18 HKM series beside the ones He, Kelly and Manela (2017) published (docs/methods.md §6.3).

HKM's published option portfolios were built by Constantinides, Jackwerth and Savov (2013) from real
OptionMetrics quotes, 1986-04 … 2012-01. The comparison is like with like: the months where both series
have a return (1996-01 … 2012-01 on the default build), the same market and risk-free rate for both —
the published file's ``mkt_rf`` and ``rf`` (Fama–French), the only ones defined for both on those months.

Per HKM portfolio, for the published series and for this build:

- mean and standard deviation (ddof = 1) of the monthly return;
- beta: OLS slope of the monthly excess return R − rf on ``mkt_rf``; residual sd: standard deviation of
  that regression's residuals (ddof = 2, the intercept and the slope); R²: 1 − SSR/SST of it;
- skewness of the monthly excess return (sample skewness with the small-sample adjustment, as pandas);
- when this build's quotes are real (``wrds`` or ``files``), the replication check: correlation of the
  two monthly series and the tracking error sd(R_build − R_published) (monthly, ddof = 1). On the
  synthetic default both are left empty: a synthetic panel simulated on the real index path correlates
  with the published series through the index alone, which says nothing about replication.

Pure functions; the stage (:mod:`asset_pricing.options.stage_portfolios`) reads and writes the files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asset_pricing.io import require_columns
from asset_pricing.options.portfolios import OPTION_TYPES, TARGET_MONEYNESS, hkm_portfolio_id

COMPARISON_COLUMNS: tuple[str, ...] = (
    "portfolio_id", "cp_flag", "moneyness", "first_month", "last_month", "months",
    "mean_published", "mean_build", "sd_published", "sd_build", "sd_ratio",
    "beta_published", "beta_build", "resid_sd_published", "resid_sd_build", "r2_published", "r2_build",
    "skew_published", "skew_build", "correlation", "tracking_error", "data_source",
)
MARKET_COLUMNS: tuple[str, ...] = ("mkt_rf", "rf")
MONTH_CUT_COLUMNS: tuple[str, ...] = (
    "portfolio_id", "cp_flag", "moneyness", "first_month", "last_month", "months",
    "first_to_last", "first_to_last_t", "first_day", "first_day_t", "resid_sd", "resid_sd_mkt_rf",
)


def hkm_ids() -> list[str]:
    """The 18 HKM identifiers, calls then puts, moneyness rising (``hkm_C_900`` … ``hkm_P_1100``)."""
    return [hkm_portfolio_id(cp, k) for cp in OPTION_TYPES for k in TARGET_MONEYNESS]


def hkm_type_and_moneyness(portfolio_id: str) -> tuple[str, float]:
    """``hkm_P_975`` → ("P", 0.975)."""
    _, cp_flag, moneyness = portfolio_id.split("_")
    return cp_flag, int(moneyness) / 1000


def series_facts(returns: pd.DataFrame, market_excess: pd.Series, rf: pd.Series) -> pd.DataFrame:
    """Mean, sd, beta, residual sd, R² and skewness of each column of monthly total ``returns`` (rows = months).

    beta = Cov(R − rf, market_excess) / Var(market_excess) (OLS slope with an intercept); the residuals
    u = (R − rf) − mean − beta·(market_excess − its mean) give resid_sd = √(Σu² / (n − 2)) and
    r2 = 1 − Σu² / Σ(R − rf − mean)²; skewness is that of R − rf. Every input must cover the same months
    without NaN (the caller aligns them).
    """
    excess = returns.sub(rf, axis=0)
    market = market_excess - market_excess.mean()
    centered = excess.sub(excess.mean())
    beta = centered.mul(market, axis=0).sum() / (market**2).sum()
    residual = centered - np.outer(market.to_numpy(), beta.to_numpy())
    ssr = (residual**2).sum()
    return pd.DataFrame({
        "mean": returns.mean(), "sd": returns.std(ddof=1), "beta": beta, "resid_sd": np.sqrt(ssr / (len(excess) - 2)),
        "r2": 1.0 - ssr / (centered**2).sum(), "skew": excess.skew(),
    })


def compare_with_published(
    build: pd.DataFrame, published: pd.DataFrame, *, real_quotes: bool, data_source: str
) -> pd.DataFrame:
    """One row per HKM portfolio: this build beside the published series on the months both cover.

    Parameters
    ----------
    build : this build's HKM series in long form (``portfolio_id``, ``date`` = month end, ``return``).
    published : the published file's frame (month-end index; ``mkt_rf``, ``rf`` and the 18 HKM ids).
    real_quotes : whether this build's quotes are real (adds correlation and tracking error).
    data_source : label of this build's quotes, written in every row.

    Returns
    -------
    Columns :data:`COMPARISON_COLUMNS`. A portfolio with fewer than three common months has NaN
    statistics (``months`` says how many there are), e.g. a WRDS window that starts after 2012-01.
    """
    ids = hkm_ids()
    require_columns(build, ["portfolio_id", "date", "return"], "HKM monthly returns")
    require_columns(published, [*MARKET_COLUMNS, *ids], "published HKM series")
    wide = build.pivot_table(index="date", columns="portfolio_id", values="return", aggfunc="first").reindex(columns=ids)
    rows = []
    for pid in ids:
        both = pd.concat({"build": wide[pid], "published": published[pid], "mkt_rf": published["mkt_rf"], "rf": published["rf"]}, axis=1).dropna()
        cp_flag, moneyness = hkm_type_and_moneyness(pid)
        row = {"portfolio_id": pid, "cp_flag": cp_flag, "moneyness": moneyness, "months": len(both), "data_source": data_source}
        if len(both) >= 3:
            facts = series_facts(both[["published", "build"]], both["mkt_rf"], both["rf"])
            gap = both["build"] - both["published"]
            row.update(
                first_month=f"{both.index[0]:%Y-%m}", last_month=f"{both.index[-1]:%Y-%m}",
                **{f"{stat}_{side}": facts.loc[side, stat] for stat in ("mean", "sd", "beta", "resid_sd", "r2", "skew") for side in ("published", "build")},
                sd_ratio=facts.loc["build", "sd"] / facts.loc["published", "sd"],
                correlation=float(np.corrcoef(both["build"], both["published"])[0, 1]) if real_quotes else np.nan,
                tracking_error=float(gap.std(ddof=1)) if real_quotes else np.nan,
            )
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(COMPARISON_COLUMNS))


def index_month_pieces(close: pd.Series) -> pd.DataFrame:
    """Two returns of the index per calendar month (docs/methods.md §4.5), from its daily closes.

    ``first_to_last`` = close on the month's last trading day / close on its first − 1; ``first_day`` =
    close on the month's first trading day / close on the previous month's last − 1 (NaN for the first
    month of ``close``). Indexed by month end; (1 + first_day)(1 + first_to_last) − 1 is the calendar month.
    """
    close = close.dropna().sort_index()
    month_end = pd.DatetimeIndex(close.index).to_period("M").to_timestamp(how="end").normalize()
    by_month = close.groupby(month_end)
    first, last = by_month.first(), by_month.last()
    return pd.DataFrame({"first_to_last": last / first - 1.0, "first_day": first / last.shift(1) - 1.0})


def month_cut_loadings(returns: pd.DataFrame, rf: pd.Series, index_pieces: pd.DataFrame, mkt_rf: pd.Series) -> pd.DataFrame:
    """Which days a monthly series compounds, read from its returns (docs/methods.md §4.5).

    For each column of monthly total ``returns``: OLS of R − rf on a constant, the index's
    ``first_to_last`` and ``first_day`` returns (:func:`index_month_pieces`), on the months all cover. A
    series that compounds the whole calendar month loads on both about equally (its beta); one cut from
    the first to the last trading day loads on ``first_day`` with about 0. t-statistics are the usual OLS
    ones (homoskedastic, n − 3 degrees of freedom); ``resid_sd`` is that regression's residual sd and
    ``resid_sd_mkt_rf`` the one of R − rf on a constant and ``mkt_rf`` (n − 2), for comparison.
    """
    require_columns(index_pieces, ["first_to_last", "first_day"], "index month pieces")
    rows = []
    for pid in returns.columns:
        both = pd.concat({"r": returns[pid], "rf": rf, "mkt_rf": mkt_rf, "ftl": index_pieces["first_to_last"],
                          "fd": index_pieces["first_day"]}, axis=1).dropna()
        row: dict[str, object] = {"portfolio_id": pid, "months": len(both)}
        if pid.startswith("hkm_"):
            row.update(zip(("cp_flag", "moneyness"), hkm_type_and_moneyness(pid)))
        if len(both) >= 6:
            y = (both["r"] - both["rf"]).to_numpy()
            X = np.column_stack([np.ones(len(both)), both["ftl"].to_numpy(), both["fd"].to_numpy()])
            coef, *_ = np.linalg.lstsq(X, y, rcond=None)
            resid = y - X @ coef
            scale = resid @ resid / (len(y) - 3)
            se = np.sqrt(np.diag(scale * np.linalg.inv(X.T @ X)))
            row.update(
                first_month=f"{both.index[0]:%Y-%m}", last_month=f"{both.index[-1]:%Y-%m}",
                first_to_last=coef[1], first_to_last_t=coef[1] / se[1], first_day=coef[2], first_day_t=coef[2] / se[2],
                resid_sd=float(np.sqrt(scale)),
                resid_sd_mkt_rf=float(series_facts(both[["r"]], both["mkt_rf"], both["rf"]).loc["r", "resid_sd"]),
            )
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(MONTH_CUT_COLUMNS))
