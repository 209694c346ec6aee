"""Equal-weight, common-volatility and one-factor strategy returns, weights and turnover (docs/methods.md §2.4).

In month t an asset is *investable* when it has a return R_{i,t} and a lagged one-factor exposure
x_{i,t−1}; the equal weights w_{i,t} = 1/N_t spread over the N_t investable assets (docs/methods.md §2.3:
an asset without history neither counts nor keeps a weight). The same weights serve all three
strategies, so they hold the same assets every month:

- EW:         R^{ew}_t = Σ_i w_{i,t} R_{i,t},                  excess = R^{ew}_t − rf_t
- common:     excess = x_{t−1} Σ_i w_{i,t} (R_{i,t} − rf_t)
- one-factor: excess = Σ_i w_{i,t} x_{i,t−1} (R_{i,t} − rf_t)
- total = excess + rf_t.

A month with no investable asset (or, for common, no lagged market exposure) is NaN. All returns are
monthly simple fractions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STRATEGY_COLUMNS = ("rf", "ew", "ew_excess", "common_excess", "common_total", "onefactor_excess", "onefactor_total")
STRATEGIES = ("ew", "common", "onefactor")


def investable_assets(monthly_returns: pd.DataFrame, exposure_lagged: pd.DataFrame) -> pd.DataFrame:
    """True where asset i has both a return in month t and a lagged exposure x_{i,t−1}."""
    exposure = exposure_lagged.reindex(index=monthly_returns.index, columns=monthly_returns.columns)
    return monthly_returns.notna() & exposure.notna()


def equal_weights(investable: pd.DataFrame) -> pd.DataFrame:
    """w_{i,t} = 1/N_t over the investable assets of month t, 0 elsewhere (all 0 when N_t = 0)."""
    count = investable.sum(axis=1)
    return investable.astype(float).div(count.where(count > 0), axis=0).fillna(0.0)


def equal_weight_excess_returns(
    monthly_returns: pd.DataFrame, rf: pd.Series, exposure_assets_lagged: pd.DataFrame
) -> pd.Series:
    """f_t = Σ_i w_{i,t} (R_{i,t} − rf_t): the unmanaged excess return that the common strategy scales."""
    no_market_exposure = pd.Series(1.0, index=monthly_returns.index)
    table = strategy_returns(monthly_returns, rf, no_market_exposure, exposure_assets_lagged)
    return table["common_excess"].rename("ew_excess")


def strategy_returns(
    monthly_returns: pd.DataFrame,
    rf: pd.Series,
    exposure_common_lagged: pd.Series,
    exposure_assets_lagged: pd.DataFrame,
) -> pd.DataFrame:
    """Monthly returns of the three strategies (columns ``STRATEGY_COLUMNS``).

    Parameters
    ----------
    monthly_returns
        R_{i,t}, monthly simple returns of the assets at calendar month-ends.
    rf
        rf_t, monthly simple risk-free rate; months without it are left out.
    exposure_common_lagged
        x_{t−1}, the market-variance exposure formed at the end of the previous month.
    exposure_assets_lagged
        x_{i,t−1}, the own-variance exposures of the assets, formed at the end of the previous month.
    """
    months = monthly_returns.index.intersection(rf.dropna().index)
    returns = monthly_returns.loc[months]
    rf_month = rf.reindex(months).rename("rf")
    asset_exposure = exposure_assets_lagged.reindex(index=months, columns=returns.columns)
    common_exposure = exposure_common_lagged.reindex(months)

    investable = investable_assets(returns, asset_exposure)
    weights = equal_weights(investable)
    has_assets = investable.any(axis=1)
    asset_excess = returns.sub(rf_month, axis=0).where(investable, 0.0)

    ew = (returns.where(investable, 0.0) * weights).sum(axis=1).where(has_assets)
    ew_sleeve_excess = (asset_excess * weights).sum(axis=1).where(has_assets)
    common_excess = common_exposure * ew_sleeve_excess
    onefactor_excess = (asset_excess * weights * asset_exposure.where(investable, 0.0)).sum(axis=1).where(has_assets)
    table = pd.DataFrame({
        "rf": rf_month,
        "ew": ew,
        "ew_excess": ew - rf_month,
        "common_excess": common_excess,
        "common_total": common_excess + rf_month,
        "onefactor_excess": onefactor_excess,
        "onefactor_total": onefactor_excess + rf_month,
    })
    table.index.name = "date"
    return table


def sleeve_positions(
    monthly_returns: pd.DataFrame,
    rf: pd.Series,
    exposure_common_lagged: pd.Series,
    exposure_assets_lagged: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """Position of each strategy in each asset during month t, per unit of capital (0 when not held).

    ew: w_{i,t}; common: x_{t−1} w_{i,t}; one-factor: x_{i,t−1} w_{i,t} (the weights of
    :func:`strategy_returns`). A month in which a strategy is undefined holds nothing.
    """
    months = monthly_returns.index.intersection(rf.dropna().index)
    returns = monthly_returns.loc[months]
    asset_exposure = exposure_assets_lagged.reindex(index=months, columns=returns.columns)
    weights = equal_weights(investable_assets(returns, asset_exposure))
    common_exposure = exposure_common_lagged.reindex(months)
    return {
        "ew": weights,
        "common": weights.mul(common_exposure, axis=0).fillna(0.0),
        "onefactor": (weights * asset_exposure).fillna(0.0),
    }


def turnover(positions: pd.DataFrame) -> pd.Series:
    """Monthly turnover Σ_i |p_{i,t} − p_{i,t−1}|: the exposure traded at the start of month t.

    Units: fraction of capital per month (one-way; a cost of c per unit traded costs c · turnover).
    Drift of the positions within a month is ignored; a new position is bought in full (previous 0).
    """
    previous = positions.shift(1).fillna(0.0)
    return (positions - previous).abs().sum(axis=1).rename("turnover")


def strategy_diagnostics(
    monthly_returns: pd.DataFrame,
    rf: pd.Series,
    exposure_common_lagged: pd.Series,
    exposure_assets_lagged: pd.DataFrame,
) -> pd.DataFrame:
    """Per month: number of investable assets, exposure of each strategy to its risky sleeve, turnover.

    Columns ``n_assets``, ``exposure_{ew,common,onefactor}`` (Σ_i of the positions, NaN when the
    strategy is undefined) and ``turnover_{ew,common,onefactor}``.
    """
    positions = sleeve_positions(monthly_returns, rf, exposure_common_lagged, exposure_assets_lagged)
    n_assets = (positions["ew"] > 0).sum(axis=1)
    defined = n_assets > 0
    common_defined = defined & exposure_common_lagged.reindex(n_assets.index).notna()
    columns = {"n_assets": n_assets}
    for name, held in (("ew", defined), ("common", common_defined), ("onefactor", defined)):
        columns[f"exposure_{name}"] = positions[name].sum(axis=1).where(held)
    for name in STRATEGIES:
        columns[f"turnover_{name}"] = turnover(positions[name])
    table = pd.DataFrame(columns)
    table.index.name = "date"
    return table.astype({"n_assets": np.int64})
