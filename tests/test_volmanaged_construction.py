"""Construction of the volatility-managed strategies (docs/methods.md §2): hand-computed cases, a line-by-line oracle,
the lag, renormalized weights and every bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from settings import SettingsError
from asset_pricing.io import DataValidationError
from asset_pricing.volmanaged import signals, strategies, variance
from asset_pricing.volmanaged.pipeline import VolManagedConfig, run_volmanaged
from asset_pricing.volmanaged.returns import monthly_asset_returns
from asset_pricing.volmanaged.variance import realized_variance

TRAIN_END = pd.Timestamp("2004-12-31")


def synthetic_panel(n_assets: int = 4, start: str = "2003-01-01", end: str = "2006-12-31", seed: int = 7):
    """Gap-free daily returns with month-varying volatility, a market series, its monthly sigma2 and rf."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, end, name="date")
    month_of_day, month_labels = pd.factorize(days.to_period("M"))
    month_vol = 0.005 + 0.02 * rng.random((len(month_labels), n_assets + 1))
    shocks = rng.standard_normal((len(days), n_assets + 1)) * month_vol[month_of_day] + 0.0004
    daily = pd.DataFrame(shocks[:, :n_assets], index=days, columns=[f"S{i}" for i in range(n_assets)])
    market = pd.Series(0.5 * shocks[:, :n_assets].mean(axis=1) + 0.5 * shocks[:, n_assets], index=days, name="market")
    market_vol = market.groupby(pd.Grouper(freq="ME")).var(ddof=1).to_frame("sigma2")
    months = pd.date_range(start, end, freq="ME", name="date")
    rf = pd.Series(0.001 + 0.002 * rng.random(len(months)), index=months, name="rf_month")
    return daily, market, market_vol, rf


def textbook_construction(daily_rets: pd.DataFrame, mkt_vol: pd.DataFrame, rf_m: pd.Series, train_end: pd.Timestamp, max_leverage=None):
    """The textbook construction written out line by line, independently of the package (Moreira and Muir
    2017: k = 1/mean training signal, exposure lagged one month; fixed equal weights, uncapped unless given)."""
    mkt_vol = mkt_vol.copy()
    mkt_vol.index = pd.to_datetime(mkt_vol.index).to_period("M").to_timestamp("M")
    rf_m = rf_m.to_frame("rf_month")
    rf_m.index = pd.to_datetime(rf_m.index).to_period("M").to_timestamp("M")
    mret = (1.0 + daily_rets).groupby(pd.Grouper(freq="ME")).prod() - 1.0
    asset_sigma2 = daily_rets.groupby(pd.Grouper(freq="ME")).var(ddof=1)

    def calibrate_k(signal_base, train_mask):
        avg = signal_base.loc[train_mask].dropna().mean()
        return float(1.0 / avg) if np.isfinite(avg) and avg > 0 else 1.0

    def clamp(x):
        return x if max_leverage is None else x.clip(upper=float(max_leverage))

    s_base = (1.0 / mkt_vol["sigma2"]).rename("s_base").replace([np.inf, -np.inf], np.nan)
    k_common = calibrate_k(s_base, s_base.index <= train_end)
    exposure_common = clamp((k_common * s_base).rename("exposure_common"))
    exposure_common_lag = exposure_common.shift(1).rename("exposure_common_lag")
    common_df = pd.concat([mkt_vol["sigma2"].rename("sigma2_mkt"), s_base, pd.Series(k_common, index=s_base.index, name="k_common"),
                           exposure_common, exposure_common_lag], axis=1)
    s_base_i = 1.0 / asset_sigma2.replace([np.inf, -np.inf], np.nan)
    k_i = {col: calibrate_k(s_base_i[col], s_base_i.index <= train_end) for col in s_base_i.columns}
    k_i_ser = pd.Series(k_i)
    exposure_i = clamp(s_base_i.mul(k_i_ser, axis=1))
    exposure_i_lag = exposure_i.shift(1)
    onefactor_df = pd.concat({"sigma2_i": asset_sigma2, "s_base_i": s_base_i,
                              "k_i": pd.DataFrame({c: k_i[c] for c in s_base_i.columns}, index=s_base_i.index),
                              "exposure_i": exposure_i, "exposure_i_lag": exposure_i_lag}, axis=1)
    idx = mret.index.intersection(exposure_common_lag.index).intersection(rf_m.index)
    mret, exposure_common_lag, exposure_i_lag = mret.loc[idx], exposure_common_lag.loc[idx], exposure_i_lag.loc[idx]
    rf = rf_m.loc[idx, "rf_month"].rename("rf")
    w = pd.Series(1.0 / len(mret.columns), index=mret.columns)
    ew = (mret * w).sum(axis=1).rename("ew")
    common_excess = (exposure_common_lag * (mret.sub(rf, axis=0) * w).sum(axis=1)).rename("common_excess")
    onefactor_excess = (mret.sub(rf, axis=0) * (w * exposure_i_lag)).sum(axis=1).rename("onefactor_excess")
    strat = pd.concat([rf, ew, (ew - rf).rename("ew_excess"), common_excess, (common_excess + rf).rename("common_total"),
                       onefactor_excess, (onefactor_excess + rf).rename("onefactor_total")], axis=1)
    return mret, common_df, onefactor_df, strat


