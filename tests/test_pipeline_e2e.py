"""End to end: `doit` on the embedded default into temporary folders, as a newcomer runs it.

One module-scoped run (the slow part) and several claims on its outputs: real content of the prepared
data and of the HTML reports, a second `doit` does nothing, and a settings change reruns only what it
affects.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import settings

pytestmark = pytest.mark.e2e


def _doit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "doit", *args], cwd=settings.PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=1800,
    )


def _executed(output: str) -> set[str]:
    """Tasks doit ran ('.  name'), as opposed to those it found up to date ('-- name')."""
    return set(re.findall(r"^\.  (\S+)", output, flags=re.M))


def _skipped(output: str) -> set[str]:
    return set(re.findall(r"^-- (\S+)", output, flags=re.M))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    env = {key: value for key, value in os.environ.items() if key not in {s.name for s in settings.SETTINGS}}
    env.update(DATA_DIR=str(root / "data"), OUTPUT_DIR=str(root / "output"))
    first = _doit(env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    second = _doit(env)
    return {"root": root, "env": env, "first": first, "second": second}


@pytest.fixture(scope="module")
def golden():
    """The golden values below, derived again from the files shipped in skfolio and arch with numpy and
    pandas indexing only (no function of this project): daily simple returns from closes (these files
    have no missing close), a month's variance with ddof=1 and at least MIN_DAYS=10 returns, monthly
    returns as month-end close over the previous month-end close, k = 1/mean(1/σ²) over the months
    ≤ TRAIN_END=2005-12 with σ² > 0, exposures x_{t−1} = k/σ²_{t−1}, equal weights over the assets with
    a return and a lagged exposure, Sharpe = √12 · mean/std(ddof=1) over the 155 months 2006-01..2018-11."""
    import numpy as np
    from arch.data import frenchdata
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    stocks = load_sp500_dataset().loc["1990-01-01":"2018-11-30"]
    index = load_sp500_index().loc["1990-01-01":"2018-11-30", "SP500"]
    assert stocks.notna().all().all() and index.index.equals(stocks.index)
    month = stocks.index.to_period("M")

    def monthly_variance(closes: pd.DataFrame) -> pd.DataFrame:
        returns = (closes / closes.shift(1) - 1.0).iloc[1:]
        grouped = returns.groupby(month[1:])
        return grouped.var(ddof=1).where(grouped.count() >= 10)

    sigma2_market = monthly_variance(index.to_frame())["SP500"]
    signal_assets = 1.0 / monthly_variance(stocks).where(lambda v: v > 0)
    month_end = stocks.groupby(month).tail(1).set_axis(pd.unique(month))
    monthly = month_end / month_end.shift(1) - 1.0
    french = frenchdata.load()
    yyyymm = pd.DatetimeIndex(french.index).asi8
    rf = pd.Series(french["RF"].to_numpy() / 100.0, index=pd.PeriodIndex.from_fields(year=yyyymm // 100, month=yyyymm % 100, freq="M"))
    rf = rf.reindex(monthly.index)
    training = sigma2_market.index <= pd.Period("2005-12", "M")
    k_common = 1.0 / np.mean(1.0 / sigma2_market[training])
    exposure_common = (k_common / sigma2_market).shift(1)
    exposure_assets = (signal_assets / signal_assets[training].mean()).shift(1)
    investable = monthly.notna() & exposure_assets.notna()
    ew = monthly.where(investable).mean(axis=1)
    common_excess = exposure_common * (ew - rf)
    onefactor_excess = (exposure_assets * monthly.sub(rf, axis=0)).where(investable).mean(axis=1)
    evaluation = (monthly.index > pd.Period("2005-12", "M")) & common_excess.notna() & onefactor_excess.notna()
    assert evaluation.sum() == 155 and investable.loc[pd.Period("2008-10", "M")].sum() == 20
    october = pd.Period("2008-10", "M")
    return {
        "sigma2_2008_10": sigma2_market[october],
        "ew_2008_10": ew[october],
        "common_excess_2008_10": common_excess[october],
        "onefactor_excess_2008_10": onefactor_excess[october],
        "k_common": k_common,
        "sharpe_ew": np.sqrt(12) * (ew - rf)[evaluation].mean() / (ew - rf)[evaluation].std(ddof=1),
        "sharpe_onefactor": np.sqrt(12) * onefactor_excess[evaluation].mean() / onefactor_excess[evaluation].std(ddof=1),
    }


def test_first_run_builds_prepared_data_from_the_embedded_source(pipeline, golden):
    interim = pipeline["root"] / "data" / "interim"
    daily = pd.read_parquet(interim / "daily_returns.parquet")
    assert daily.shape == (7288, 20)
    assert daily.index[0] == pd.Timestamp("1990-01-02") and daily.index[-1] == pd.Timestamp("2018-11-30")
    assert daily.loc["2008-10-15", "AAPL"] == pytest.approx(2.973 / 3.159 - 1.0)  # skfolio closes
    market_vol = pd.read_parquet(interim / "market_vol_monthly.parquet")
    # the S&P 500's October 2008 variance; recomputed from skfolio's closes by the `golden` fixture
    assert golden["sigma2_2008_10"] == pytest.approx(0.0025917492242487454, rel=1e-12)
    assert market_vol.loc["2008-10-31", "sigma2"] == pytest.approx(golden["sigma2_2008_10"], rel=1e-12)
    rf = pd.read_parquet(interim / "rf_monthly.parquet")
    assert rf.loc["2005-12-31", "rf_month"] == pytest.approx(0.0032)  # Fama-French RF 0.32 %
    assert len(rf) == len(market_vol) == 347


def test_volatility_managed_outputs_match_golden_values_on_the_embedded_data(pipeline, golden):
    processed = pipeline["root"] / "data" / "processed" / "volmanaged"
    strategies = pd.read_parquet(processed / "strategy_returns.parquet")
    assert list(strategies.columns) == ["rf", "ew", "ew_excess", "common_excess", "common_total", "onefactor_excess", "onefactor_total"]
    # Each literal is the `golden` fixture's independent value (numpy on skfolio's and arch's files); it is
    # asserted too, so a change of the shipped data shows up as such and not as a code regression.
    literals = {
        "ew_2008_10": -0.13516434629189647,
        "common_excess_2008_10": -0.00572763168916903,  # exposure cut after a volatile September
        "onefactor_excess_2008_10": -0.039174768973618865,
        "k_common": 4.944706599912389e-05,
        "sharpe_ew": 0.7234722503305234,
        "sharpe_onefactor": 1.0836000823421854,
    }
    for name, value in literals.items():
        assert golden[name] == pytest.approx(value, rel=1e-12), name
    october_2008 = strategies.loc["2008-10-31"]
    assert october_2008["ew"] == pytest.approx(golden["ew_2008_10"], rel=1e-9)
    assert october_2008["common_excess"] == pytest.approx(golden["common_excess_2008_10"], rel=1e-9)
    assert october_2008["onefactor_excess"] == pytest.approx(golden["onefactor_excess_2008_10"], rel=1e-9)
    common = pd.read_parquet(processed / "common_vol_signal.parquet")
    assert common["k_common"].iloc[0] == pytest.approx(golden["k_common"], rel=1e-9)
    performance = pd.read_csv(pipeline["root"] / "output" / "tables" / "volmanaged_performance.csv").set_index(["strategy", "window"])
    assert performance.loc[("ew", "evaluation"), "sharpe"] == pytest.approx(golden["sharpe_ew"], rel=1e-9)
    assert performance.loc[("onefactor", "evaluation"), "sharpe"] == pytest.approx(golden["sharpe_onefactor"], rel=1e-9)
    assert performance.loc[("ew", "evaluation"), "months"] == 155


def test_option_study_builds_54_cjs_and_18_hkm_series_labelled_synthetic(pipeline):
    processed = pipeline["root"] / "data" / "processed" / "options"
    cjs = pd.read_parquet(processed / "cjs_portfolio_returns.parquet")
    hkm = pd.read_parquet(processed / "hkm_portfolio_returns.parquet")
    cjs_ids = set(cjs.reset_index()["portfolio_id"])
    assert len(cjs_ids) == 54 and {"cjs_C_900_30", "cjs_P_1100_90", "cjs_C_1000_60"} <= cjs_ids
    assert set(hkm.reset_index()["portfolio_id"]) == {f"hkm_{t}_{m}" for t in "CP" for m in range(900, 1101, 25)}
    assert cjs.attrs["data_source"] == "synthetic option quotes"
    filters = pd.read_csv(pipeline["root"] / "output" / "tables" / "option_filters.csv")
    assert len(filters) == 12 and filters["filter"].iloc[0] == "raw quotes"
    assert filters["filter"].iloc[1] == "contract selection (OPTIONS_CONTRACTS)" and filters["removed"].iloc[1] > 0  # the SPXW rows
    assert (filters["remaining"].diff().dropna() <= 0).all()
    assert (filters["remaining"].iloc[:-1].to_numpy() - filters["removed"].iloc[1:].to_numpy() == filters["remaining"].iloc[1:].to_numpy()).all()
    report = (pipeline["root"] / "output" / "reports" / "03_option_portfolios.html").read_text()
    assert "<title>CJS and HKM option portfolios — synthetic option quotes</title>" in report
    index = (pipeline["root"] / "output" / "reports" / "index.html").read_text()
    assert "synthetic option quotes" in index



def test_default_option_build_resembles_the_published_hkm_series(pipeline):
    """The facts of the synthetic default against HKM's published series (real quotes), computed here with
    numpy on the months both cover (1996-01 … 2012-01), market and rf of the published file for both:
    excess return R − rf, OLS on mkt_rf (beta, residual sd with n − 2 degrees of freedom, R²)."""
    processed = pipeline["root"] / "data" / "processed" / "options"
    cjs = pd.read_parquet(processed / "cjs_portfolio_returns.parquet")
    hkm = pd.read_parquet(processed / "hkm_portfolio_returns.parquet")
    assert cjs["portfolio_id"].nunique() == 54 and hkm["portfolio_id"].nunique() == 18
    assert cjs["return"].notna().all() and hkm["return"].notna().all()  # no NaN month, whole sample
    assert len(hkm) == 18 * 275  # 1996-01 … 2018-11
    published = pd.read_parquet(pipeline["root"] / "data" / "raw" / "published" / "hkm_published_options.parquet")
    build = hkm.pivot(index="date", columns="portfolio_id", values="return").loc["1996-01":"2012-01"]
    window = published.loc[build.index]
    assert len(window) == 193
    market, rf = window["mkt_rf"].to_numpy(), window["rf"].to_numpy()

    def facts_of(returns: np.ndarray) -> dict[str, float]:
        excess = returns - rf
        slope, intercept = np.polyfit(market, excess, 1)
        residual = excess - (intercept + slope * market)
        d = excess - excess.mean()
        return {"beta": slope, "alpha": intercept, "mean": excess.mean(), "sd": returns.std(ddof=1),
                "resid_sd": np.sqrt((residual**2).sum() / (len(excess) - 2)), "r2": 1 - (residual**2).sum() / (d**2).sum(),
                "skew": np.sqrt(len(d) * (len(d) - 1)) / (len(d) - 2) * (d**3).mean() / (d**2).mean() ** 1.5}

    ids = [f"hkm_{cp}_{k}" for cp in "CP" for k in range(900, 1101, 25)]
    ours = pd.DataFrame({pid: facts_of(build[pid].to_numpy()) for pid in ids}).T
    theirs = pd.DataFrame({pid: facts_of(window[pid].to_numpy()) for pid in ids}).T
    assert theirs.loc["hkm_C_900", "beta"] == pytest.approx(0.84, abs=0.005)  # published calls 0.84 -> 0.57
    assert theirs.loc["hkm_P_900", "beta"] == pytest.approx(1.15, abs=0.005)  # published puts 1.15 -> 0.95
    assert theirs.loc["hkm_P_900", "mean"] == pytest.approx(0.0100, abs=5e-5)  # published put 0.900: 1.00 % a month
    # kept from the last round: betas, sds, orders, skewness
    assert (ours["beta"] - theirs["beta"]).abs().max() <= 0.10
    assert ((ours["sd"] / theirs["sd"] - 1).abs() <= 0.25).all()
    calls, puts = ours.loc[ids[:9]], ours.loc[ids[9:]]
    assert (np.diff(calls["mean"]) < 0).all() and (np.diff(puts["mean"]) < 0).all()  # mean returns fall with moneyness
    assert (puts["mean"].to_numpy() > calls["mean"].to_numpy()).all()  # the put mean exceeds the call mean at every moneyness
    assert (np.diff(calls["skew"]) > 0).all() and (puts["skew"] < 0).all()  # call skewness rises with moneyness; puts left-skewed
    # levels and noise (docs/methods.md §6.3): every mean within ±0.25 % a month, residual sd within ±25 %, R² within ±0.08
    gap = ours["mean"] - theirs["mean"]
    assert gap.abs().max() <= 0.0025  # 0.86 % a month (put 0.900) in generator version 4, 0.39 in version 5 (calendar months)
    ratio = ours["resid_sd"] / theirs["resid_sd"]
    assert ((ratio - 1).abs() <= 0.25).all()  # 0.57 (put 1.100) in version 5 (calendar months)
    assert ((ours["r2"] - theirs["r2"]).abs() <= 0.08).all()
    # the months run from the first to the last trading day, as the published ones (docs/methods.md §4.5): the at-the-money call
    # and put together are about a forward on the index, whose CAPM alpha is then about −β × the first day's mean (−0.27 %)
    forward = lambda frame: facts_of(0.5 * (frame["hkm_C_1000"].to_numpy() + frame["hkm_P_1000"].to_numpy()))["alpha"]  # noqa: E731
    assert forward(window) == pytest.approx(-0.0032, abs=0.0002) and forward(build) == pytest.approx(-0.0032, abs=0.0012)
    comparison = pd.read_csv(pipeline["root"] / "output" / "tables" / "option_published_comparison.csv").set_index("portfolio_id")
    np.testing.assert_allclose(comparison.loc[ids, "beta_build"], ours["beta"].astype(float), rtol=1e-9)
    np.testing.assert_allclose(comparison.loc[ids, "resid_sd_build"], ours["resid_sd"].astype(float), rtol=1e-9)
    np.testing.assert_allclose(comparison.loc[ids, "r2_published"], theirs["r2"].astype(float), rtol=1e-9)
    assert (comparison["months"] == 193).all() and comparison["correlation"].isna().all()  # synthetic: no replication check
    report = (pipeline["root"] / "output" / "reports" / "03_option_portfolios.html").read_text()
    assert "This build beside the published HKM series" in report and "On the 193 months both cover" in report
    pricing = (pipeline["root"] / "output" / "reports" / "04_option_pricing.html").read_text()
    assert "<title>Pricing the option portfolios — published real series and synthetic option quotes</title>" in pricing


def test_option_months_run_from_the_first_to_the_last_trading_day(pipeline):
    """OPTION_MONTHS=first_to_last (default): each CJS month compounds the daily returns formed and earned in it, recomputed
    here with numpy from the daily file; the return into a month's first trading day belongs to no month."""
    processed = pipeline["root"] / "data" / "processed" / "options"
    daily = pd.read_parquet(processed / "cjs_daily_returns.parquet", columns=["portfolio_id", "date", "formation_date", "return"])
    cjs = pd.read_parquet(processed / "cjs_portfolio_returns.parquet")
    assert cjs.attrs["option_months"] == "first_to_last"
    earned = daily["date"].to_numpy().astype("datetime64[M]")
    inside = earned == daily["formation_date"].to_numpy().astype("datetime64[M]")
    assert 0.03 < 1 - inside.mean() < 0.06  # one day in about 21 is left out
    ids = daily["portfolio_id"].to_numpy()[inside]
    keys = np.char.add(ids.astype(str), earned[inside].astype(str))
    order = np.argsort(keys, kind="stable")
    unique, start = np.unique(keys[order], return_index=True)
    log_growth = np.add.reduceat(np.log1p(daily["return"].to_numpy()[inside][order]), start)
    expected = pd.Series(np.expm1(log_growth), index=unique)
    got = pd.Series(cjs["return"].to_numpy(), index=np.char.add(cjs["portfolio_id"].to_numpy().astype(str),
                                                                cjs["date"].to_numpy().astype("datetime64[M]").astype(str)))
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-10, atol=1e-13)
    cut = pd.read_csv(pipeline["root"] / "output" / "tables" / "option_month_cut.csv")
    published, build = (cut[cut["series"] == who].set_index("portfolio_id") for who in ("published", "build"))
    # 1996-02 … 2012-01: the first day of 1996-01 needs the close of 1995-12-29, before the option window
    assert len(published) == len(build) == 18 and (published["months"] == 192).all() and (published["first_month"] == "1996-02").all()
    assert published["first_day_t"].abs().max() < 1.5 and published["first_to_last_t"].min() > 15
    # the build loads on the first day far less than on the rest of the month (a calendar month would load on both alike)
    assert (build["first_day"].abs() < 0.75 * build["first_to_last"]).all() and build["first_to_last_t"].min() > 8
    report = (pipeline["root"] / "output" / "reports" / "03_option_portfolios.html").read_text()
    assert "Which days a month holds" in report
    pricing = (pipeline["root"] / "output" / "reports" / "04_option_pricing.html").read_text()
    assert "This build&#39;s series are cut the same way" in pricing or "This build's series are cut the same way" in pricing


