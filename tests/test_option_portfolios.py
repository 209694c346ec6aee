"""CJS/HKM option portfolios (docs/methods.md §4, §4.4, §5): hand-computed cases, invariants,
every bad input, the year boundary, and the beta of leverage-adjusted calls and puts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from option_quotes import NO_FITS, make_quotes, make_underlying
from scipy.stats import norm

import settings
from asset_pricing.io import DataValidationError
from asset_pricing.options import portfolios as pf
from asset_pricing.options import schema
from asset_pricing.options.bsm import bs_elasticity, bs_price
from asset_pricing.options.filters import (
    apply_level_1_2,
    exit_price_rows,
    level_1_2_masks,
)
from asset_pricing.options.schema import attach_underlying
from asset_pricing.options.stage_portfolios import (
    build_option_portfolios,
    option_portfolio_targets,
)
from asset_pricing.paths import project_paths
from asset_pricing.sources.synthetic_options import (
    SyntheticPanelSpec,
    generate_synthetic_panel,
)

EMPTY_EXITS = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "optionid": pd.Series(dtype="int64"), "mid": pd.Series(dtype="float64")})


# --------------------------------------------------------------------------------------------------
# Small panels in the contract's format
# --------------------------------------------------------------------------------------------------
def clean_panel(start: str, end: str, sigma: float = 0.25, seed: int = 7, daily_vol: float = 0.01, rf: float = 0.02, q: float = 0.01):
    """Black–Scholes quotes at a flat volatility on a random-walk underlying: a grid of strikes 1 apart,
    third-Friday expirations, 7 ≤ τ ≤ 180 days and 0.8 ≤ m ≤ 1.2 (what the filters keep)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, end)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, daily_vol, len(days))))
    underlying = make_underlying(days, close, rf, q)
    expiries = pd.date_range(start, pd.Timestamp(end) + pd.Timedelta(days=200), freq="WOM-3FRI")
    strikes = np.arange(60.0, 170.0, 1.0)
    exdate, strike, is_call = (a.ravel() for a in np.meshgrid(expiries.values, strikes, [True, False], indexing="ij"))
    contracts = pd.DataFrame({"exdate": exdate, "strike": strike, "cp_flag": np.where(is_call, "C", "P")})
    contracts["optionid"] = np.arange(len(contracts)) + 1000
    rows = contracts.merge(underlying.reset_index()[["date"]], how="cross")
    rows["tau_days"] = (rows["exdate"] - rows["date"]).dt.days
    rows = rows[rows["tau_days"].between(7, 180)]
    rows = rows.join(underlying, on="date")
    rows = rows[(rows["strike"] / rows["close"]).between(0.8, 1.2)]
    quotes = make_quotes(rows[["date", "exdate", "cp_flag", "strike", "optionid"]].to_dict("records"), underlying, sigma)
    quotes = quotes[quotes["mid"] > 0.01].sort_values(["date", "cp_flag", "exdate", "strike"], ignore_index=True)
    return quotes, underlying


@pytest.fixture(scope="module")
def panel_2010():
    return clean_panel("2010-01-01", "2010-06-30")


def run(quotes, underlying, fits=NO_FITS, max_fill_share=None, formation_dates=None, exit_quotes=None) -> pd.DataFrame:
    """Daily returns indexed by (portfolio_id, formation_date); MAX_FILL_SHARE at the function's default unless given."""
    formation = underlying.index if formation_dates is None else pd.DatetimeIndex(formation_dates)
    options = {} if max_fill_share is None else {"max_fill_share": max_fill_share}
    daily = pf.daily_portfolio_returns(quotes, underlying, fits, formation, exit_quotes=exit_quotes, **options)
    return daily.set_index(["portfolio_id", "formation_date"])


# --------------------------------------------------------------------------------------------------
# Identifiers and kernel weights
# --------------------------------------------------------------------------------------------------
def test_portfolio_ids_keep_the_seed_form():
    targets = pf.portfolio_targets()
    assert len(targets) == 54 and targets["portfolio_id"].is_unique
    assert {"cjs_C_1000_30", "cjs_P_925_60", "cjs_C_900_90", "cjs_P_1100_30"} <= set(targets["portfolio_id"])
    assert targets["hkm_id"].nunique() == 18 and "hkm_P_975" in set(targets["hkm_id"])


def test_kernel_weights_sum_to_one_per_portfolio_day(panel_2010):
    quotes, _ = panel_2010
    day = quotes["date"].to_numpy("datetime64[D]").astype(np.int64)
    weights = pf.kernel_weights((quotes["cp_flag"] == "C").to_numpy(), day, quotes["moneyness"].to_numpy(), quotes["tau_days"].to_numpy())
    totals = pd.Series(weights.weight).groupby([weights.portfolio, weights.day]).sum()
    assert len(totals) == 54 * quotes["date"].nunique()
    np.testing.assert_allclose(totals.to_numpy(), 1.0, rtol=0, atol=1e-12)
    assert (weights.weight >= pf.WEIGHT_FLOOR).all()


