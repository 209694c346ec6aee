"""Synthetic OptionMetrics-format panel (docs/methods.md §6): determinism, contract structure, the two rates
(T-bill accrual, pricing rate 40 bp above), the sampling (concentrated where the CJS portfolios need
quotes, evenly spaced strikes, the same moneyness density at every index level), prices and ticks, the
volatility surface (level, term structure, skew, leverage effect, persistent quote noise), planted
defects, clean world, and the pull stage (year files, skip, regenerate on a changed spec)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import settings
from asset_pricing.options import schema
from asset_pricing.options.bsm import bs_price
from asset_pricing.options.filters import arbitrage_bounds, pair_rates
from asset_pricing.sources.option_pull import pull_options, pull_options_targets
from asset_pricing.sources.synthetic_options import (
    DEFECT_TARGET_STEP,
    MISSING_QUOTE,
    QUOTE_FILE_COLUMNS,
    ContractGrid,
    SyntheticPanelSpec,
    VolatilitySurface,
    ar1_path,
    ceil_to_tick,
    contract_uniform,
    expiration_calendar,
    floor_to_tick,
    generate_synthetic_panel,
    implied_volatility_surface,
    level_shock_loading,
    listed_contract_days,
    sampling_weight,
    strike_sequence_position,
    surface_shocks,
    synthetic_market,
)
from asset_pricing.paths import project_paths

PANEL = SyntheticPanelSpec(start=pd.Timestamp("2007-10-01"), end=pd.Timestamp("2008-03-31"), target_quotes=30_000, defect_share=0.005)


def build(spec: SyntheticPanelSpec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(underlying, raw quotes of all years with a unique (year, row) index, truth with a 'key' column)."""
    underlying, years = generate_synthetic_panel(spec)
    quotes, truths = [], []
    for year in years:
        quotes.append(year.quotes.set_index(pd.MultiIndex.from_product([[year.year], year.quotes.index], names=["year", "row"])))
        truths.append(year.truth.assign(year=year.year))
    return underlying, pd.concat(quotes), pd.concat(truths, ignore_index=True)


@pytest.fixture(scope="module")
def panel():
    return build(PANEL)


@pytest.fixture(scope="module")
def prepared(panel):
    underlying, quotes, _ = panel
    checked = schema.validate_underlying(underlying, "underlying")
    return schema.attach_underlying(schema.validate_quotes(quotes, checked, "synthetic"), checked)


def prepare(spec: SyntheticPanelSpec) -> pd.DataFrame:
    """Raw quotes of ``spec`` joined with its underlying (close, rf_annual, r, q, mid, moneyness, T, …)."""
    underlying, quotes, _ = build(spec)
    checked = schema.validate_underlying(underlying, "underlying")
    return schema.attach_underlying(schema.validate_quotes(quotes, checked, "synthetic"), checked)