def test_pricing_tables_and_report_04(pipeline):
    tables = pipeline["root"] / "output" / "tables"
    cross = pd.read_csv(tables / "option_pricing_cross_section.csv").set_index(["test_assets", "factors"])
    assert list(cross.index) == [(t, f) for t in ("published_hkm18", "hkm18", "cjs54") for f in ("market", "capital_market")]
    published = cross.loc[("published_hkm18", "capital_market")]  # HKM's real series: independent of the build
    assert (published["first_month"], published["last_month"], published["months"]) == ("1986-04-30", "2012-01-31", 310)
    assert published["lambda_capital"] == pytest.approx(0.2268343305082007, rel=1e-9)
    assert published["t_gmm_capital"] == pytest.approx(0.7998681649917477, rel=1e-9)
    assert cross.loc[("published_hkm18", "market"), "grs_f"] == pytest.approx(4.391526533899923, rel=1e-9)
    assert cross.loc[("hkm18", "market"), "grs_f"] < 80  # 109 before the surface shocks and premia of generator version 5
    for test_assets in ("hkm18", "cjs54"):
        market, capital = cross.loc[(test_assets, "market")], cross.loc[(test_assets, "capital_market")]
        assert market["data_source"] == capital["data_source"] == "synthetic option quotes"
        # every month of the option window 1996-01 … 2018-11 is used or counted as dropped (balanced panel)
        assert "1996-01-31" <= market["first_month"] and market["last_month"] <= "2018-11-30"
        assert market["months"] + market["months_missing_return"] == 275
        assert capital["last_month"] <= "2012-12-31" and capital["months"] + capital["months_missing_return"] == 204
        assert capital["months_without_factor"] == 275 - 204  # 2013-01 … 2018-11: no capital factor
        assert abs(market["t_fm_market"]) > 0 and 0 <= market["r2"] <= 1 and market["mape"] > 0
    time_series = pd.read_csv(tables / "option_pricing_time_series.csv")
    assert len(time_series) == 2 * (18 + 18 + 54)
    c900 = time_series.set_index(["test_assets", "factors", "portfolio_id"]).loc[("published_hkm18", "market", "hkm_C_900")]
    assert c900["beta_market"] == pytest.approx(0.8385951, rel=1e-6) and c900["alpha_t_nw"] < -2
    report = (pipeline["root"] / "output" / "reports" / "04_option_pricing.html").read_text()
    assert "Pricing the option portfolios" in report and "(real quotes)" in report and "(synthetic option quotes)" in report
    assert "22.68" in report  # the published capital price of risk, % per month
    assert "04_option_pricing.html" in (pipeline["root"] / "output" / "reports" / "index.html").read_text()