def test_kernel_weights_match_hand_computation_with_floor_and_renormalization():
    # Target C 1.000 / 30 days. z² = 0, 1.25, 6.25 (+0.25), 16 → weights before the floor ∝ e^{-z²/2}.
    moneyness = np.array([1.000, 1.0125, 1.000, 1.050])
    tau = np.array([30.0, 35.0, 55.0, 30.0])
    z2 = np.array([0.0, 1.0 + 0.25, 6.25, 16.0])
    raw = np.exp(-0.5 * z2) / np.exp(-0.5 * z2).sum()
    kept = raw >= 0.01
    assert kept.tolist() == [True, True, True, False]  # the far quote falls under the floor
    expected = raw[kept] / raw[kept].sum()
    weights = pf.kernel_weights(np.ones(4, bool), np.zeros(4, np.int64), moneyness, tau)
    code = pf.portfolio_targets().index[pf.portfolio_targets()["portfolio_id"] == "cjs_C_1000_30"][0]
    mine = weights.portfolio == code
    assert weights.row[mine].tolist() == [0, 1, 2]
    np.testing.assert_allclose(weights.weight[mine], expected, rtol=1e-14)


def test_a_quote_between_two_targets_counts_in_both():
    # CJS weight every quote of the type (docs/methods.md §9.3: no nearest-bucket assignment).
    weights = pf.kernel_weights(np.array([False, False]), np.zeros(2, np.int64), np.array([0.9125, 1.1]), np.array([30.0, 30.0]))
    ids = pf.portfolio_targets()["portfolio_id"].to_numpy()
    holders = set(ids[weights.portfolio[weights.row == 0]])
    assert {"cjs_P_900_30", "cjs_P_925_30"} <= holders
    at_900 = weights.weight[(weights.row == 0) & (ids[weights.portfolio] == "cjs_P_900_30")]
    assert at_900 == pytest.approx([1.0])


def test_target_beyond_kernel_reach_weights_its_nearest_quote_instead_of_dividing_zero_by_zero():
    moneyness, tau = np.array([1.55, 1.60]), np.array([30.0, 30.0])
    naive = np.exp(-0.5 * ((moneyness - 0.9) / pf.BANDWIDTH_MONEYNESS) ** 2)
    assert (naive == 0.0).all()  # the textbook kernel underflows: 0/0 = NaN
    weights = pf.kernel_weights(np.ones(2, bool), np.zeros(2, np.int64), moneyness, tau)
    code = pf.portfolio_targets().index[pf.portfolio_targets()["portfolio_id"] == "cjs_C_900_30"][0]
    mine = weights.portfolio == code
    assert weights.row[mine].tolist() == [0] and weights.weight[mine] == pytest.approx([1.0])


def test_floor_never_drops_every_quote_of_a_portfolio_day():
    n = 150  # equidistant quotes: each weighs 1/150 < 0.01
    weights = pf.kernel_weights(np.ones(n, bool), np.zeros(n, np.int64), np.full(n, 1.0), np.full(n, 30.0))
    code = pf.portfolio_targets().index[pf.portfolio_targets()["portfolio_id"] == "cjs_C_1000_30"][0]
    np.testing.assert_allclose(weights.weight[weights.portfolio == code], 1.0 / n, rtol=1e-14)


# --------------------------------------------------------------------------------------------------
# Next-day matching and the hand-computed return
# --------------------------------------------------------------------------------------------------
def test_next_day_position_only_matches_the_same_contract_on_the_next_day():
    optionid = np.array([7, 5, 7, 5, 9, 7])
    day = np.array([0, 0, 1, 2, 1, 3])
    position = pf.next_day_position(optionid, day)
    assert position.tolist() == [2, -1, -1, -1, -1, -1]  # 5 skips day 1; 7 skips day 2; 9 has no day 2


def test_two_rows_of_one_contract_on_one_day_is_an_error():
    with pytest.raises(DataValidationError, match="optionid 7"):
        pf.next_day_position(np.array([7, 7]), np.array([3, 3]))