def clean_rows(prepared: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    planted = pd.MultiIndex.from_arrays([truth.loc[truth["row"] >= 0, "year"], truth.loc[truth["row"] >= 0, "row"]])
    return prepared[~prepared.index.isin(planted)]


def test_panel_is_deterministic_from_the_seed(panel):
    _, quotes, truth = panel
    _, again, truth_again = build(PANEL)
    pd.testing.assert_frame_equal(quotes, again)
    pd.testing.assert_frame_equal(truth, truth_again)
    _, other, _ = build(SyntheticPanelSpec(start=PANEL.start, end=PANEL.end, target_quotes=PANEL.target_quotes, seed=PANEL.seed + 1))
    assert not quotes["optionid"].reset_index(drop=True).equals(other["optionid"].reset_index(drop=True))


def test_panel_size_is_close_to_the_target_and_in_the_raw_schema(panel):
    underlying, quotes, _ = panel
    standard = quotes["am_settlement"] == 1
    assert abs(standard.sum() / PANEL.target_quotes - 1) < 0.05  # SYNTHETIC_QUOTES counts the standard contracts
    assert 0.02 < (~standard).mean() < 0.2  # the SPXW rows come on top
    assert list(quotes.columns) == list(QUOTE_FILE_COLUMNS)
    raw_dtypes = {c: str(t) for c, t in quotes.dtypes.items() if c in schema.RAW_QUOTE_DTYPES}
    assert raw_dtypes == {c: str(t) for c, t in schema.RAW_QUOTE_DTYPES.items()} and quotes["am_settlement"].dtype == np.int8
    assert (quotes["secid"] == 108105).all()
    assert list(underlying.columns) == ["close", "rf_annual", "r", "q"] and underlying.attrs["data_source"] == "synthetic option quotes"


def test_underlying_is_the_real_sp500_with_the_months_tbill_rate_and_a_pricing_rate_40bp_above(panel):
    from asset_pricing.sources.embedded import load_prices, load_rf_monthly

    underlying, _, _ = panel
    real = load_prices()["SP500"].dropna()
    np.testing.assert_array_equal(underlying["close"], real.loc[PANEL.start : PANEL.end].to_numpy())
    rf = load_rf_monthly()
    march_2008 = (1 + rf.loc["2008-03-31", "rf_month"]) ** 12 - 1
    np.testing.assert_allclose(underlying.loc["2008-03-03":"2008-03-31", "rf_annual"], march_2008)
    assert PANEL.pricing_rate_spread == 0.004
    np.testing.assert_allclose(underlying["r"], np.log1p(underlying["rf_annual"]) + 0.004, rtol=0, atol=1e-15)
    assert (underlying["q"] == 0.02).all()


def test_expirations_are_third_fridays_stored_as_saturdays_and_only_quarterlies_go_past_eight_months(prepared):
    standard = prepared[prepared["am_settlement"] == 1]
    exdate = standard["exdate"]  # before 2015-02 OptionMetrics stores the Saturday after the third Friday
    assert (exdate.dt.dayofweek == 5).all() and exdate.dt.day.between(16, 22).all()
    friday = exdate - pd.Timedelta(days=1)
    good_friday = friday == pd.Timestamp("2008-03-21")  # a holiday: the last trading day is Thursday 2008-03-20
    expected_tau = (friday - standard["date"]).dt.days - good_friday.astype(int)
    np.testing.assert_array_equal(standard["tau_days"], expected_tau)
    far = standard["tau_days"] > 240
    assert far.any() and exdate[far].dt.month.isin([3, 6, 9, 12]).all()
    assert standard["tau_days"].min() >= 1 and standard["tau_days"].max() <= 370
    assert not ((standard["date"] == pd.Timestamp("2008-03-20")) & good_friday).any()  # no quote on its last trading day


def test_strikes_are_on_a_5_point_grid_and_25_points_far_from_the_money(prepared):
    strike = prepared["strike_price"]
    assert (strike % 5000 == 0).all()
    far = (prepared["moneyness"] - 1).abs() > 0.36
    assert far.any() and (strike[far] % 25000 == 0).all()
    assert prepared["moneyness"].between(0.49, 1.51).all()


def test_optionid_is_one_contract_and_stays_quoted_from_day_to_day(prepared):
    terms = prepared.groupby("optionid")[["exdate", "strike_price", "cp_flag"]].nunique(dropna=False)
    assert (terms == 1).all().all()
    core = prepared[prepared["moneyness"].between(0.9, 1.1) & prepared["tau_days"].between(20, 100)]
    trading_days = pd.DatetimeIndex(sorted(prepared["date"].unique()))
    next_day = pd.Series(trading_days[1:], index=trading_days[:-1])
    has_next = core["date"].map(next_day)
    pairs = set(zip(prepared["optionid"], prepared["date"]))
    quoted_next = [(o, d) in pairs for o, d in zip(core["optionid"], has_next) if pd.notna(d)]
    assert np.mean(quoted_next) > 0.95  # the 1% missing quotes plus contracts crossing the sampling edge


def test_bids_and_offers_sit_on_ticks_and_clean_mids_respect_the_arbitrage_bounds(panel, prepared):
    bid, offer = prepared["best_bid"].to_numpy(), prepared["best_offer"].to_numpy()
    for price in (bid, offer):
        tick = np.where(price < 3, 0.05, 0.10)
        np.testing.assert_allclose(np.round(price / tick) * tick, price, atol=1e-9)
    clean = clean_rows(prepared, panel[2])
    assert (clean["best_offer"] > clean["best_bid"]).all() and (clean["best_bid"] >= 0).all()
    lower, upper = arbitrage_bounds(clean)
    assert (clean["mid"] >= lower).all() and (clean["mid"] <= upper).all()


def test_vendor_iv_reprices_the_mid(panel, prepared):
    clean = clean_rows(prepared, panel[2])
    priced = clean[(clean["best_bid"] > 0) & clean["impl_volatility"].notna()]
    model = bs_price(priced["close"], priced["strike"], priced["T"], priced["r"], priced["q"], priced["impl_volatility"], priced["cp_flag"] == "C")
    np.testing.assert_allclose(model, priced["mid"], rtol=1e-5, atol=1e-6)


def test_far_out_of_the_money_options_have_zero_bids_in_a_calm_market_as_on_spx():
    calm = prepare(SyntheticPanelSpec(start=pd.Timestamp("2017-01-01"), end=pd.Timestamp("2017-03-31"), target_quotes=20_000, defect_share=0.0))
    short = calm["tau_days"] < 45
    far_puts = calm[short & (calm["cp_flag"] == "P") & (calm["moneyness"] < 0.8)]
    far_calls = calm[short & (calm["cp_flag"] == "C") & (calm["moneyness"] > 1.1)]
    near = calm[calm["tau_days"].between(7, 45) & calm["moneyness"].between(0.97, 1.03)]
    # most: the put wing is the dearest part of the surface, so some 20%-out-of-the-money puts keep a 0.05 bid
    assert len(far_puts) > 50 and (far_puts["best_bid"] == 0).mean() > 0.75
    assert len(far_calls) > 50 and (far_calls["best_bid"] == 0).mean() > 0.9
    assert (near["best_bid"] == 0).mean() < 0.05  # only a few cheap 1-2-week options 2-3% out of the money


def test_clean_parity_rate_is_the_tbill_rate_plus_40bp_so_zero_rate_years_keep_it_positive():
    # 2012: T-bill rate ≈ 0.05%; options priced at r = log1p(rf_annual) + 0.004 (OptionMetrics-like zero curve)
    spec = SyntheticPanelSpec(start=pd.Timestamp("2012-01-01"), end=pd.Timestamp("2012-02-29"), target_quotes=8_000)
    clean = prepare(spec.clean_world(sigma=0.2))
    call, _, rate = pair_rates(clean)
    tbill = np.log1p(clean["rf_annual"].to_numpy()[call])
    assert len(rate) > 1000 and tbill.max() < 0.001
    np.testing.assert_allclose(rate - tbill, 0.004, atol=1e-8)


def test_noisy_quotes_in_zero_rate_years_rarely_have_a_negative_parity_rate():
    # the default surface with quote noise and ticks, level-1/2 filters 1-7 applied (what filter 8 sees)
    from asset_pricing.options.filters import LEVEL_1_2_FILTERS

    spec = SyntheticPanelSpec(start=pd.Timestamp("2012-01-01"), end=pd.Timestamp("2012-04-30"), target_quotes=20_000, defect_share=0.0)
    shares = []
    for variant in (spec, replace(spec, pricing_rate_spread=0.0)):
        quotes = prepare(variant)
        for level_filter in LEVEL_1_2_FILTERS[:7]:
            quotes = level_filter(quotes).kept
        shares.append(np.mean(pair_rates(quotes)[2] < 0))
    assert shares[0] < 0.01 and shares[1] > 0.25  # T-bill pricing: a third of the pairs lost to filter 8


def test_sampling_concentrates_quotes_where_the_cjs_portfolios_need_them(prepared):
    market, _ = synthetic_market(PANEL)
    expirations = expiration_calendar(PANEL.start - pd.Timedelta(days=31), PANEL.end + pd.Timedelta(days=432))
    universe = listed_contract_days(schema.day_numbers(market.index), market["close"].to_numpy(), expirations, PANEL.grid)
    moneyness = universe["strike"] / market["close"].to_numpy()[universe["day"]]
    in_reach = (np.abs(moneyness - 1) <= 0.14) & (universe["tau"] >= 7) & (universe["tau"] <= 120)
    quoted_in_reach = prepared["moneyness"].sub(1).abs().le(0.14) & prepared["tau_days"].between(7, 120)
    assert quoted_in_reach.mean() > 2.5 * in_reach.mean()  # 46% of the quotes, 15% of the listed contract-days
    assert (prepared["moneyness"] < 0.7).any() and (prepared["moneyness"] > 1.3).any() and (prepared["tau_days"] > 240).any()


def test_quoted_strikes_of_an_expiry_are_evenly_spaced_unlike_independent_draws():
    strikes = 5.0 * np.arange(1, 3001)
    exdate = np.full(strikes.size, 17_000)
    for share in (0.1, 0.3):
        quoted = np.flatnonzero(strike_sequence_position(exdate, strikes, 7, ContractGrid()) < share)
        gaps = np.diff(quoted)
        assert len(set(gaps)) <= 3 and gaps.max() <= 1.9 / share  # three-gap theorem
        assert abs(gaps.mean() - 1 / share) < 0.05 / share
        random_gaps = np.diff(np.flatnonzero(contract_uniform(exdate, strikes, 7) < share))
        assert random_gaps.max() > 4 / share


def test_quotes_are_as_dense_in_moneyness_at_an_index_of_600_as_at_2400():
    grid, intensity, per_band = ContractGrid(), 0.5, {}
    for spot in (600.0, 2400.0):
        strikes = np.arange(np.ceil(0.95 * spot / 5) * 5, 1.05 * spot, 5.0)
        exdates = np.repeat(np.arange(17_000, 17_400, 7), strikes.size)
        strike_rows = np.tile(strikes, 400 // 7 + 1)[: exdates.size]
        weight = sampling_weight(strike_rows / spot, np.full(exdates.size, 30), strike_rows, grid)
        quoted = strike_sequence_position(exdates, strike_rows, 1, grid) < intensity * weight
        per_band[spot] = quoted.sum() / len(np.unique(exdates))  # quoted strikes per expiry within ±5%
    assert per_band[600.0] == pytest.approx(per_band[2400.0], rel=0.1)
    assert 9 < per_band[600.0] < 11  # 0.1 of moneyness / (5 points / (0.5 · 1000)) = 10


def test_quote_noise_is_mostly_persistent_per_strike_and_shared_by_call_and_put():
    # flat σ = 0.2, no ticks: the vendor IV is σ·exp(0.01·ε), ε = √0.75·z_K + √0.25·z_{K,t}
    world = PANEL.clean_world(sigma=0.2)
    spec = replace(world, surface=replace(world.surface, quote_noise=0.01), target_quotes=10_000)
    quotes = prepare(spec)
    noise = np.log(quotes["impl_volatility"] / 0.2) / 0.01
    assert noise.std() == pytest.approx(1.0, abs=0.05)
    by_leg = noise.groupby([quotes["date"], quotes["exdate"], quotes["strike_price"], quotes["cp_flag"]], observed=True).first().unstack()
    np.testing.assert_allclose(by_leg["C"].dropna(), by_leg["P"].reindex(by_leg["C"].dropna().index), atol=1e-9)
    frame = pd.DataFrame({"optionid": quotes["optionid"], "date": quotes["date"], "noise": noise}).sort_values(["optionid", "date"])
    following = frame.groupby("optionid")["noise"].shift(-1)
    assert np.corrcoef(frame["noise"][following.notna()], following.dropna())[0, 1] == pytest.approx(0.75, abs=0.05)


def test_tick_rounding_helpers():
    np.testing.assert_allclose(floor_to_tick(np.array([2.97, 3.04, 12.38, 0.049])), [2.95, 3.0, 12.3, 0.0])
    np.testing.assert_allclose(ceil_to_tick(np.array([2.97, 3.04, 12.38, 0.001])), [3.0, 3.1, 12.4, 0.05])


def test_surface_has_negative_skew_upward_term_structure_in_calm_times_and_a_leverage_effect():
    surface = VolatilitySurface()
    theta = 0.03
    skew = implied_volatility_surface(np.log(np.array([0.9, 1.0, 1.1])), np.full(3, 30.0), np.full(3, 0.01), np.zeros(3), theta, surface)
    assert skew[0] > skew[1] > skew[2]
    calm = implied_volatility_surface(np.zeros(2), np.array([30.0, 180.0]), np.full(2, 0.01), np.zeros(2), theta, surface)
    stressed = implied_volatility_surface(np.zeros(2), np.array([30.0, 180.0]), np.full(2, 0.2), np.zeros(2), theta, surface)
    assert calm[0] < calm[1] and stressed[0] > stressed[1]
    # σ̄ of the module docstring, times e^(−½·sd_L²): the level shock's mean correction at 30 days (m = 1) on a day with L = 0
    expected = np.sqrt(surface.variance_premium * (theta + (0.01 - theta) * (1 - np.exp(-3 * 30 / 365)) / (3 * 30 / 365)))
    np.testing.assert_allclose(calm[0], expected * np.exp(-0.5 * surface.level_shock_sd**2))
    # the index rises 1% (the 10-day trend gap rises by ~0.93%): a fixed strike's IV falls
    strike, spot = 1000.0, 1000.0
    before = implied_volatility_surface(np.log(np.array([strike / spot])), np.array([30.0]), np.array([0.03]), np.array([0.0]), theta, surface)
    after = implied_volatility_surface(np.log(np.array([strike / (spot * 1.01)])), np.array([30.0]), np.array([0.03]), np.array([0.0093]), theta, surface)
    assert after[0] < before[0]


def test_smile_is_steeper_in_log_terms_when_the_volatility_level_is_low():
    surface, theta = VolatilitySurface(), 0.03
    ratios = {}
    for variance in (0.01, 0.15):  # ATM about 11% and 40%
        vols = implied_volatility_surface(np.log(np.array([0.9, 1.0, 1.1])), np.full(3, 30.0), np.full(3, variance), np.zeros(3), theta, surface)
        ratios[variance] = (vols[0] / vols[1], vols[2] / vols[1])
    calm, stressed = ratios[0.01], ratios[0.15]
    assert calm[0] > stressed[0] > 1.1 and calm[1] < stressed[1] < 1.0
    assert 1.35 < calm[0] < 1.7 and 0.7 < calm[1] < 0.9  # SPX, July 2013 (VIX 13.8): 1.36 and 0.81


def test_ar1_path_by_hand_and_its_stationary_sd_and_half_life():
    # φ = 2^(−1/1) = 0.5: x_0 = sd·z_0, then x_t = 0.5·x_{t−1} + sd·√0.75·z_t
    np.testing.assert_allclose(ar1_path(np.array([1.0, 0.0, 0.0]), 2.0, 1.0), [2.0, 1.0, 0.5])
    np.testing.assert_allclose(ar1_path(np.array([0.0, 1.0, -1.0]), 2.0, 1.0), [0.0, 2.0 * np.sqrt(0.75), np.sqrt(0.75) - 2.0 * np.sqrt(0.75)])
    assert not ar1_path(np.ones(3), 0.0, 20.0).any() and len(ar1_path(np.array([]), 0.1, 20.0)) == 0
    path = ar1_path(np.random.default_rng(5).standard_normal(400_000), 0.1, 20.0)
    assert path.std() == pytest.approx(0.1, rel=0.03)
    assert np.corrcoef(path[:-20], path[20:])[0, 1] == pytest.approx(0.5, abs=0.02)  # half its size after 20 days


def test_level_shock_loading_is_one_at_30_days_and_the_life_average_of_a_decaying_shock():
    k = np.log(2.0) * 252 / 20.0  # per year, half-life 20 trading days
    life_average = lambda tau: (1 - np.exp(-k * tau / 365)) / (k * tau / 365)  # noqa: E731
    np.testing.assert_allclose(level_shock_loading(np.array([30.0, 90.0, 365.0]), 20.0), [1.0, life_average(90) / life_average(30), life_average(365) / life_average(30)])
    assert level_shock_loading(np.array([90.0]), 20.0)[0] == pytest.approx(0.575, abs=0.001)  # a 90-day IV moves 58% as much


def test_surface_shocks_move_the_level_and_the_skew_and_nothing_else():
    theta, x, tau = 0.03, np.log(np.array([0.9, 1.0, 1.1])), np.full(3, 30.0)
    surface = VolatilitySurface(level_shock_sd=0.2, skew_shock_sd=0.2)
    args = (x, tau, np.full(3, 0.12), np.zeros(3), theta, surface)
    calm = implied_volatility_surface(*args)
    # level: every strike's 30-day ln σ moves by L·m(30) − ½(0.2·m(30))² = L − 0.02 (the −0.02 keeps E[σ] unchanged)
    without = implied_volatility_surface(x, tau, np.full(3, 0.12), np.zeros(3), theta, replace(surface, level_shock_sd=0.0))
    np.testing.assert_allclose(np.log(calm / without), -0.02, rtol=1e-12)
    np.testing.assert_allclose(np.log(implied_volatility_surface(*args, level_shock=0.1) / calm), 0.1, rtol=1e-12)
    ninety = np.full(3, 90.0)  # a 90-day IV moves m(90) = 0.575 times as much
    np.testing.assert_allclose(
        np.log(implied_volatility_surface(x, ninety, np.full(3, 0.12), np.zeros(3), theta, surface, level_shock=0.1)
               / implied_volatility_surface(x, ninety, np.full(3, 0.12), np.zeros(3), theta, surface)),
        0.1 * level_shock_loading(ninety, surface.level_shock_halflife_days), rtol=1e-12,
    )
    # skew: e^(k − ½·0.2²) scales s only, i.e. k = ln 2 + 0.02 is the surface with twice the 30-day skew (same level, curvature)
    steeper = implied_volatility_surface(x, tau, np.full(3, 0.12), np.zeros(3), theta, replace(surface, skew_30d=2 * surface.skew_30d, skew_shock_sd=0.0))
    np.testing.assert_allclose(implied_volatility_surface(*args, skew_shock=np.log(2.0) + 0.02), steeper, rtol=1e-12)
    assert implied_volatility_surface(*args, skew_shock=np.log(2.0))[1] == pytest.approx(calm[1], rel=1e-12)  # ATM unchanged


def test_surface_shocks_are_seeded_persistent_and_unrelated_to_the_index():
    spec = replace(PANEL, start=pd.Timestamp("1996-01-01"), end=pd.Timestamp("2012-12-31"))
    spec = replace(spec, surface=replace(spec.surface, level_shock_sd=0.15, skew_shock_sd=0.2))
    market, _ = synthetic_market(spec)
    level, skew = surface_shocks(10, spec.surface, spec.seed)
    np.testing.assert_array_equal(level, surface_shocks(10, spec.surface, spec.seed)[0])
    assert not np.allclose(level, surface_shocks(10, spec.surface, spec.seed + 1)[0]) and not np.allclose(level, skew)
    assert market["level_shock"].std() == pytest.approx(0.15, rel=0.25) and market["skew_shock"].std() == pytest.approx(0.2, rel=0.35)
    index_return = np.log(market["close"]).diff().iloc[1:]
    for column in ("level_shock", "skew_shock"):
        assert abs(np.corrcoef(market[column].diff().iloc[1:], index_return)[0, 1]) < 0.05
    without = synthetic_market(replace(spec, surface=replace(spec.surface, level_shock_sd=0.0, skew_shock_sd=0.0)))[0]
    assert not without[["level_shock", "skew_shock"]].to_numpy().any()
    pd.testing.assert_frame_equal(without.drop(columns=["level_shock", "skew_shock"]), market.drop(columns=["level_shock", "skew_shock"]))


def test_fixed_strike_iv_falls_when_the_index_rises_in_the_panel(panel, prepared):
    clean = clean_rows(prepared, panel[2])
    clean = clean[clean["moneyness"].between(0.9, 1.1) & clean["tau_days"].between(20, 120) & (clean["best_bid"] > 0) & clean["impl_volatility"].notna()]
    clean = clean.sort_values(["optionid", "date"])
    following = clean.groupby("optionid")[["date", "impl_volatility", "close"]].shift(-1)
    consecutive = following["date"].notna() & ((following["date"] - clean["date"]).dt.days <= 4)
    iv_change = np.log(following["impl_volatility"] / clean["impl_volatility"])[consecutive]
    index_return = np.log(following["close"] / clean["close"])[consecutive]
    slope = np.cov(iv_change, index_return)[0, 1] / index_return.var()
    assert slope < -0.5


def test_atm_level_follows_the_real_variance(prepared):
    atm = prepared[prepared["moneyness"].between(0.98, 1.02) & prepared["tau_days"].between(20, 45) & (prepared["best_bid"] > 0)]
    atm = atm[atm["impl_volatility"].between(0.05, 1.0)].groupby("date")["impl_volatility"].median()
    from asset_pricing.sources.embedded import load_prices

    returns = np.log(load_prices()["SP500"].dropna()).diff()
    realized = returns.rolling(21).std().reindex(atm.index) * np.sqrt(252)
    assert np.corrcoef(atm, realized)[0, 1] > 0.5  # 0.59: the level shock moves the IV apart from the index (sd 0.05 in ln σ)
    assert 0.12 < atm.median() < 0.35 and atm.loc["2008-01-15":"2008-03-31"].mean() > atm.loc["2007-10-01":"2007-10-31"].mean()


def test_truth_rows_carry_the_planted_defects(panel):
    _, quotes, truth = panel
    planted = truth[truth["row"] >= 0]
    frame = quotes.reset_index()
    rows = {kind: frame.set_index(["year", "row"]).loc[list(zip(g["year"], g["row"]))] for kind, g in planted.groupby("defect", observed=True)}
    previous = frame.set_index(["year", "row"]).loc[list(zip(planted.loc[planted["defect"] == "duplicate", "year"], planted.loc[planted["defect"] == "duplicate", "row"] - 1))]
    pd.testing.assert_frame_equal(rows["duplicate"].reset_index(drop=True), previous.reset_index(drop=True))
    assert (rows["zero_bid"]["best_bid"] == 0).all()
    iv = rows["iv_out_of_range"]["impl_volatility"]
    assert ((iv < 0.05) | (iv > 1.0)).all()
    assert (truth["target_step"] == truth["defect"].map({**DEFECT_TARGET_STEP, MISSING_QUOTE: 0}).astype(int)).all()
    missing = truth[truth["defect"] == MISSING_QUOTE]
    quoted = set(zip(quotes["optionid"], quotes["date"]))
    assert not any((o, d) in quoted for o, d in zip(missing["optionid"], missing["date"]))


def test_each_defect_kind_is_planted_at_the_configured_share(panel):
    _, quotes, truth = panel
    counts = truth["defect"].value_counts()
    n = int((quotes["am_settlement"] == 1).sum())  # defects are planted on the standard contracts
    for kind in DEFECT_TARGET_STEP:
        expected = PANEL.defect_share * n
        assert abs(counts[kind] - expected) < 4 * np.sqrt(expected), kind
    share_missing = counts[MISSING_QUOTE] / (n + counts[MISSING_QUOTE])
    assert abs(share_missing - PANEL.missing_share) < 0.002


def test_clean_world_is_black_scholes_at_a_flat_sigma():
    spec = PANEL.clean_world(sigma=0.25)
    underlying, quotes, truth = build(spec)
    checked = schema.validate_underlying(underlying, "underlying")
    prepared = schema.attach_underlying(schema.validate_quotes(quotes, checked, "clean"), checked)
    model = bs_price(prepared["close"], prepared["strike"], prepared["T"], prepared["r"], prepared["q"], 0.25, prepared["cp_flag"] == "C")
    np.testing.assert_allclose(prepared["mid"], model, rtol=1e-12, atol=1e-12)
    assert (prepared["impl_volatility"] == 0.25).all() and truth.empty
    assert not prepared.duplicated(["optionid", "date"]).any()


def test_too_many_quotes_is_a_settings_error():
    spec = SyntheticPanelSpec(start=pd.Timestamp("2008-01-01"), end=pd.Timestamp("2008-01-31"), target_quotes=10_000_000)
    with pytest.raises(settings.SettingsError, match="SYNTHETIC_QUOTES=10000000 is invalid"):
        generate_synthetic_panel(spec)


def test_window_beyond_the_embedded_rate_is_a_settings_error():
    spec = SyntheticPanelSpec(start=pd.Timestamp("2018-06-01"), end=pd.Timestamp("2019-06-30"), target_quotes=5_000)
    with pytest.raises(settings.SettingsError, match="OPTIONS_START/OPTIONS_END reach 2018-12"):
        generate_synthetic_panel(spec)


def test_pull_writes_year_files_skips_current_ones_and_regenerates_on_a_new_seed(monkeypatch):
    monkeypatch.setenv("OPTIONS_START", "2007-12-01")
    monkeypatch.setenv("OPTIONS_END", "2008-01-31")
    monkeypatch.setenv("SYNTHETIC_QUOTES", "5000")
    paths, cfg = project_paths(), settings.load()
    targets = pull_options(paths, cfg)
    assert targets == pull_options_targets(paths, cfg) and all(p.is_file() for p in targets)
    assert [p.name for p in targets] == ["quotes_2007.parquet", "quotes_2008.parquet", "truth_2007.parquet", "truth_2008.parquet", "underlying.parquet"]
    quotes_2008 = targets[1]
    stamp = quotes_2008.stat().st_mtime_ns
    pull_options(paths, cfg)
    assert quotes_2008.stat().st_mtime_ns == stamp

    monkeypatch.setenv("SYNTHETIC_SEED", "7")
    before = pd.read_parquet(quotes_2008)
    pull_options(paths, settings.load())
    assert not pd.read_parquet(quotes_2008).equals(before)


# --------------------------------------------------------------------------------------------------
# OptionMetrics' quirks (docs/methods.md §3.3, §6.4)
# --------------------------------------------------------------------------------------------------
def test_the_quirks_leave_every_standard_quote_and_planted_defect_as_it_was(panel):
    _, quotes, truth = panel
    _, plain, plain_truth = build(replace(PANEL, quirks=replace(PANEL.quirks, enabled=False)))
    assert (plain["am_settlement"] == 1).all() and plain["impl_volatility"].notna().mean() > 0.99
    standard = quotes[quotes["am_settlement"] == 1].reset_index(drop=True)
    plain = plain.reset_index(drop=True)
    columns = [c for c in schema.RAW_QUOTE_COLUMNS if c != "impl_volatility"]
    pd.testing.assert_frame_equal(standard[columns], plain[columns])
    nulled = standard["impl_volatility"].isna() & plain["impl_volatility"].notna()
    np.testing.assert_array_equal(standard["impl_volatility"][~nulled], plain["impl_volatility"][~nulled])
    key = ["date", "optionid", "defect"]
    pd.testing.assert_frame_equal(truth[key].sort_values(key).reset_index(drop=True), plain_truth[key].sort_values(key).reset_index(drop=True))


def test_spxw_rows_carry_their_flags_and_after_2015_share_terms_with_standard_quotes_at_other_prices():
    underlying, quotes, _ = build(SyntheticPanelSpec(start=pd.Timestamp("2015-03-02"), end=pd.Timestamp("2015-04-30"), target_quotes=20_000))
    weekly = quotes[quotes["root"] == "SPXW"]
    standard = quotes[quotes["root"] == "SPX"]
    assert (weekly["am_settlement"] == 0).all() and (standard["am_settlement"] == 1).all() and (quotes["ss_flag"] == "0").all()
    third_friday = weekly["exdate"].dt.day.between(15, 21) & (weekly["exdate"].dt.dayofweek == 4)
    assert (weekly.loc[~third_friday, "expiry_indicator"] == "w").all() and weekly.loc[third_friday, "expiry_indicator"].isna().all()
    assert standard["expiry_indicator"].isna().all() and (standard["exdate"].dt.dayofweek == 4).all()  # Fridays after 2015-02
    assert weekly["exdate"].dt.dayofweek.isin([3, 4]).all()  # Fridays; Thursday 2015-04-02 before Good Friday
    assert (weekly["symbol"].str.startswith("SPXW ")).all() and (standard["symbol"].str.startswith("SPX ")).all()
    first = standard.iloc[0]
    assert first["symbol"] == f"SPX {first['exdate']:%y%m%d}{first['cp_flag']}{first['strike_price']}"
    assert not set(weekly["optionid"]) & set(standard["optionid"])
    terms = ["date", "exdate", "cp_flag", "strike_price"]
    shared = standard.merge(weekly, on=terms, suffixes=("_spx", "_spxw"))
    assert len(shared) > 100
    mid = lambda side: (shared[f"best_bid_{side}"] + shared[f"best_offer_{side}"]) / 2  # noqa: E731
    assert (mid("spx") != mid("spxw")).mean() > 0.5


def test_null_implied_volatilities_are_a_realistic_share_and_sit_where_the_vendor_cannot_compute_one(panel, prepared):
    share = prepared["impl_volatility"].isna().mean()
    assert 0.05 < share < 0.15
    clean = clean_rows(prepared, panel[2])
    near_money = clean["moneyness"].between(0.9, 1.1) & clean["tau_days"].between(7, 180)
    assert clean.loc[near_money, "impl_volatility"].isna().mean() < 0.02  # the random 1% only
    is_call = clean["cp_flag"] == "C"
    deep = (is_call & (clean["moneyness"] < 0.85)) | (~is_call & (clean["moneyness"] > 1.15))
    assert clean.loc[deep, "impl_volatility"].isna().mean() > 0.3
    assert clean.loc[clean["tau_days"] <= 1, "impl_volatility"].isna().all()