def two_day_config(**changes) -> VolManagedConfig:
    return VolManagedConfig(**{"train_end": TRAIN_END, "min_days": 2, **changes})


# --- line-by-line oracle ------------------------------------------------------------------------------
@pytest.mark.parametrize("max_leverage", [None, 1.5])
def test_outputs_equal_the_line_by_line_oracle_on_a_gap_free_panel(max_leverage):
    daily, market, market_vol, rf = synthetic_panel()
    result = run_volmanaged(daily, market, market_vol, rf, two_day_config(max_leverage=max_leverage))
    mret, common_df, onefactor_df, strat = textbook_construction(daily, market_vol, rf, TRAIN_END, max_leverage)

    pd.testing.assert_frame_equal(result.monthly_asset_returns, mret, check_names=False, check_freq=False, rtol=1e-12, atol=1e-15)
    pd.testing.assert_frame_equal(result.common_vol_signal, common_df, check_names=False, check_freq=False, rtol=1e-12, atol=1e-15)
    pd.testing.assert_frame_equal(result.onefactor_signals, onefactor_df, check_names=False, check_freq=False, rtol=1e-12, atol=1e-15)
    # From the second month on every asset has a lagged exposure, so the oracle's fixed weights are right.
    pd.testing.assert_frame_equal(result.strategy_returns.iloc[1:], strat.iloc[1:], check_names=False, check_freq=False, rtol=1e-12, atol=1e-15)
    # The first month has no lagged exposure: NaN here, where a fixed-weight sum books a 0 one-factor return (docs/methods.md §9.7).
    assert result.strategy_returns.iloc[0][["ew", "common_excess", "onefactor_excess"]].isna().all()
    assert strat.iloc[0]["onefactor_excess"] == 0.0


# --- hand-computed small cases ---------------------------------------------------------------------
def test_monthly_return_compounds_daily_returns_and_ignores_inf():
    days = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-02-03", "2020-02-04"])
    daily = pd.DataFrame({"A": [0.10, -0.05, 0.02, np.inf], "B": [np.nan, np.nan, 0.01, 0.01]}, index=days)
    monthly = monthly_asset_returns(daily)
    assert monthly.loc["2020-01-31", "A"] == pytest.approx(1.10 * 0.95 - 1.0, abs=1e-15)
    assert monthly.loc["2020-02-29", "A"] == pytest.approx(0.02, abs=1e-15)  # the +inf day counts as missing
    assert np.isnan(monthly.loc["2020-01-31", "B"])  # no valid day → NaN, not 0
    assert monthly.loc["2020-02-29", "B"] == pytest.approx(1.01**2 - 1.0, abs=1e-15)


def test_realized_variance_is_sample_variance_and_nan_below_min_days():
    days = pd.bdate_range("2021-03-01", periods=4).append(pd.bdate_range("2021-04-01", periods=2))
    daily = pd.DataFrame({"A": [0.01, 0.03, -0.02, 0.00, 0.05, 0.01]}, index=days)
    variance = realized_variance(daily, min_days=3)
    values = np.array([0.01, 0.03, -0.02, 0.00])
    assert variance.loc["2021-03-31", "A"] == pytest.approx(np.sum((values - values.mean()) ** 2) / 3, rel=1e-12)
    assert np.isnan(variance.loc["2021-04-30", "A"])  # two days < MIN_DAYS=3