def test_hand_built_call_portfolio_return_over_a_weekend():
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0], rf_annual=0.03)
    rows = [
        dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1, mid=2.50, impl_volatility=0.20),
        dict(date="2020-01-10", exdate="2020-02-14", cp_flag="C", strike=101.25, optionid=2, mid=2.10, impl_volatility=0.21),
        dict(date="2020-01-13", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1, mid=3.00, impl_volatility=0.20),
        dict(date="2020-01-13", exdate="2020-02-14", cp_flag="C", strike=101.25, optionid=2, mid=2.40, impl_volatility=0.21),
    ]
    quotes = make_quotes(rows, underlying)
    # By hand: tau = 30 and 35 days, m = 1.0 and 1.0125 -> z² = 0 and 1 + 0.25.
    w = np.exp(-0.5 * np.array([0.0, 1.25]))
    w /= w.sum()
    S, r = 100.0, np.log(1.03)
    omega = []
    for K, tau, sigma, mid in ((100.0, 30, 0.20, 2.50), (101.25, 35, 0.21, 2.10)):
        T = tau / 365
        d1 = (np.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * np.sqrt(T))
        omega.append(norm.cdf(d1) * S / mid)
    option_returns = np.array([3.00 / 2.50 - 1, 2.40 / 2.10 - 1])
    rf_3_days = 1.03 ** (3 / 365) - 1
    expected = np.sum(w / omega * option_returns) + (1 - np.sum(w / omega)) * rf_3_days

    result = run(quotes, underlying).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    assert result["return"] == pytest.approx(expected, rel=1e-12)
    assert result["date"] == pd.Timestamp("2020-01-13")
    assert result["n_options"] == 2 and result["fill_share"] == 0.0
    assert result["eff_moneyness"] == pytest.approx(w @ [1.0, 1.0125], rel=1e-12)
    assert result["eff_maturity"] == pytest.approx(w @ [30, 35], rel=1e-12)


def test_put_portfolio_is_short_puts_and_long_more_than_all_in_the_risk_free_asset():
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 99.0], rf_annual=0.03)
    rows = [dict(date=d, exdate="2020-02-09", cp_flag="P", strike=100.0, optionid=3) for d in ("2020-01-10", "2020-01-13")]
    quotes = make_quotes(rows, underlying)
    omega = bs_elasticity(100.0, 100.0, 30 / 365, np.log(1.03), 0.0, 0.2, False, price=quotes["mid"].iloc[0])
    assert omega < -1
    put_return = quotes["mid"].iloc[1] / quotes["mid"].iloc[0] - 1
    expected = put_return / omega + (1 - 1 / omega) * (1.03 ** (3 / 365) - 1)
    result = run(quotes, underlying).loc[("cjs_P_1000_30", pd.Timestamp("2020-01-10")), "return"]
    assert result == pytest.approx(expected, rel=1e-12)
    assert result < 0  # the index fell 1%: a leverage-adjusted put loses like the index, beta +1


def test_a_return_never_compares_two_different_contracts():
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    rows = [
        dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1, mid=2.5),
        dict(date="2020-01-13", exdate="2020-02-12", cp_flag="C", strike=101.0, optionid=2, mid=9.9),  # another contract
    ]
    result = run(make_quotes(rows, underlying), underlying, max_fill_share=1.0).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    filled = bs_price(101.0, 100.0, 27 / 365, np.log(1.03), 0.0, 0.2, True)  # contract 1, own IV (no smile fit)
    omega = bs_elasticity(100.0, 100.0, 30 / 365, np.log(1.03), 0.0, 0.2, True, price=2.5)
    rf = 1.03 ** (3 / 365) - 1
    assert result["fill_share"] == 1.0
    assert result["return"] == pytest.approx((filled / 2.5 - 1) / omega + (1 - 1 / omega) * rf, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# Missing prices, MAX_FILL_SHARE and bad input
# --------------------------------------------------------------------------------------------------
def _two_contracts_one_missing(underlying):
    return [
        dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1),
        dict(date="2020-01-10", exdate="2020-02-14", cp_flag="C", strike=101.25, optionid=2),
        dict(date="2020-01-13", exdate="2020-02-14", cp_flag="C", strike=101.25, optionid=2),
    ]


def _slice_quotes_at_t_plus_1(strikes):
    """Other contracts of contract 1's slice (exdate 2020-02-09, calls) quoted on 2020-01-13 only."""
    return [dict(date="2020-01-13", exdate="2020-02-09", cp_flag="C", strike=k, optionid=10 + i) for i, k in enumerate(strikes)]