def test_raw_pulls_are_kept_in_data_raw(pipeline):
    raw = pipeline["root"] / "data" / "raw"
    assert (raw / "equity" / "prices_embedded.parquet").is_file()
    assert json.loads((raw / "equity" / "prices_embedded.json").read_text())["source"] == "embedded"


def test_reports_are_html_with_real_content_and_an_index(pipeline):
    reports = pipeline["root"] / "output" / "reports"
    overview = (reports / "01_data_overview.html").read_text()
    assert "Data overview" in overview
    assert "skfolio embedded daily adjusted closes" in overview
    assert "RRC" in overview and "14.7%" in overview  # stale RRC prices: share of zero-return days
    managed = (reports / "02_volatility_managed.html").read_text()
    assert "Volatility-managed portfolios" in managed and "TRAIN_END=2005-12-31" in managed
    assert "onefactor" in managed and "Shapiro" in managed
    assert overview.count("<img") >= 2 or overview.count("image/png") >= 2
    index = (reports / "index.html").read_text()
    assert "01_data_overview.html" in index and "1990-01-02" in index


def test_second_run_is_all_up_to_date(pipeline):
    second = pipeline["second"]
    assert second.returncode == 0, second.stdout[-3000:]
    assert _executed(second.stdout) == set()
    assert {"prepare", "volmanaged", "reports:01_data_overview", "reports:02_volatility_managed"} <= _skipped(second.stdout)