def test_strategy_returns_hand_computed_two_assets():
    months = pd.date_range("2020-01-31", periods=2, freq="ME", name="date")
    returns = pd.DataFrame({"A": [0.02, 0.10], "B": [0.04, -0.02]}, index=months)
    rf = pd.Series([0.001, 0.002], index=months)
    exposure_assets_lag = pd.DataFrame({"A": [np.nan, 2.0], "B": [np.nan, 0.5]}, index=months)
    exposure_common_lag = pd.Series([np.nan, 1.5], index=months)
    table = strategies.strategy_returns(returns, rf, exposure_common_lag, exposure_assets_lag)
    second = table.loc["2020-02-29"]
    assert second["ew"] == pytest.approx(0.5 * 0.10 + 0.5 * -0.02)
    assert second["ew_excess"] == pytest.approx(0.04 - 0.002)
    assert second["common_excess"] == pytest.approx(1.5 * 0.5 * ((0.10 - 0.002) + (-0.02 - 0.002)))
    assert second["onefactor_excess"] == pytest.approx(0.5 * 2.0 * (0.10 - 0.002) + 0.5 * 0.5 * (-0.02 - 0.002))
    assert second["onefactor_total"] == pytest.approx(second["onefactor_excess"] + 0.002)
    assert table.loc["2020-01-31", ["ew", "common_excess", "onefactor_excess"]].isna().all()


def test_exposure_uses_previous_month_signal():
    daily, market, market_vol, rf = synthetic_panel()
    result = run_volmanaged(daily, market, market_vol, rf, two_day_config())
    common = result.common_vol_signal
    np.testing.assert_allclose(common["exposure_common_lag"].iloc[1:].to_numpy(), common["exposure_common"].iloc[:-1].to_numpy())
    lagged = result.onefactor_signals["exposure_i_lag"]
    formed = result.onefactor_signals["exposure_i"]
    np.testing.assert_allclose(lagged.iloc[1:].to_numpy(), formed.iloc[:-1].to_numpy())
    # The one-factor return of month t moves with x_{i,t-1}: doubling every exposure formed in t-1 doubles month t.
    month = result.strategy_returns.index[10]
    doubled = strategies.strategy_returns(result.monthly_asset_returns, rf, common["exposure_common_lag"], 2.0 * lagged)
    assert doubled.loc[month, "onefactor_excess"] == pytest.approx(2.0 * result.strategy_returns.loc[month, "onefactor_excess"], rel=1e-12)


def test_train_calibration_gives_average_exposure_one_in_training():
    daily, market, market_vol, rf = synthetic_panel()
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    training = result.common_vol_signal.index <= TRAIN_END
    assert result.common_vol_signal.loc[training, "exposure_common"].mean() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(result.onefactor_signals["exposure_i"].loc[training].mean().to_numpy(), 1.0, rtol=1e-12)


def test_expanding_scale_uses_months_up_to_previous_only():
    months = pd.date_range("2000-01-31", periods=6, freq="ME", name="date")
    signal = pd.DataFrame({"A": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]}, index=months)
    scale = signals.calibrate_scale(signal, months[2], calibration="expanding", min_months=2)
    # k_t = 1 / mean(s_1..s_{t-1}): NaN for t=1,2; then 1/1.5, 1/(7/3), 1/3.75, 1/6.2
    np.testing.assert_allclose(scale["A"].to_numpy(), [np.nan, np.nan, 1 / 1.5, 3 / 7, 1 / 3.75, 1 / 6.2], rtol=1e-12)
    changed = signal.copy()
    changed.iloc[4:] = 1000.0
    changed_scale = signals.calibrate_scale(changed, months[2], calibration="expanding", min_months=2)
    pd.testing.assert_series_equal(changed_scale["A"].iloc[:5], scale["A"].iloc[:5])


def test_match_volatility_equalizes_managed_and_unmanaged_volatility_in_training():
    daily, market, market_vol, rf = synthetic_panel()
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END, scaling_target="match_volatility"))
    returns = result.monthly_asset_returns.sub(rf, axis=0)
    lagged_signal = result.onefactor_signals["s_base_i"].shift(1)
    scale = result.onefactor_signals["k_i"]
    managed = (scale * lagged_signal * returns).loc[: TRAIN_END]
    unmanaged = returns.where(managed.notna()).loc[: TRAIN_END]
    np.testing.assert_allclose(managed.std().to_numpy(), unmanaged.std().to_numpy(), rtol=1e-12)


def test_max_leverage_caps_exposures():
    daily, market, market_vol, rf = synthetic_panel()
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END, max_leverage=1.2))
    uncapped = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    assert result.common_vol_signal["exposure_common"].max() == pytest.approx(1.2)
    assert result.onefactor_signals["exposure_i"].max().max() == pytest.approx(1.2)
    expected = uncapped.common_vol_signal["exposure_common"].clip(upper=1.2)
    pd.testing.assert_series_equal(result.common_vol_signal["exposure_common"], expected)