def test_missing_next_day_price_is_black_scholes_with_the_smile_fit_at_t_plus_1():
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    quotes = make_quotes(_two_contracts_one_missing(underlying) + _slice_quotes_at_t_plus_1([95.0, 105.0]), underlying)
    fits = pd.DataFrame({"date": pd.to_datetime(["2020-01-13"]), "exdate": pd.to_datetime(["2020-02-09"]), "cp_flag": ["C"],
                         "coef_a": [np.log(0.25)], "coef_b": [-0.5], "coef_c": [1.0], "n_quotes": [8]})
    m_next = 100.0 / 101.0
    smile_sigma = np.exp(np.log(0.25) - 0.5 * (m_next - 1) + (m_next - 1) ** 2)
    filled = bs_price(101.0, 100.0, 27 / 365, np.log(1.03), 0.0, smile_sigma, True)

    with_fit = run(quotes, underlying, fits, max_fill_share=1.0).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    without_fit = run(quotes, underlying, NO_FITS, max_fill_share=1.0).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    w = np.exp(-0.5 * np.array([0.0, 1.25]))
    w /= w.sum()
    assert with_fit["fill_share"] == pytest.approx(w[0], rel=1e-12)
    mid0 = quotes["mid"].iloc[0]
    omega0 = bs_elasticity(100.0, 100.0, 30 / 365, np.log(1.03), 0.0, 0.2, True, price=mid0)
    own_iv_fill = bs_price(101.0, 100.0, 27 / 365, np.log(1.03), 0.0, 0.2, True)
    # The two runs differ only through contract 1's filled price.
    difference = w[0] / omega0 * (filled - own_iv_fill) / mid0
    assert with_fit["return"] - without_fit["return"] == pytest.approx(difference, rel=1e-9)


def test_smile_fit_is_not_extrapolated_beyond_the_slice_quoted_at_t_plus_1():
    # The slice is quoted at t+1 only deep in the money (m <= 0.89): its fit is not used at m = 0.99.
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    quotes = make_quotes(_two_contracts_one_missing(underlying) + _slice_quotes_at_t_plus_1([84.0, 86.0, 88.0, 90.0]), underlying)
    wild = pd.DataFrame({"date": pd.to_datetime(["2020-01-13"]), "exdate": pd.to_datetime(["2020-02-09"]), "cp_flag": ["C"],
                         "coef_a": [7.3], "coef_b": [116.5], "coef_c": [391.3], "n_quotes": [4]})  # a real fit of four deep in-the-money quotes
    with_wild_fit = run(quotes, underlying, wild, max_fill_share=1.0).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    without_fit = run(quotes, underlying, NO_FITS, max_fill_share=1.0).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    assert with_wild_fit["return"] == pytest.approx(without_fit["return"], rel=1e-12)


@pytest.mark.parametrize("max_fill_share, is_nan", [(0.5, True), (0.7, False), (None, False)])
def test_portfolio_day_whose_filled_weight_exceeds_an_opt_in_max_fill_share_is_nan(max_fill_share, is_nan):
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    quotes = make_quotes(_two_contracts_one_missing(underlying), underlying)
    result = run(quotes, underlying, max_fill_share=max_fill_share).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    assert 0.5 < result["fill_share"] < 0.7  # contract 1 carries 1/(1+e^{-0.625}) = 0.65 of the weight
    assert np.isnan(result["return"]) == is_nan


def test_default_keeps_a_fully_filled_portfolio_day():
    """CJS keep every portfolio-day: with the default MAX_FILL_SHARE = 1 a day priced only by fills is a return."""
    assert settings.load()["MAX_FILL_SHARE"] == 1.0
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    quotes = make_quotes([dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1)], underlying)
    result = run(quotes, underlying).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    assert result["fill_share"] == pytest.approx(1.0) and np.isfinite(result["return"])
    strict = run(quotes, underlying, max_fill_share=0.99).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    assert np.isnan(strict["return"])


def test_exit_is_priced_by_the_exit_only_quote_instead_of_a_fill():
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    quotes = make_quotes([dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1, mid=2.5)], underlying)
    exits = pd.DataFrame({"date": pd.to_datetime(["2020-01-13", "2020-01-13"]), "optionid": [1, 2], "mid": [3.1, 8.0]})
    result = run(quotes, underlying, exit_quotes=exits).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    omega = bs_elasticity(100.0, 100.0, 30 / 365, np.log(1.03), 0.0, 0.2, True, price=2.5)
    rf = 1.03 ** (3 / 365) - 1
    assert result["fill_share"] == 0.0
    assert result["return"] == pytest.approx((3.1 / 2.5 - 1) / omega + (1 - 1 / omega) * rf, rel=1e-12)
    filled = run(quotes, underlying).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    assert filled["fill_share"] == 1.0 and filled["return"] != pytest.approx(result["return"], rel=1e-6)
    # an exit-only quote never prices another contract or another day
    shifted = exits.assign(date=pd.to_datetime(["2020-01-10", "2020-01-13"]), optionid=[1, 1])
    with pytest.raises(DataValidationError, match="optionid 1 has two rows"):
        run(quotes, underlying, exit_quotes=shifted)  # 2020-01-10 already has contract 1's formation quote