def test_changing_min_days_reruns_only_what_reads_it(pipeline):
    env = {**pipeline["env"], "MIN_DAYS": "12"}
    run = _doit(env)
    assert run.returncode == 0, run.stdout[-3000:]
    executed = _executed(run.stdout)
    assert "prepare" in executed and "reports:01_data_overview" in executed
    assert not {"pull_equity", "pull_rf"} & executed
    again = _doit(env)
    assert _executed(again.stdout) == set()
    assert _doit(pipeline["env"]).returncode == 0  # back to the defaults for the tests that follow


def test_changing_train_end_reruns_only_the_study_and_its_report(pipeline):
    env = {**pipeline["env"], "TRAIN_END": "2007-12-31"}
    run = _doit(env)
    assert run.returncode == 0, run.stdout[-3000:]
    executed = _executed(run.stdout)
    # the index reruns only if report 02's entry changed (its build time is kept to the minute)
    assert {"volmanaged", "reports:02_volatility_managed"} <= executed <= {"volmanaged", "reports:02_volatility_managed", "reports:index"}
    performance = pd.read_csv(pipeline["root"] / "output" / "tables" / "volmanaged_performance.csv")
    assert performance.loc[performance["window"] == "evaluation", "first_month"].iloc[0] == "2008-01-31"
    report = (pipeline["root"] / "output" / "reports" / "02_volatility_managed.html").read_text()
    assert "TRAIN_END=2007-12-31" in report


def test_doit_clean_keeps_raw_pulls(pipeline):
    run = _doit(pipeline["env"], "clean")
    assert run.returncode == 0, run.stdout
    data = pipeline["root"] / "data"
    assert (data / "raw" / "equity" / "prices_embedded.parquet").is_file()
    assert (data / "raw" / "rf" / "rf_embedded.parquet").is_file()
    assert not (data / "interim" / "daily_returns.parquet").exists()