def test_config_from_settings_takes_every_setting():
    cfg = {
        "TRAIN_END": pd.Timestamp("2004-12-31"), "MIN_DAYS": 12, "VARIANCE_MODEL": "ewma", "EWMA_LAMBDA": 0.9,
        "CALIBRATION": "expanding", "SCALING_TARGET": "match_volatility", "MAX_LEVERAGE": 2.5,
        "START_DATE": pd.Timestamp("2003-02-01"), "END_DATE": pd.Timestamp("2006-11-30"),
    }
    assert VolManagedConfig.from_settings(cfg) == VolManagedConfig(
        train_end=pd.Timestamp("2004-12-31"), min_days=12, variance_model="ewma", ewma_lambda=0.9, calibration="expanding",
        scaling_target="match_volatility", max_leverage=2.5, start_date=pd.Timestamp("2003-02-01"), end_date=pd.Timestamp("2006-11-30"),
    )


def test_diagnostics_and_one_asset_month_hand_computed():
    months = pd.date_range("2020-01-31", periods=4, freq="ME", name="date")
    returns = pd.DataFrame({"A": [0.02, 0.10, 0.01, 0.05], "B": [0.04, -0.02, 0.03, np.nan]}, index=months)
    rf = pd.Series([0.001, 0.002, 0.001, 0.001], index=months)
    exposure_assets_lag = pd.DataFrame({"A": [np.nan, 2.0, 1.0, 1.0], "B": [np.nan, 0.4, 1.0, 1.0]}, index=months)
    exposure_common_lag = pd.Series([np.nan, 1.5, np.nan, 1.0], index=months)  # no market signal for March
    # inputs that reach beyond the returns (an extra month, an extra asset) are cut to the returns' months and assets
    may = pd.Timestamp("2020-05-31")
    rf = pd.concat([rf, pd.Series([0.001], index=[may])])
    exposure_assets_lag = pd.concat([exposure_assets_lag, pd.DataFrame({"A": [1.0], "B": [1.0]}, index=[may])]).assign(C=3.0)
    exposure_common_lag = pd.concat([exposure_common_lag, pd.Series([1.0], index=[may])])
    assert strategies.investable_assets(returns, exposure_assets_lag).shape == (4, 2)
    table = strategies.strategy_returns(returns, rf, exposure_common_lag, exposure_assets_lag)
    assert table.index.equals(months)
    assert table.index.name == "date"
    assert np.isnan(table.loc["2020-03-31", "common_excess"])
    assert table.loc["2020-04-30", "ew"] == pytest.approx(0.05)  # B has no return: A alone, weight 1
    assert table.loc["2020-04-30", "onefactor_excess"] == pytest.approx(1.0 * (0.05 - 0.001))
    diagnostics = strategies.strategy_diagnostics(returns, rf, exposure_common_lag, exposure_assets_lag)
    assert diagnostics.index.equals(months) and diagnostics["n_assets"].dtype == np.int64
    assert diagnostics["n_assets"].tolist() == [0, 2, 2, 1]
    # positions per month: ew w_i; common x_{t-1} w_i; one-factor x_{i,t-1} w_i (0 when undefined)
    # Feb: ew (.5, .5), common (.75, .75), one-factor (1.0, .2); Mar: ew (.5, .5), common (0, 0), one-factor (.5, .5)
    # Apr: ew (1, 0), common (1, 0), one-factor (1, 0)
    expected = pd.DataFrame({
        "exposure_ew": [np.nan, 1.0, 1.0, 1.0],
        "exposure_common": [np.nan, 1.5, np.nan, 1.0],
        "exposure_onefactor": [np.nan, 1.2, 1.0, 1.0],
        "turnover_ew": [0.0, 1.0, 0.0, 0.5 + 0.5],
        "turnover_common": [0.0, 1.5, 1.5, 1.0],
        "turnover_onefactor": [0.0, 1.2, 0.5 + 0.3, 0.5 + 0.5],
    }, index=months)
    pd.testing.assert_frame_equal(diagnostics[expected.columns], expected, rtol=1e-12)