@pytest.mark.parametrize("exdate", ["2020-02-07", "2020-02-08"])  # a Saturday exdate counts to its Friday (docs/methods.md §3.3)
def test_held_contract_leaving_the_moneyness_window_is_priced_by_its_quote_and_a_zero_bid_is_filled(exdate):
    """Through the filters: the index falls 17% overnight, so both held puts leave 0.8 <= m <= 1.2 at t+1;
    the one with a valid quote exits at its mid, the one with a zero bid is filled (own IV, no smile fit)."""
    dates = pd.DatetimeIndex(pd.to_datetime(["2020-01-10", "2020-01-13"]), name="date")
    rf_annual, q, sigma = 0.03, 0.01, 0.2
    underlying = schema.validate_underlying(pd.DataFrame({"close": [100.0, 83.0], "rf_annual": rf_annual, "q": q}, index=dates), "underlying")
    r = underlying["r"].iloc[0]
    t1_put = bs_price(83.0, 100.0, 25 / 365, r, q, sigma, False)  # deep in the money: m = 1.205
    raw = pd.DataFrame({
        "secid": 108105, "date": dates[[0, 0, 1, 1]], "exdate": pd.Timestamp(exdate), "cp_flag": "P",
        "strike_price": [100_000, 101_000, 100_000, 101_000],
        "best_bid": [2.40, 2.80, round(t1_put - 0.05, 6), 0.0], "best_offer": [2.60, 3.00, round(t1_put + 0.05, 6), 0.05],
        "volume": 0, "open_interest": 0, "impl_volatility": sigma, "delta": np.nan, "optionid": [1, 2, 1, 2],
    })
    prepared = schema.attach_underlying(schema.validate_quotes(raw, underlying, "hand-made"), underlying)
    masks = level_1_2_masks(prepared)
    formation = prepared[masks.kept]
    exits = prepared.iloc[exit_price_rows(prepared, masks)][list(pf.EXIT_QUOTE_COLUMNS)]
    assert formation["date"].eq(dates[0]).all() and len(formation) == 2 and exits["optionid"].tolist() == [1]

    result = run(formation, underlying, exit_quotes=exits).loc[("cjs_P_1000_30", dates[0])]
    w = np.exp(-0.5 * ((np.array([1.00, 1.01]) - 1.0) / 0.0125) ** 2)
    w /= w.sum()
    mids = np.array([2.50, 2.90])
    omega = bs_elasticity(100.0, np.array([100.0, 101.0]), 28 / 365, r, q, sigma, False, price=mids)
    t1_mid = (raw["best_bid"].iloc[2] + raw["best_offer"].iloc[2]) / 2  # contract 1's quoted mid at t+1
    exit_prices = np.array([t1_mid, bs_price(83.0, 101.0, 25 / 365, r, q, sigma, False)])  # contract 2: own IV at t
    rf = (1 + rf_annual) ** (3 / 365) - 1
    expected = np.sum(w / omega * (exit_prices / mids - 1)) + (1 - np.sum(w / omega)) * rf
    assert result["n_options"] == 2
    assert result["fill_share"] == pytest.approx(w[1], rel=1e-12)
    assert result["return"] == pytest.approx(expected, rel=1e-9)


def test_portfolio_day_without_quotes_is_nan_not_zero():
    underlying = make_underlying(["2020-01-09", "2020-01-10", "2020-01-13"], [100.0, 100.0, 101.0])
    rows = [dict(date=d, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1) for d in ("2020-01-09", "2020-01-10", "2020-01-13")]
    daily = run(make_quotes(rows, underlying), underlying)
    puts = daily.loc[daily.index.get_level_values("portfolio_id").str.startswith("cjs_P")]
    assert len(puts) == 27 * 2 and puts["return"].isna().all() and (puts["n_options"] == 0).all()
    calls = daily.loc[daily.index.get_level_values("portfolio_id").str.startswith("cjs_C")]
    assert calls["return"].notna().all()


def test_single_quote_portfolio_day_holds_that_quote_in_every_target_of_its_type():
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    rows = [dict(date=d, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1) for d in ("2020-01-10", "2020-01-13")]
    quotes = make_quotes(rows, underlying)
    daily = run(quotes, underlying)
    calls = daily.loc[daily.index.get_level_values("portfolio_id").str.startswith("cjs_C")]
    omega = bs_elasticity(100.0, 100.0, 30 / 365, np.log(1.03), 0.0, 0.2, True, price=quotes["mid"].iloc[0])
    expected = (quotes["mid"].iloc[1] / quotes["mid"].iloc[0] - 1) / omega + (1 - 1 / omega) * (1.03 ** (3 / 365) - 1)
    assert len(calls) == 27 and (calls["n_options"] == 1).all()
    np.testing.assert_allclose(calls["return"], expected, rtol=1e-12)
    np.testing.assert_allclose(calls["eff_moneyness"], 1.0)


