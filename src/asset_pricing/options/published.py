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


def hkm_ids() -> list[str]:
    """The 18 HKM identifiers, calls then puts, moneyness rising (``hkm_C_900`` … ``hkm_P_1100``)."""
    return [hkm_portfolio_id(cp, k) for cp in OPTION_TYPES for k in TARGET_MONEYNESS]


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
        cp_flag, moneyness = pid.split("_")[1], int(pid.split("_")[2]) / 1000
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