def test_expanding_match_volatility_scale_hand_computed():
    import statistics

    months = pd.date_range("2000-01-31", periods=6, freq="ME", name="date")
    signal = pd.DataFrame({"A": [1.0, 2.0, 4.0, 1.0, 2.0, 4.0]}, index=months)
    excess = pd.DataFrame({"A": [0.01, -0.02, 0.03, 0.01, -0.01, 0.02]}, index=months)
    scale = signals.calibrate_scale(signal, months[2], calibration="expanding", scaling_target="match_volatility",
                                    unmanaged_excess=excess, min_months=2)
    # s_{t-1} f_t from February on: -0.02, 0.06, 0.04, -0.01, 0.04; k_t uses the months before t only
    f, managed = [-0.02, 0.03, 0.01, -0.01, 0.02], [-0.02, 0.06, 0.04, -0.01, 0.04]
    k = [statistics.stdev(f[:m]) / statistics.stdev(managed[:m]) for m in (2, 3, 4)]
    assert k[0] == pytest.approx(0.625)  # (0.05/√2) / (0.08/√2)
    np.testing.assert_allclose(scale["A"].to_numpy(), [np.nan, np.nan, np.nan, *k], rtol=1e-12)
    at_least_three = signals.calibrate_scale(signal, months[2], calibration="expanding", scaling_target="match_volatility",
                                             unmanaged_excess=excess, min_months=3)
    np.testing.assert_allclose(at_least_three["A"].to_numpy(), [np.nan] * 4 + k[1:], rtol=1e-12)
    # unmanaged returns given for more months and series than the signal: only the signal's are used
    wider = pd.concat([pd.DataFrame({"A": [0.5]}, index=[pd.Timestamp("1999-12-31")]), excess]).assign(B=0.01)
    pd.testing.assert_frame_equal(
        signals.calibrate_scale(signal, months[2], calibration="expanding", scaling_target="match_volatility",
                                unmanaged_excess=wider, min_months=2),
        scale,
    )


def test_match_volatility_needs_the_unmanaged_returns_and_scaling_target_is_checked():
    months = pd.date_range("2000-01-31", periods=4, freq="ME", name="date")
    signal = pd.DataFrame({"A": [1.0, 2.0, 3.0, 4.0]}, index=months)
    with pytest.raises(ValueError, match="SCALING_TARGET=match_volatility needs the unmanaged excess returns"):
        signals.calibrate_scale(signal, months[1], scaling_target="match_volatility")
    with pytest.raises(SettingsError, match="Setting SCALING_TARGET='sharpe' is invalid"):
        signals.calibrate_scale(signal, months[1], scaling_target="sharpe")


def test_scale_defaults_to_training_mean_exposure_and_a_first_month_train_end():
    months = pd.date_range("2000-01-31", periods=4, freq="ME", name="date")
    signal = pd.DataFrame({"A": [1.0, 3.0, 8.0, 8.0]}, index=months)
    np.testing.assert_allclose(signals.calibrate_scale(signal, months[1])["A"].to_numpy(), 0.5)  # 1 / mean(1, 3)
    np.testing.assert_allclose(signals.calibrate_scale(signal, months[0])["A"].to_numpy(), 1.0)  # one training month


def test_zero_volatility_training_returns_give_no_scale():
    months = pd.date_range("2000-01-31", periods=4, freq="ME", name="date")
    signal = pd.DataFrame({"A": [1.0, 2.0, 3.0, 4.0]}, index=months)
    flat = pd.DataFrame({"A": [0.01, 0.01, 0.01, 0.02]}, index=months)  # std 0 in training → k = 0, no exposure
    with pytest.warns(signals.ExcludedAssetWarning, match="A: no variance signal in the training window"):
        scale = signals.calibrate_scale(signal, months[2], scaling_target="match_volatility", unmanaged_excess=flat)
    assert scale["A"].isna().all()


def test_max_leverage_below_one_is_a_valid_cap():
    exposure = signals.scaled_exposure(pd.DataFrame({"A": [0.2, 0.9, 1.4]}), pd.DataFrame({"A": [1.0, 1.0, 1.0]}), 0.5)
    assert exposure["A"].tolist() == [0.2, 0.5, 0.5]


def test_signal_with_a_missing_calendar_month_is_an_error():
    months = pd.DatetimeIndex(["2000-01-31", "2000-02-29", "2000-04-30"], name="date")
    with pytest.raises(ValueError, match="signal: the index must hold every calendar month-end"):
        signals.calibrate_scale(pd.DataFrame({"A": [1.0, 2.0, 3.0]}, index=months), months[1])
    with pytest.raises(ValueError, match="exposure: the index must hold every calendar month-end"):
        signals.lagged_exposure(pd.DataFrame({"A": [1.0, 2.0, 3.0]}, index=months))
    with pytest.raises(ValueError, match="No months to split"):
        signals.validate_train_end(pd.DatetimeIndex([]), pd.Timestamp("2000-01-31"))