def test_quote_with_zero_or_negative_mid_is_not_held_and_is_filled_when_held():
    underlying = make_underlying(["2020-01-10", "2020-01-13"], [100.0, 101.0])
    rows = [
        dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1),
        dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=100.5, optionid=2, mid=0.0),
        dict(date="2020-01-10", exdate="2020-02-09", cp_flag="C", strike=99.5, optionid=3, mid=-1.0),
        dict(date="2020-01-13", exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1, mid=-0.5),
    ]
    result = run(make_quotes(rows, underlying), underlying, max_fill_share=1.0).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-10"))]
    assert result["n_options"] == 1  # only contract 1 can be held
    assert result["fill_share"] == 1.0  # its t+1 quote has a negative mid: filled, not used
    assert np.isfinite(result["return"])


def test_underlying_gap_day_is_spanned_with_risk_free_accrued_over_the_calendar_days():
    # Wednesday 2020-01-15 is missing from the underlying; quotes dated that day are ignored.
    underlying = make_underlying(["2020-01-14", "2020-01-16"], [100.0, 101.0], rf_annual=0.05)
    rows = [
        dict(date="2020-01-14", exdate="2020-02-13", cp_flag="C", strike=100.0, optionid=1, mid=2.5),
        dict(date="2020-01-15", exdate="2020-02-13", cp_flag="C", strike=100.0, optionid=1, mid=7.0),
        dict(date="2020-01-16", exdate="2020-02-13", cp_flag="C", strike=100.0, optionid=1, mid=3.0),
    ]
    quotes = make_quotes(rows, underlying)
    result = run(quotes, underlying).loc[("cjs_C_1000_30", pd.Timestamp("2020-01-14"))]
    omega = bs_elasticity(100.0, 100.0, 30 / 365, np.log(1.05), 0.0, 0.2, True, price=2.5)
    expected = (3.0 / 2.5 - 1) / omega + (1 - 1 / omega) * (1.05 ** (2 / 365) - 1)
    assert result["date"] == pd.Timestamp("2020-01-16")
    assert result["return"] == pytest.approx(expected, rel=1e-12)


def test_risk_free_accrual_counts_calendar_days():
    accrued = pf.risk_free_holding_return(np.array([0.05, 0.05]), np.array([1, 3]))
    np.testing.assert_allclose(accrued, [1.05 ** (1 / 365) - 1, 1.05 ** (3 / 365) - 1], rtol=1e-11)
    assert accrued[1] == pytest.approx(3 * accrued[0], rel=1e-3) and accrued[1] != pytest.approx(0.05 / 252, rel=0.1)


def test_month_without_quotes_is_nan_even_with_partial_months_allowed():
    quotes, underlying = clean_panel("2010-01-01", "2010-04-30")
    quotes = quotes[quotes["date"].dt.month != 2]
    daily = pf.daily_portfolio_returns(quotes, underlying, NO_FITS, underlying.index, 0.5)
    for allow in (False, True):
        for months in pf.MONTH_CONVENTIONS:
            monthly = pf.compound_monthly(daily, allow, months=months).set_index(["portfolio_id", "date"])["return"].unstack("portfolio_id")
            assert monthly.loc["2010-02-28"].isna().all()
            assert monthly.loc["2010-04-30"].notna().all()
            # Feb 26 -> Mar 1 (no quote at t) is March's first-day return: it NaNs a calendar March only.
            assert monthly.loc["2010-03-31"].isna().all() == (months == pf.MONTHS_CALENDAR and not allow)
    # Jan 29 -> Feb 1 has no quote at t+1 (all filled) and Feb 26 -> Mar 1 has none at t: both NaN.
    by_date = daily.set_index(["portfolio_id", "date"])["return"].unstack("portfolio_id")
    assert by_date.loc["2010-02-01"].isna().all() and by_date.loc["2010-03-01"].isna().all()
    assert by_date.loc["2010-03-02"].notna().all()


# --------------------------------------------------------------------------------------------------
# Monthly compounding and HKM
# --------------------------------------------------------------------------------------------------
def _daily(returns, dates, portfolio_id="cjs_C_1000_30", first_formation="2020-01-29"):
    """Daily returns earned on ``dates``, each formed on the previous one (the first on ``first_formation``)."""
    earned = pd.to_datetime(dates)
    formed = pd.DatetimeIndex([pd.Timestamp(first_formation), *earned[:-1]])
    return pd.DataFrame({"portfolio_id": portfolio_id, "date": earned, "return": returns, "formation_date": formed})


