"""Test-asset panels: excess returns, monthly factors, and the balanced panel every test runs on.

Conventions: months are calendar months labelled by their last calendar day; returns, the risk-free rate
and factors are monthly simple fractions; excess return rx_t = R_t − rf_t.

The rule for missing months (one rule for every test): a test of N portfolios on K factors runs on the
**balanced panel**, the months of the test set's window (months where at least one portfolio has a
return) in which all N returns, rf and all K factors have a value. Window months without rf or a factor
(e.g. after the capital factor ends in 2012-12) and months with a missing return inside a series are
dropped for all portfolios of the test and counted separately (:meth:`BalancedPanel.summary`, logged by
the stage and written to the tables). The months kept are treated as consecutive observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from asset_pricing.io import DataValidationError, require_columns, validate_date_index
from asset_pricing.options.portfolios import portfolio_targets
from asset_pricing.prepare.equity import compound_monthly


class PricingInputError(DataValidationError):
    """A pricing test cannot run on its input; the message names the test set, factor, column or setting."""


def _span(index: pd.Index) -> str:
    return f"{index.min():%Y-%m} … {index.max():%Y-%m}" if len(index) else "no month"


def check_monthly_index(index: pd.Index, name: str) -> None:
    """A sorted, unique DatetimeIndex of calendar month ends, or an error naming ``name`` and the first bad date."""
    validate_date_index(index, name)
    not_month_end = index != index + pd.offsets.MonthEnd(0)
    if not_month_end.any():
        raise PricingInputError(f"{name}: dates must be calendar month ends, found {index[not_month_end][0]:%Y-%m-%d}.")


def portfolio_order(portfolio_ids: pd.Index) -> list[str]:
    """Portfolio ids in construction order: CJS ids, then HKM ids (calls then puts, moneyness rising);
    unknown ids follow in sorted order."""
    targets = portfolio_targets()
    known = list(targets["portfolio_id"]) + list(dict.fromkeys(targets["hkm_id"]))
    present = set(portfolio_ids)
    return [p for p in known if p in present] + sorted(present - set(known))


def wide_monthly_returns(long: pd.DataFrame, name: str) -> pd.DataFrame:
    """Long (``portfolio_id``, ``date``, ``return``) → wide (month end × portfolio), construction order.

    Errors name ``name`` (the file) and the column: missing columns, a duplicated (portfolio, month),
    dates that are not month ends, infinite returns.
    """
    require_columns(long, ["portfolio_id", "date", "return"], name)
    if long.empty:
        raise PricingInputError(f"{name}: no rows.")
    duplicated = long.duplicated(["portfolio_id", "date"])
    if duplicated.any():
        row = long[duplicated].iloc[0]
        raise PricingInputError(f"{name}: portfolio {row['portfolio_id']!r} has two returns for {pd.Timestamp(row['date']):%Y-%m}.")
    values = pd.to_numeric(long["return"], errors="coerce")
    if (values.isna() & long["return"].notna()).any() or np.isinf(values).any():
        raise PricingInputError(f"{name}: column 'return' holds a non-number or an infinite value.")
    wide = long.assign(**{"return": values}).pivot(index="date", columns="portfolio_id", values="return")
    wide.index = pd.DatetimeIndex(wide.index, name="date")
    check_monthly_index(wide.index, name)
    wide = wide[portfolio_order(wide.columns)]
    wide.columns.name = None
    return wide


def monthly_market_excess(market_daily: pd.Series, rf_month: pd.Series) -> pd.Series:
    """Market excess return per calendar month: Π_d (1 + r_d) − 1 over the month's valid days, minus rf.

    ``market_daily`` are daily simple returns (the prepare stage's ``market``); ``rf_month`` is the
    monthly simple risk-free rate at month ends. Months without rf are NaN.
    """
    market = compound_monthly(market_daily.to_frame("market"))["market"]
    market.index = market.index.normalize()
    return (market - rf_month.reindex(market.index)).rename("market")


@dataclass(frozen=True)
class BalancedPanel:
    """The months a test runs on (module rule) and the months it dropped.

    ``excess`` (T × N) and ``factors`` (T × K) have no NaN; ``window`` = months where some portfolio has a
    return; ``without_factor`` = window months without rf or some factor; ``missing_return`` = window
    months with rf and every factor but a missing return in some portfolio.
    """

    name: str
    excess: pd.DataFrame
    factors: pd.DataFrame
    window: pd.DatetimeIndex
    without_factor: pd.DatetimeIndex
    missing_return: pd.DatetimeIndex

    @property
    def months(self) -> int:
        return len(self.excess)

    def summary(self) -> str:
        """One line: months kept of the window, and why the others were dropped."""
        text = f"{self.name}: {self.months} of {len(self.window)} months ({_span(self.excess.index)})"
        dropped = []
        if len(self.without_factor):
            dropped.append(f"{len(self.without_factor)} without rf or a factor ({_span(self.without_factor)})")
        if len(self.missing_return):
            first = ", ".join(f"{d:%Y-%m}" for d in self.missing_return[:3])
            dropped.append(f"{len(self.missing_return)} with a missing return (first: {first})")
        return text + ("; dropped " + " and ".join(dropped) if dropped else "; none dropped")


def balanced_panel(returns: pd.DataFrame, rf: pd.Series, factors: pd.DataFrame, name: str) -> BalancedPanel:
    """Excess returns rx = R − rf and factors on the months where every series has a value (module rule).

    Parameters
    ----------
    returns : monthly total returns (month end × portfolio), NaN where a portfolio has no return.
    rf : monthly risk-free rate (month end), fractions.
    factors : monthly factors (month end × factor), fractions.
    name : the test, e.g. ``"hkm18 × capital_market"``, used in messages.

    Raises
    ------
    PricingInputError
        When the test set has no return, rf or a factor has no month in the window ("no overlap"), or no
        month has every series; the message names the series and both windows.
    """
    for frame, what in ((returns, "returns"), (rf.to_frame(), "rf"), (factors, "factors")):
        check_monthly_index(frame.index, f"{name} {what}")
    window = returns.index[returns.notna().any(axis=1).to_numpy()]
    if not len(window):
        raise PricingInputError(f"{name}: the test assets have no return.")
    others = pd.concat([rf.rename("rf"), factors], axis=1).reindex(window)
    for column, values in others.items():
        if values.isna().all():
            source = rf if column == "rf" else factors[column]
            raise PricingInputError(
                f"{name}: {'the risk-free rate' if column == 'rf' else f'factor {column!r}'} "
                f"({_span(source.dropna().index)}) has no month in common with the test assets ({_span(window)})."
            )
    has_factors = others.notna().all(axis=1).to_numpy()
    has_returns = returns.reindex(window).notna().all(axis=1).to_numpy()
    keep = window[has_factors & has_returns]
    if not len(keep):
        raise PricingInputError(
            f"{name}: no month where all {returns.shape[1]} test assets, rf and the factors have a value "
            f"(window {_span(window)}; {int((~has_returns).sum())} months miss a return)."
        )
    excess = returns.loc[keep].sub(others.loc[keep, "rf"], axis=0)
    return BalancedPanel(
        name=name,
        excess=excess,
        factors=others.loc[keep, list(factors.columns)],
        window=window,
        without_factor=window[~has_factors],
        missing_return=window[has_factors & ~has_returns],
    )