def test_start_and_end_dates_are_inclusive_and_bound_every_output():
    daily, market, market_vol, rf = synthetic_panel()
    start, end = pd.Timestamp("2003-03-03"), pd.Timestamp("2006-10-31")  # first and last trading day of their months
    result = run_volmanaged(daily, market, market_vol, rf, two_day_config(start_date=start, end_date=end))
    months = pd.date_range("2003-03-31", "2006-10-31", freq="ME", name="date")
    for frame in (result.monthly_asset_returns, result.common_vol_signal, result.onefactor_signals, result.strategy_returns):
        assert frame.index.equals(months) and frame.index.name == "date"
    march = daily.loc["2003-03-03":"2003-03-31"]
    assert result.monthly_asset_returns.loc["2003-03-31", "S0"] == pytest.approx(np.prod(1 + march["S0"]) - 1, rel=1e-12)
    october = daily.loc["2006-10-01":"2006-10-31"]
    assert result.monthly_asset_returns.loc["2006-10-31", "S1"] == pytest.approx(np.prod(1 + october["S1"]) - 1, rel=1e-12)
    # EWMA: the market's decay starts at START_DATE as well (no day before it enters)
    ewma = run_volmanaged(daily, market, market_vol, rf, two_day_config(start_date=start, end_date=end, variance_model="ewma"))
    expected = variance.ewma_variance(market.loc[start:end].to_frame("market"), 0.94, 2)["market"]
    np.testing.assert_allclose(ewma.common_vol_signal["sigma2_mkt"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    with pytest.raises(DataValidationError, match="daily_returns: no rows between START_DATE and END_DATE"):
        run_volmanaged(daily, market, market_vol, rf, two_day_config(start_date=pd.Timestamp("2010-01-01"), end_date=pd.Timestamp("2010-12-31")))


def test_expanding_calibration_reaches_the_common_scale():
    daily, market, market_vol, rf = synthetic_panel()
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END, calibration="expanding"))
    k_common = result.common_vol_signal["k_common"]
    assert k_common.iloc[:12].isna().all() and k_common.iloc[12:].notna().all()  # 12 months, then k from months ≤ t-1
    signal = result.common_vol_signal["s_base"]
    assert k_common.iloc[12] == pytest.approx(1 / signal.iloc[:12].mean(), rel=1e-12)
    assert k_common.iloc[-1] == pytest.approx(1 / signal.iloc[:-1].mean(), rel=1e-12)
    calibration = result.calibration
    assert calibration.loc["market", "k_first"] == pytest.approx(k_common.iloc[12], rel=1e-12)
    assert calibration.loc["market", "k_last"] == pytest.approx(k_common.iloc[-1], rel=1e-12)


def test_calibration_summary_hand_counts():
    daily, market, market_vol, rf = synthetic_panel()
    daily.loc[daily.index < "2003-07-01", "S3"] = np.nan  # S3 starts in July 2003: 18 training months with a signal
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    summary = result.calibration
    assert summary.index.name == "series" and list(summary.index) == ["market", "S0", "S1", "S2", "S3"]
    assert summary["role"].tolist() == ["common", "onefactor", "onefactor", "onefactor", "onefactor"]
    assert summary["signal_months_train"].tolist() == [24, 24, 24, 24, 18]
    assert summary["signal_months_all"].tolist() == [48, 48, 48, 48, 42]
    k_assets = result.onefactor_signals["k_i"]
    assert summary.loc["S2", "k_first"] == summary.loc["S2", "k_last"] == pytest.approx(k_assets["S2"].iloc[0])
    assert summary.loc["market", "k_first"] == pytest.approx(result.common_vol_signal["k_common"].iloc[0])
    assert not summary["excluded"].any()
    assert summary[list(variance.GARCH_FIT_FIELDS)].isna().all().all()  # realized variance: no GARCH fit


def test_market_without_a_positive_training_variance_is_an_error_naming_train_end():
    daily, market, market_vol, rf = synthetic_panel()
    market_vol.loc[market_vol.index <= TRAIN_END, "sigma2"] = 0.0  # a stale index throughout training
    with pytest.raises(DataValidationError, match="no valid month in the training window.*TRAIN_END=2004-12-31.*cannot be calibrated"):
        run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    market_vol.loc[TRAIN_END, "sigma2"] = 1e-4  # the month that ends on TRAIN_END belongs to training
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    assert result.common_vol_signal["k_common"].iloc[0] == pytest.approx(1e-4)  # 1 / mean(1/σ²) over that one month