def test_month_with_a_nan_day_is_nan_unless_partial_months_are_allowed():
    daily = _daily([0.01, np.nan, 0.02, 0.03], ["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-04"])
    strict = pf.compound_monthly(daily, allow_partial_months=False, months=pf.MONTHS_CALENDAR).set_index("date")
    partial = pf.compound_monthly(daily, allow_partial_months=True, months=pf.MONTHS_CALENDAR).set_index("date")
    assert np.isnan(strict.loc["2020-01-31", "return"])
    assert partial.loc["2020-01-31", "return"] == pytest.approx(0.01)
    assert partial.loc["2020-01-31", ["n_days", "n_missing_days"]].tolist() == [1, 1]
    for table in (strict, partial):
        assert table.loc["2020-02-29", "return"] == pytest.approx(1.02 * 1.03 - 1)
        assert table.loc["2020-02-29", "n_days"] == 2


def test_first_to_last_months_leave_the_return_into_the_first_day_out():
    # Earned Jan 30, Jan 31, Feb 3 (formed Jan 31: the return into February's first day), Feb 4, Feb 28,
    # Mar 2 (formed Feb 28), Mar 3. The first January return was formed Jan 29, inside January.
    dates = ["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-04", "2020-02-28", "2020-03-02", "2020-03-03"]
    daily = _daily([0.01, 0.02, 0.05, -0.01, 0.03, -0.04, 0.02], dates)
    cut = pf.compound_monthly(daily, allow_partial_months=False, months=pf.MONTHS_FIRST_TO_LAST).set_index("date")
    calendar = pf.compound_monthly(daily, allow_partial_months=False, months=pf.MONTHS_CALENDAR).set_index("date")
    assert cut.loc["2020-01-31", "return"] == pytest.approx(1.01 * 1.02 - 1)
    assert cut.loc["2020-02-29", "return"] == pytest.approx(0.99 * 1.03 - 1)  # Feb 3's +5% belongs to no month
    assert cut.loc["2020-03-31", "return"] == pytest.approx(0.02)
    assert cut["n_days"].tolist() == [2, 2, 1] and cut["n_missing_days"].tolist() == [0, 0, 0]
    assert calendar.loc["2020-02-29", "return"] == pytest.approx(1.05 * 0.99 * 1.03 - 1)
    assert calendar.loc["2020-03-31", "return"] == pytest.approx(0.96 * 1.02 - 1)
    # A NaN on the left-out day leaves the month whole; on a calendar month it makes the month NaN.
    holed = daily.assign(**{"return": daily["return"].mask(daily["date"] == "2020-02-03")})
    assert pf.compound_monthly(holed, False, months=pf.MONTHS_FIRST_TO_LAST).set_index("date").loc["2020-02-29", "return"] == pytest.approx(0.99 * 1.03 - 1)
    assert np.isnan(pf.compound_monthly(holed, False, months=pf.MONTHS_CALENDAR).set_index("date").loc["2020-02-29", "return"])


def test_first_to_last_months_need_the_formation_date_and_a_known_convention():
    daily = _daily([0.01, 0.02], ["2020-01-30", "2020-01-31"])
    with pytest.raises(DataValidationError, match=r"^daily portfolio returns: missing column\(s\) formation_date"):
        pf.compound_monthly(daily.drop(columns="formation_date"), False, months=pf.MONTHS_FIRST_TO_LAST)
    assert pf.compound_monthly(daily.drop(columns="formation_date"), False, months=pf.MONTHS_CALENDAR)["return"].iloc[0] == pytest.approx(1.01 * 1.02 - 1)
    with pytest.raises(ValueError, match="OPTION_MONTHS"):
        pf.compound_monthly(daily, False, months="weekly")


def test_hkm_is_the_mean_of_the_three_maturities_and_nan_when_one_is_missing():
    dates = pd.to_datetime(["2020-01-31", "2020-02-29"])
    monthly = pd.DataFrame({
        "portfolio_id": np.repeat(["cjs_P_975_30", "cjs_P_975_60", "cjs_P_975_90"], 2),
        "date": np.tile(dates, 3),
        "return": [0.01, 0.02, 0.02, np.nan, 0.09, 0.03],
    })
    hkm = pf.hkm_portfolio_returns(monthly).set_index(["portfolio_id", "date"])["return"]
    assert hkm.loc[("hkm_P_975", dates[0])] == pytest.approx((0.01 + 0.02 + 0.09) / 3)  # mean 0.04, not the median 0.02
    assert np.isnan(hkm.loc[("hkm_P_975", dates[1])])


