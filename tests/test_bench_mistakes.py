"""The replication-mistake measurements (docs/methods.md §9) on a tiny hand-built panel: the sign of each effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asset_pricing.bench import mistakes
from asset_pricing.options import portfolios
from asset_pricing.options.bsm import bs_price

RF_ANNUAL = 0.03


@pytest.fixture(scope="module")
def tiny_inputs() -> mistakes.OptionInputs:
    """Six weeks of Black-Scholes quotes (flat 20% IV) on a random-walk index: 31 strikes x 6 expiries x C/P."""
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2010-03-01", periods=30, name="date")
    close = 1000.0 * np.cumprod(1.0 + rng.normal(0.0, 0.012, len(dates)))
    underlying = pd.DataFrame({"close": close, "rf_annual": RF_ANNUAL, "r": np.log1p(RF_ANNUAL), "q": 0.0}, index=dates)
    strikes = 1000.0 * np.round(np.arange(0.85, 1.1501, 0.01), 4)
    exdates = dates[0] + pd.to_timedelta([30, 45, 60, 75, 90, 120], unit="D")
    grid = pd.MultiIndex.from_product([exdates, strikes, ["C", "P"]], names=["exdate", "strike", "cp_flag"]).to_frame(index=False)
    grid["optionid"] = np.arange(len(grid)) + 1
    rows = []
    for date, spot in zip(dates, close):
        quotes = grid.assign(date=date, close=spot)
        rows.append(quotes)
    quotes = pd.concat(rows, ignore_index=True)
    quotes["tau_days"] = (quotes["exdate"] - quotes["date"]).dt.days
    quotes["T"] = quotes["tau_days"] / 365.0
    quotes["moneyness"] = quotes["strike"] / quotes["close"]
    quotes["impl_volatility"] = 0.2
    quotes["r"], quotes["q"] = np.log1p(RF_ANNUAL), 0.0
    quotes = quotes[(quotes["tau_days"] >= 7) & quotes["moneyness"].between(0.8, 1.2)].reset_index(drop=True)
    quotes["mid"] = bs_price(quotes["close"], quotes["strike"], quotes["T"], quotes["r"], quotes["q"], 0.2, quotes["cp_flag"] == "C")
    fits = pd.DataFrame({column: [] for column in portfolios.SMILE_COLUMNS})
    exits = pd.DataFrame({"date": pd.to_datetime([]), "optionid": np.array([], dtype=np.int64), "mid": np.array([], dtype=float)})
    return mistakes.OptionInputs(quotes[list(portfolios.QUOTE_COLUMNS)], underlying, fits, exits, dates[:-1], "tiny")


@pytest.fixture(scope="module")
def variants(tiny_inputs) -> dict[str, pd.DataFrame]:
    construction = mistakes.Construction.of(tiny_inputs)
    return {variant: mistakes.daily_returns(construction, variant) for variant in mistakes.VARIANTS}


def test_correct_variant_is_the_projects_daily_construction(tiny_inputs, variants):
    stage = portfolios.daily_portfolio_returns(tiny_inputs.quotes, tiny_inputs.underlying, tiny_inputs.smile_fits,
                                               tiny_inputs.formation_dates, exit_quotes=tiny_inputs.exit_quotes)
    np.testing.assert_allclose(variants["project"]["return"], stage["return"], rtol=0, atol=1e-12)
    assert (variants["project"]["date"].to_numpy() == stage["date"].to_numpy()).all()


def test_leverage_adjusted_betas_are_near_plus_one_for_calls_and_puts(variants):
    betas = mistakes.market_betas(variants["project"])  # six weeks: gamma moves short-dated OTM betas by up to 0.3
    assert betas.between(0.6, 1.4).all() and abs(betas.mean() - 1.0) < 0.05


def test_signed_elasticity_in_the_put_formula_gives_put_beta_below_zero(variants):
    betas = mistakes.market_betas(variants["signed_put_formula"])
    put = mistakes.is_put(betas.index)
    assert (betas[put] < 0).all() and betas[put].mean() < -0.8
    np.testing.assert_allclose(betas[~put], mistakes.market_betas(variants["project"])[~put])


def test_lag_within_the_portfolio_compares_different_contracts(variants):
    right, wrong = variants["project"], variants["lag_within_portfolio"]
    assert abs(mistakes.market_betas(wrong).mean() - 1.0) > 0.3
    assert not np.allclose(right["return"], wrong["return"], equal_nan=True)


def test_nearest_bucket_weights_fewer_options_than_every_quote(variants):
    assert variants["nearest_bucket"]["n_options"].mean() < variants["project"]["n_options"].mean()


def test_floor_without_renormalizing_leaves_weights_summing_below_one(variants):
    right, wrong = variants["project"]["weight_sum"].dropna(), variants["floor_without_renormalizing"]["weight_sum"].dropna()
    np.testing.assert_allclose(right, 1.0)
    assert (wrong <= 1.0 + 1e-12).all() and wrong.mean() < 1.0 and wrong.min() < 0.99


def test_fixed_252_rate_over_a_weekend_accrues_less_than_three_calendar_days(tiny_inputs):
    construction = mistakes.Construction.of(tiny_inputs)
    formation = construction.calendar.index[construction.formation_day]
    friday = formation.dayofweek == 4
    fixed, exact = construction.holding_rf(fixed_252=True), construction.holding_rf()
    assert friday.any()
    np.testing.assert_allclose(exact[friday], (1 + RF_ANNUAL) ** (3 / 365) - 1)
    assert (fixed[friday] < exact[friday]).all()
    weekend = next(f for f in mistakes.rf_accrual_findings(tiny_inputs.underlying) if "Friday" in f.metric)
    assert weekend.wrong < weekend.right


def test_compounding_over_a_missing_day_gives_a_number_where_the_project_gives_nan():
    days = pd.bdate_range("2011-02-01", "2011-02-28")
    daily = pd.DataFrame({"portfolio_id": "cjs_C_1000_30", "date": days, "return": 0.01, "fill_share": 0.0})
    daily.loc[3, "fill_share"] = 0.9  # a day the strict rule makes NaN
    findings = {f.metric: f for f in mistakes.missing_day_findings(daily, max_fill_share=0.5)}
    counted = next(f for metric, f in findings.items() if metric.startswith("portfolio-months with a NaN day"))
    assert counted.wrong == 1 and "1 NaN months" in counted.note
    error = next(f for metric, f in findings.items() if "mean error" in metric)
    np.testing.assert_allclose(error.wrong, 1.01 ** (len(days) - 1) - 1.01 ** len(days))  # the missing day's move is lost


def test_a_variance_from_two_returns_can_blow_up_the_signal():
    days = pd.bdate_range("2001-01-01", "2001-03-31")
    returns = pd.Series(np.resize([0.01, -0.01, 0.02, -0.02, 0.005], len(days)), index=days)
    returns.iloc[-2:] = 0.004  # the month's last two returns are equal: a two-return variance of 0
    findings = mistakes.two_return_variance_findings(returns)
    assert findings[0].wrong >= 1


def test_markdown_table_has_a_row_per_finding_and_no_stray_pipes():
    findings = [mistakes.Finding(2, "signed elasticity", "put beta", 0.97, -0.97)]
    page = mistakes.to_markdown(findings, ["tiny"])
    row = next(line for line in page.splitlines() if line.startswith("| 2 "))
    assert row.count("|") == 7 and "-0.97" in row