# --- bad input --------------------------------------------------------------------------------------
def test_one_trading_day_month_has_no_signal_and_the_asset_sits_out_next_month():
    daily, market, market_vol, rf = synthetic_panel()
    month = (daily.index >= "2005-06-01") & (daily.index <= "2005-06-30")
    keep_one = daily.index[month][1:]
    daily.loc[keep_one, "S1"] = np.nan  # S1 trades a single day in June 2005
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END, min_days=10))
    june, july = pd.Timestamp("2005-06-30"), pd.Timestamp("2005-07-31")
    assert np.isnan(result.onefactor_signals.loc[june, ("sigma2_i", "S1")])
    assert np.isnan(result.onefactor_signals.loc[july, ("exposure_i_lag", "S1")])
    assert result.monthly_asset_returns.loc[june, "S1"] == pytest.approx(daily.loc[daily.index[month][0], "S1"])
    others = result.monthly_asset_returns.loc[july, ["S0", "S2", "S3"]]
    assert result.strategy_returns.loc[july, "ew"] == pytest.approx(others.mean(), rel=1e-12)
    assert result.diagnostics.loc[july, "n_assets"] == 3


def test_zero_variance_month_gives_nan_signal_and_renormalized_weights():
    daily, market, market_vol, rf = synthetic_panel()
    march = (daily.index >= "2004-03-01") & (daily.index <= "2004-03-31")
    daily.loc[march, "S2"] = 0.0  # stale price all month (RRC 1990-92)
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    assert result.onefactor_signals.loc["2004-03-31", ("sigma2_i", "S2")] == 0.0
    assert np.isnan(result.onefactor_signals.loc["2004-03-31", ("s_base_i", "S2")])
    april = pd.Timestamp("2004-04-30")
    present = ["S0", "S1", "S3"]
    excess = result.monthly_asset_returns.loc[april, present] - rf.loc[april]
    exposure = result.onefactor_signals.loc[april, "exposure_i_lag"][present]
    assert result.strategy_returns.loc[april, "onefactor_excess"] == pytest.approx((exposure * excess).sum() / 3, rel=1e-12)


def test_asset_that_starts_late_and_one_that_ends_early_enter_only_with_history():
    daily, market, market_vol, rf = synthetic_panel()
    daily.loc[daily.index < "2004-05-01", "S0"] = np.nan  # starts in May 2004
    daily.loc[daily.index > "2006-02-28", "S3"] = np.nan  # stops after February 2006
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    n_assets = result.diagnostics["n_assets"]
    assert n_assets.loc["2004-05-31"] == 3  # S0's first month: a return but no lagged exposure yet
    assert n_assets.loc["2004-06-30"] == 4
    assert n_assets.loc["2006-03-31"] == 3  # S3 has no return any more
    march = pd.Timestamp("2006-03-31")
    present = ["S0", "S1", "S2"]
    assert result.strategy_returns.loc[march, "ew"] == pytest.approx(result.monthly_asset_returns.loc[march, present].mean(), rel=1e-12)


def test_asset_without_training_data_is_excluded_with_a_warning_naming_it():
    daily, market, market_vol, rf = synthetic_panel()
    daily.loc[daily.index <= TRAIN_END, "S2"] = np.nan
    with pytest.warns(signals.ExcludedAssetWarning, match="S2"):
        result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))
    assert result.onefactor_signals["k_i"]["S2"].isna().all()
    assert bool(result.calibration.loc["S2", "excluded"])
    assert (result.diagnostics.loc[TRAIN_END:, "n_assets"].iloc[1:] == 3).all()


@pytest.mark.parametrize("train_end, words", [
    ("2002-06-30", "before the first month 2003-01 of the data, so the training window is empty"),
    ("2006-12-31", "on or after the last month 2006-12 of the data, so the evaluation window is empty"),
])
def test_train_end_outside_the_data_is_an_error_naming_train_end(train_end, words):
    daily, market, market_vol, rf = synthetic_panel()
    with pytest.raises(SettingsError, match=f"TRAIN_END=.*{words}"):
        run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=pd.Timestamp(train_end)))


def test_all_nan_market_variance_is_an_error():
    daily, market, market_vol, rf = synthetic_panel()
    market_vol["sigma2"] = np.nan
    with pytest.raises(DataValidationError, match="sigma2_mkt.*NaN in every month"):
        run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END))


def test_expanding_calibration_without_twelve_earlier_months_is_an_error():
    daily, market, market_vol, rf = synthetic_panel(start="2003-01-01", end="2003-12-31")
    config = VolManagedConfig(train_end=pd.Timestamp("2003-06-30"), calibration="expanding")
    with pytest.warns(signals.ExcludedAssetWarning, match="any expanding window"):
        with pytest.raises(DataValidationError, match="too few months with a signal to calibrate the common scale k"):
            run_volmanaged(daily, market, market_vol, rf, config)