# --------------------------------------------------------------------------------------------------
# The stage: files, year boundary, attrs
# --------------------------------------------------------------------------------------------------
def _write_contract_files(paths, quotes, underlying, label="synthetic option quotes"):
    folder = paths.interim / "options"
    folder.mkdir(parents=True, exist_ok=True)
    underlying.to_parquet(folder / "underlying.parquet")
    years = sorted(quotes["date"].dt.year.unique())
    for year in years:
        quotes[quotes["date"].dt.year == year].to_parquet(folder / f"quotes_filtered_{year}.parquet")
        NO_FITS.assign(n_quotes=pd.Series(dtype="int64")).to_parquet(folder / f"smile_fit_{year}.parquet")
        EMPTY_EXITS.to_parquet(folder / f"exit_quotes_{year}.parquet")
    meta = {"source": "synthetic", "label": label, "start": f"{underlying.index[0]:%Y-%m-%d}",
            "end": f"{underlying.index[-1]:%Y-%m-%d}", "years": [int(y) for y in years]}
    (folder / "meta.json").write_text(json.dumps(meta))


def test_stage_keeps_the_year_boundary_day_and_matches_one_pass_over_the_panel():
    quotes, underlying = clean_panel("2010-11-15", "2011-02-15")
    paths = project_paths()
    _write_contract_files(paths, quotes, underlying)
    written = build_option_portfolios(paths, settings.load())
    assert written == option_portfolio_targets(paths)

    daily = pd.read_parquet(written[0])
    one_pass = pf.sort_by_portfolio(pf.daily_portfolio_returns(quotes, underlying, NO_FITS, underlying.index, 0.5))
    pd.testing.assert_frame_equal(daily.drop(columns="formation_date"), one_pass.drop(columns="formation_date"), check_dtype=False)
    boundary = daily[(daily["formation_date"] == "2010-12-31") & (daily["date"] == "2011-01-03")]
    assert len(boundary) == 54 and boundary["return"].notna().all()
    assert daily.attrs["data_source"] == "synthetic option quotes"

    cjs, hkm = pd.read_parquet(written[1]), pd.read_parquet(written[2])
    assert cjs["portfolio_id"].nunique() == 54 and hkm["portfolio_id"].nunique() == 18
    assert list(hkm.columns) == ["portfolio_id", "date", "return"]
    assert cjs.attrs["data_source"] == hkm.attrs["data_source"] == "synthetic option quotes"
    january = cjs[cjs["date"] == "2011-01-31"].set_index("portfolio_id")
    earned_in_january = daily[daily["date"].dt.to_period("M") == "2011-01"].groupby("portfolio_id").size()
    # By default (OPTION_MONTHS=first_to_last) the Dec 31 -> Jan 3 return belongs to no month.
    assert (january["n_days"] == earned_in_january - 1).all() and (earned_in_january == 21).all()
    assert january["return"].notna().all()


def test_stage_names_the_file_when_a_column_is_missing():
    quotes, underlying = clean_panel("2010-01-01", "2010-01-31")
    paths = project_paths()
    _write_contract_files(paths, quotes.drop(columns="mid"), underlying)
    with pytest.raises(DataValidationError, match=r"quotes_filtered_2010\.parquet.*mid"):
        build_option_portfolios(paths, settings.load())


# --------------------------------------------------------------------------------------------------
# Beta: a Black-Scholes world (the quote stage's clean synthetic panel)
# --------------------------------------------------------------------------------------------------
def test_calls_and_puts_have_market_beta_near_plus_one_in_a_black_scholes_world():
    # Flat volatility, no noise, no defects, no missing quotes, on the real S&P 500 path of 2004-2005.
    spec = SyntheticPanelSpec(start=pd.Timestamp("2004-01-01"), end=pd.Timestamp("2005-12-31"), target_quotes=150_000).clean_world(sigma=0.2)
    underlying, years = generate_synthetic_panel(spec)
    quotes = pd.concat([apply_level_1_2(attach_underlying(year.quotes, underlying))[0] for year in years], ignore_index=True)
    daily = pf.daily_portfolio_returns(quotes, underlying, NO_FITS, underlying.index, 0.5)

    wide = daily.pivot(index="date", columns="portfolio_id", values="return")
    index_return = underlying["close"].pct_change().reindex(wide.index)
    assert wide.notna().mean().min() > 0.95
    betas = pd.Series({pid: np.polyfit(index_return[wide[pid].notna()], wide[pid].dropna(), 1)[0] for pid in wide})
    calls, puts = betas[betas.index.str.startswith("cjs_C")], betas[betas.index.str.startswith("cjs_P")]
    assert len(calls) == len(puts) == 27
    assert betas.between(0.8, 1.2).all(), betas[~betas.between(0.8, 1.2)]
    assert 0.95 <= calls.median() <= 1.05
    assert 0.95 <= puts.median() <= 1.05  # lagging within a portfolio id gives about 0 for both (docs/methods.md §9.1)