@pytest.mark.parametrize("max_leverage", [0.0, -1.0])
def test_non_positive_max_leverage_is_an_error(max_leverage):
    daily, market, market_vol, rf = synthetic_panel()
    with pytest.raises(SettingsError, match="MAX_LEVERAGE"):
        run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=TRAIN_END, max_leverage=max_leverage))
    with pytest.raises(SettingsError, match="MAX_LEVERAGE"):
        signals.scaled_exposure(pd.DataFrame({"A": [1.0]}), pd.DataFrame({"A": [1.0]}), max_leverage)


def test_unknown_calibration_is_an_error_naming_the_setting():
    months = pd.date_range("2000-01-31", periods=4, freq="ME")
    with pytest.raises(SettingsError, match="CALIBRATION"):
        signals.calibrate_scale(pd.DataFrame({"A": [1.0, 2, 3, 4]}, index=months), months[1], calibration="rolling")


# --- embedded real data ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embedded_panel():
    """The embedded default (skfolio closes, Fama-French rf), 1990-01 .. 2018-11, as the prepare stage builds it."""
    from asset_pricing.prepare.equity import daily_simple_returns
    from asset_pricing.sources.embedded import load_prices, load_rf_monthly

    prices = load_prices().loc["1990-01-01":"2018-11-30"]
    daily = daily_simple_returns(prices)
    rf = load_rf_monthly()["rf_month"].loc["1990-01-31":"2018-11-30"]
    return daily.drop(columns="SP500"), daily["SP500"].rename("market"), rf


def test_outputs_equal_the_oracle_on_the_embedded_panel_without_stale_rrc(embedded_panel):
    daily, market, rf = embedded_panel
    daily = daily.drop(columns="RRC")  # RRC's zero-variance months give the oracle k = 1 (1/inf), docs/methods.md §9.7
    market_vol = market.groupby(pd.Grouper(freq="ME")).var(ddof=1).to_frame("sigma2")
    train_end = pd.Timestamp("2005-12-31")
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=train_end, min_days=2))
    _, common_df, onefactor_df, strat = textbook_construction(daily, market_vol, rf, train_end)
    pd.testing.assert_frame_equal(result.common_vol_signal, common_df, check_names=False, check_freq=False, rtol=1e-12, atol=1e-15)
    pd.testing.assert_frame_equal(result.onefactor_signals, onefactor_df, check_names=False, check_freq=False, rtol=1e-12, atol=1e-15)
    pd.testing.assert_frame_equal(result.strategy_returns.iloc[1:], strat.iloc[1:], check_names=False, check_freq=False, rtol=1e-12, atol=1e-15)


def test_rrc_zero_variance_months_have_no_signal_on_embedded_data(embedded_panel):
    daily, market, rf = embedded_panel
    market_vol = market.groupby(pd.Grouper(freq="ME")).var(ddof=1).to_frame("sigma2")
    result = run_volmanaged(daily, market, market_vol, rf, VolManagedConfig(train_end=pd.Timestamp("2005-12-31")))
    variance_rrc = result.onefactor_signals[("sigma2_i", "RRC")]
    zero_months = variance_rrc.index[variance_rrc == 0.0]
    assert len(zero_months) == 12 and zero_months.max() < pd.Timestamp("1993-01-01")  # docs/methods.md §1.3: 12 months in 1990-92
    assert result.onefactor_signals.loc[zero_months, ("s_base_i", "RRC")].isna().all()
    after = zero_months + pd.offsets.MonthEnd(1)
    assert result.onefactor_signals.loc[after, ("exposure_i_lag", "RRC")].isna().all()
    assert (result.diagnostics.loc[after, "n_assets"] == 19).all()


def test_month_helpers_name_the_index_date_and_map_to_month_ends():
    from asset_pricing.volmanaged.returns import calendar_months, excess_returns, finite_or_nan, to_month_end

    days = pd.to_datetime(["2020-01-15", "2020-02-03", "2020-02-10", "2020-04-01"])
    assert list(to_month_end(days)) == [pd.Timestamp(d) for d in ("2020-01-31", "2020-02-29", "2020-02-29", "2020-04-30")]
    assert to_month_end(days).name == "date"
    months = calendar_months(days)
    assert list(months) == list(pd.date_range("2020-01-31", "2020-04-30", freq="ME")) and months.name == "date"
    monthly = pd.DataFrame({"A": [0.01, 0.02]}, index=months[:2])
    rf = pd.Series([0.001, 0.002, 0.003], index=months[:3])
    pd.testing.assert_frame_equal(excess_returns(monthly, rf), pd.DataFrame({"A": [0.009, 0.018]}, index=months[:2]))
    cleaned = finite_or_nan(pd.DataFrame({"A": [-np.inf, np.inf, 1.0]}))
    assert cleaned["A"].isna().tolist() == [True, True, False]
