"""CJS quote filters (docs/methods.md §3.2): a hand-made case for each filter, the grouped smile fit, the mergeable
moments, the synthetic panel's ground truth, and the year-by-year stage (outputs, year boundary, a
missing or corrupt year)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from option_quotes import make_prepared_quotes as make_quotes
from option_quotes import quote

import settings
from asset_pricing.io import DataValidationError
from asset_pricing.options import filters as F
from asset_pricing.options import schema
from asset_pricing.options.bsm import bs_price
from asset_pricing.options.smile import fit_smile, grouped_quadratic_fit, smile_iv
from asset_pricing.options.stage_quotes import filter_options, filter_options_targets
from asset_pricing.paths import project_paths
from asset_pricing.sources.option_pull import pull_options
from asset_pricing.sources.synthetic_options import (
    SyntheticPanelSpec,
    generate_synthetic_panel,
)


# --------------------------------------------------------------------------------------------------
# Hand-made quotes
# --------------------------------------------------------------------------------------------------
def removed_rows(quotes: pd.DataFrame, result: F.FilterResult) -> list[int]:
    return sorted(quotes.index.difference(result.kept.index))


# --------------------------------------------------------------------------------------------------
# Level 1
# --------------------------------------------------------------------------------------------------
def test_identical_quotes_keep_the_first_and_ignore_volume():
    quotes = make_quotes([quote(volume=10), quote(volume=99), quote(bid=5.1), quote(strike=105)])
    result = F.filter_identical_quotes(quotes)
    assert removed_rows(quotes, result) == [1] and result.removed == 1


def test_identical_terms_keep_the_iv_closest_to_the_slice_median():
    # slice (2010-01-04, 2010-02-19, C): IVs 0.22, 0.20, 0.30, 0.18 → median 0.21
    quotes = make_quotes([
        quote(strike=95, iv=0.22), quote(strike=100, iv=0.30, bid=6.0, offer=6.2),
        quote(strike=100, iv=0.20), quote(strike=105, iv=0.18),
        quote(strike=110, iv=np.nan, bid=1.0, offer=1.1), quote(strike=110, iv=0.9, bid=3.0, offer=3.2),
    ])
    result = F.filter_identical_terms(quotes)
    # strike 100: 0.20 (|−0.01|) beats 0.30 (|0.09|) although it comes second; strike 110: NaN IV loses to any IV
    assert removed_rows(quotes, result) == [1, 4]
    assert not result.kept.duplicated(["date", "exdate", "cp_flag", "strike_price"]).any()


def test_zero_bid_drops_zero_negative_missing_and_crossed_quotes_but_not_zero_volume():
    quotes = make_quotes([
        quote(bid=0.0), quote(bid=-0.05), quote(bid=1.0, offer=0.9), quote(bid=np.nan),
        quote(bid=0.05, offer=0.1, volume=0), quote(bid=1.0, offer=0.0),
    ])
    result = F.filter_zero_bid(quotes)
    assert removed_rows(quotes, result) == [0, 1, 2, 3, 5]
    assert result.detail == {"zero or negative bid": 2, "crossed or non-positive offer": 2, "missing bid or offer": 1}


# --------------------------------------------------------------------------------------------------
# Level 2
# --------------------------------------------------------------------------------------------------
def test_maturity_keeps_7_to_180_calendar_days():
    quotes = make_quotes([quote(date="2010-01-06", exdate=e) for e in ("2010-01-12", "2010-01-13", "2010-07-05", "2010-07-06")])
    assert quotes["tau_days"].tolist() == [6, 7, 180, 181]
    assert removed_rows(quotes, F.filter_maturity(quotes)) == [0, 3]


def test_implied_volatility_keeps_5_to_100_percent_and_counts_missing_apart():
    quotes = make_quotes([quote(strike=k, iv=v) for k, v in zip((90, 95, 100, 105, 110), (0.049, 0.05, 1.0, 1.01, np.nan))])
    result = F.filter_implied_volatility(quotes)
    assert removed_rows(quotes, result) == [0, 3, 4]
    assert result.detail == {"missing implied volatility": 1, "outside bounds": 2}


def test_moneyness_keeps_0_8_to_1_2_inclusive():
    quotes = make_quotes([quote(strike=k) for k in (799, 800, 1200, 1201)], close=1000.0)
    assert removed_rows(quotes, F.filter_moneyness(quotes)) == [0, 3]


def test_arbitrage_bounds_use_discounted_spot_and_strike():
    S, T, r, q = 100.0, 91 / 365, 0.04, 0.02
    spot, k90, k110 = S * math.exp(-q * T), 90 * math.exp(-r * T), 110 * math.exp(-r * T)
    call_floor, put_floor = spot - k90, k110 - spot  # 10.3855…, 9.4147…
    mids = {"call below": call_floor - 0.01, "call inside": call_floor + 0.01, "put below": put_floor - 0.01,
            "put inside": put_floor + 0.01, "call above": spot + 0.02, "put above": k110 + 0.02}
    rows = [quote(exdate="2010-04-05", cp=name[0].upper(), strike=90 if name.startswith("call") else 110, bid=m - 0.01, offer=m + 0.01)
            for name, m in mids.items()]
    quotes = make_quotes(rows, close=S, rf_annual=math.expm1(r), q=q)
    assert quotes["tau_days"].iloc[0] == 91
    result = F.filter_arbitrage_bounds(quotes)
    assert removed_rows(quotes, result) == [0, 2, 4, 5]
    assert result.detail == {"below lower bound": 2, "above upper bound": 2}


def test_parity_rate_with_dividends_recovers_the_rate_and_its_sign():
    S, K, T, r, q = 100.0, 100.0, 0.5, 0.01, 0.03
    call = bs_price(S, K, T, r, q, 0.2, True)
    put = bs_price(S, K, T, r, q, 0.2, False)
    rate = F.parity_implied_rate(np.array([call]), np.array([put]), np.array([S]), np.array([K]), np.array([T]), np.array([q]))
    np.testing.assert_allclose(rate, [r], atol=1e-12)
    # dropping the dividend term (the reference code's defect) turns a positive rate negative
    naive = F.parity_implied_rate(np.array([call]), np.array([put]), np.array([S]), np.array([K]), np.array([T]), np.array([0.0]))
    assert naive[0] < 0 and naive[0] == pytest.approx(-math.log((S - (call - put)) / K) / T)


def test_negative_parity_rate_drops_both_legs_and_keeps_positive_pairs_and_single_legs():
    S, T, r, q = 100.0, 182 / 365, 0.01, 0.03  # r < q: a dividend-blind rate would be negative
    exdate = "2010-07-05"

    def legs(strike: float, put_shift: float = 0.0) -> list[dict]:
        c = float(bs_price(S, strike, T, r, q, 0.2, True))
        p = float(bs_price(S, strike, T, r, q, 0.2, False)) + put_shift
        return [quote(exdate=exdate, cp="C", strike=strike, bid=c - 0.005, offer=c + 0.005),
                quote(exdate=exdate, cp="P", strike=strike, bid=p - 0.005, offer=p + 0.005)]

    rows = legs(100.0) + legs(105.0, put_shift=1.0) + [quote(exdate=exdate, cp="C", strike=110.0, bid=2.0, offer=2.1)]
    quotes = make_quotes(rows, close=S, rf_annual=math.expm1(r), q=q)
    call, put, rate = F.pair_rates(quotes)
    assert len(call) == 2 and rate[0] == pytest.approx(r, abs=1e-6) and rate[1] < 0
    result = F.filter_negative_parity_rate(quotes)
    strikes = quotes.loc[removed_rows(quotes, result), ["cp_flag", "strike"]]
    assert sorted(zip(strikes["cp_flag"], strikes["strike"])) == [("C", 105.0), ("P", 105.0)]
    assert result.detail == {"pairs": 1}


# --------------------------------------------------------------------------------------------------
# Smile fit and Level 3
# --------------------------------------------------------------------------------------------------
def smile_frame(groups: dict[tuple[str, str, str], tuple[np.ndarray, tuple[float, float, float]]]) -> pd.DataFrame:
    rows = []
    for (date, exdate, cp), (moneyness, (a, b, c)) in groups.items():
        for m in moneyness:
            rows.append({"date": pd.Timestamp(date), "exdate": pd.Timestamp(exdate), "cp_flag": cp, "moneyness": m,
                         "impl_volatility": math.exp(a + b * (m - 1) + c * (m - 1) ** 2)})
    frame = pd.DataFrame(rows)
    frame["cp_flag"] = pd.Categorical(frame["cp_flag"], dtype=schema.CP_DTYPE)
    return frame


def test_smile_fit_recovers_exact_quadratics_and_skips_small_or_singular_slices():
    frame = smile_frame({
        ("2010-01-04", "2010-02-19", "C"): (np.linspace(0.85, 1.15, 7), (-1.6, -1.2, 2.5)),
        ("2010-01-04", "2010-02-19", "P"): (np.linspace(0.9, 1.1, 4), (-1.5, -2.0, 1.0)),
        ("2010-01-04", "2010-03-19", "P"): (np.array([0.95, 1.0, 1.05]), (-1.5, -1.0, 1.0)),   # 3 quotes: no fit
        ("2010-01-05", "2010-02-19", "C"): (np.array([0.95, 0.95, 1.05, 1.05]), (-1.5, 0.0, 0.0)),  # 2 distinct m: singular
        ("2010-01-05", "2010-02-19", "P"): (np.linspace(0.995, 1.005, 5), (-1.7, -3.0, 40.0)),  # narrow smile
    })
    fits = fit_smile(frame)
    assert list(fits.columns) == ["date", "exdate", "cp_flag", "coef_a", "coef_b", "coef_c", "n_quotes"]
    assert len(fits) == 3 and fits["n_quotes"].tolist() == [7, 4, 5]
    np.testing.assert_allclose(fits[["coef_a", "coef_b", "coef_c"]].to_numpy(), [[-1.6, -1.2, 2.5], [-1.5, -2.0, 1.0], [-1.7, -3.0, 40.0]], atol=1e-6)
    assert fits["cp_flag"].tolist() == ["C", "P", "P"] and fits["date"].tolist()[2] == pd.Timestamp("2010-01-05")


def test_grouped_fit_matches_polyfit_group_by_group():
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(50), rng.integers(4, 12, 50))
    x = rng.uniform(-0.2, 0.2, len(codes))
    y = -1.5 - x + 2 * x**2 + rng.normal(0, 0.05, len(codes))
    coefficients, counts, fitted = grouped_quadratic_fit(codes, x, y, 50)
    assert fitted.all() and (counts == np.bincount(codes)).all()
    for group in range(50):
        expected = np.polyfit(x[codes == group], y[codes == group], 2)[::-1]
        np.testing.assert_allclose(coefficients[group], expected, rtol=1e-7, atol=1e-9)


def test_smile_iv_evaluates_the_centred_quadratic():
    assert smile_iv(-1.5, -2.0, 3.0, 0.9) == pytest.approx(math.exp(-1.5 + 0.2 + 0.03))


def test_moments_merged_across_years_equal_moments_of_the_whole_sample():
    rng = np.random.default_rng(1)
    values, groups = rng.normal(0.01, 0.05, 500), rng.integers(0, 3, 500)
    first, second = F.Moments.of(values[:200], groups[:200], 3), F.Moments.of(values[200:], groups[200:], 3)
    merged = first.merge(second)
    for group in range(3):
        part = values[groups == group]
        assert merged.count[group] == len(part)
        assert merged.mean[group] == pytest.approx(part.mean())
        assert merged.sd[group] == pytest.approx(part.std(ddof=1))


def test_smile_outlier_is_dropped_by_its_bin_statistics():
    moneyness = np.linspace(0.9, 1.1, 9)
    frame = smile_frame({("2010-01-04", "2010-02-19", "P"): (moneyness, (-1.6, -1.5, 2.0))})
    frame.loc[4, "impl_volatility"] *= 1.5  # at the money
    prepared = make_quotes([quote(cp="P", strike=100 * m, iv=iv) for m, iv in zip(frame["moneyness"], frame["impl_volatility"])])
    with_residuals, _ = F.add_smile_residuals(prepared)
    # residuals checked against an independent fit
    coefficients = np.polyfit(moneyness - 1, np.log(frame["impl_volatility"]), 2)
    expected = frame["impl_volatility"] / np.exp(np.polyval(coefficients, moneyness - 1)) - 1
    np.testing.assert_allclose(with_residuals[F.SMILE_RESIDUAL], expected, rtol=1e-8)
    sd = 0.05  # whole-sample sd of every bin
    moments = F.Moments(np.full(F.N_MONEYNESS_BINS, 100.0), np.zeros(F.N_MONEYNESS_BINS), np.full(F.N_MONEYNESS_BINS, 99 * sd**2))
    result = F.filter_smile_outliers(with_residuals, moments)
    assert removed_rows(with_residuals, result) == list(np.flatnonzero(np.abs(expected) > 2 * sd)) == [4]


def test_parity_outlier_drops_both_legs_of_pairs_far_from_the_mean_deviation():
    S, T, r, q = 100.0, 0.25, 0.03, 0.02
    exdate = (pd.Timestamp("2010-01-04") + pd.Timedelta(days=91)).strftime("%Y-%m-%d")
    T = 91 / 365
    deviations = [0.001, -0.002, 0.0, 0.002, -0.001, 0.0015, 0.15]
    rows = []
    for strike, d in zip(range(94, 101), deviations):
        put = float(bs_price(S, strike, T, r, q, 0.2, False))
        call = put + S * math.exp(-q * T) - strike * math.exp(-(r + d) * T)
        rows += [quote(exdate=exdate, cp="C", strike=strike, bid=call - 0.005, offer=call + 0.005),
                 quote(exdate=exdate, cp="P", strike=strike, bid=put - 0.005, offer=put + 0.005)]
    quotes = make_quotes(rows, close=S, rf_annual=math.expm1(r), q=q)
    moments = F.parity_deviation_moments(quotes)
    assert moments.count[0] == 7 and moments.mean[0] == pytest.approx(np.mean(deviations), abs=1e-9)
    result = F.filter_parity_outliers(quotes, moments)
    assert sorted(quotes.loc[removed_rows(quotes, result), "strike"]) == [100.0, 100.0]
    assert result.detail == {"pairs": 1}


def test_filter_table_starts_with_the_raw_count_and_subtracts_each_filter():
    table = F.filter_table(110, [10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert table["remaining"].tolist() == [110, 100, 99, 97, 94, 90, 85, 79, 72, 64, 55, 45]
    assert table["level"].tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3] and table["filter"].iloc[0] == "raw quotes"
    assert table["filter"].iloc[1] == "contract selection (OPTIONS_CONTRACTS)"


def test_exit_prices_are_valid_quotes_removed_only_for_leaving_the_formation_sample():
    """Maturity, moneyness and IV bounds say who is formed, not what a price is worth (docs/methods.md §4.4)."""
    rows = [
        quote(strike=100.0),                                            # 0 formation sample: not an exit-only quote
        quote(exdate="2010-01-08", strike=100.0, bid=0.9, offer=1.0),   # 1 tau = 4 days: filter 4 only -> exit price
        quote(strike=125.0, bid=0.10, offer=0.15),                      # 2 m = 1.25: filter 6 only -> exit price
        quote(strike=95.0, iv=1.40, bid=6.0, offer=6.4),                # 3 IV 140%: bounds of filter 5 only -> exit price
        quote(exdate="2010-01-08", strike=105.0, bid=0.0, offer=0.05),  # 4 zero bid (3) -> no price
        quote(exdate="2010-01-08", strike=95.0, iv=np.nan, bid=5.0, offer=5.2),  # 5 IV not computable -> no price
        quote(exdate="2010-01-08", cp="P", strike=130.0, bid=20.0, offer=20.2),  # 6 put below intrinsic (7) -> no price
        quote(exdate="2010-12-17", strike=100.0, bid=9.0, offer=9.4),   # 7 tau = 347 days: never held at t-1 -> left out
        quote(exdate="2010-01-08", strike=100.0, bid=0.9, offer=1.0),   # 8 duplicate of 1 (filter 1) -> no price
    ]
    quotes = make_quotes(rows)  # sorted in the schema's order: compare by contract terms, not position
    terms = list(zip(quotes["exdate"].dt.strftime("%m-%d"), quotes["cp_flag"], quotes["strike"], quotes["impl_volatility"].fillna(0)))
    masks = F.level_1_2_masks(quotes)
    assert [terms[i] for i in np.flatnonzero(masks.kept)] == [("02-19", "C", 100.0, 0.2)]
    exits = F.exit_price_rows(quotes, masks)
    assert sorted(terms[i] for i in exits) == [("01-08", "C", 100.0, 0.2), ("02-19", "C", 95.0, 1.4), ("02-19", "C", 125.0, 0.2)]
    assert quotes.index[exits].isin(quotes.index[quotes.duplicated(["exdate", "cp_flag", "strike_price"], keep="first")]).sum() == 0


# --------------------------------------------------------------------------------------------------
# Ground truth of the synthetic panel
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def filtered_truth():
    spec = SyntheticPanelSpec(start=pd.Timestamp("2007-07-01"), end=pd.Timestamp("2008-06-30"), target_quotes=50_000, defect_share=0.01)
    underlying, years = generate_synthetic_panel(spec)
    underlying = schema.validate_underlying(underlying, "underlying")
    frames, truths = [], []
    for year in years:
        raw = year.quotes.set_axis(year.quotes.index + year.year * 10_000_000)
        frames.append(schema.attach_underlying(schema.validate_quotes(raw, underlying, f"quotes_{year.year}"), underlying))
        planted = year.truth[year.truth["row"] >= 0]
        truths.append(planted.assign(row=planted["row"] + year.year * 10_000_000))
    panel, truth = pd.concat(frames), pd.concat(truths, ignore_index=True)
    _, records, _ = F.filter_panel(panel)
    removed_by = pd.Series(0, index=panel.index)
    for record in records:
        removed_by[record.removed_rows] = record.step
    return panel, truth.assign(removed_by=removed_by.reindex(truth["row"]).to_numpy()), records


def test_each_filter_removes_at_least_95_percent_of_its_planted_defects(filtered_truth):
    _, truth, _ = filtered_truth
    caught = (truth["removed_by"] == truth["target_step"]).groupby(truth["defect"], observed=True).agg(["mean", "size"])
    assert (caught["size"] >= 100).all()  # enough defects of each kind for a 95% claim
    assert (caught["mean"] >= 0.95).all(), caught


def test_no_level_1_2_filter_removes_a_clean_quote_inside_its_bounds(filtered_truth):
    panel, truth, records = filtered_truth
    planted = set(truth["row"])
    assert records[0].step == 0 and records[0].removed == (panel["am_settlement"] == 0).sum() > 0  # the SPXW rows
    reaching = panel.drop(index=records[0].removed_rows)
    for record in records[1:9]:
        rows = reaching
        bid, offer, mid = rows["best_bid"], rows["best_offer"], rows["mid"]
        spot, strike = rows["close"] * np.exp(-rows["q"] * rows["T"]), rows["strike"] * np.exp(-rows["r"] * rows["T"])
        is_call = rows["cp_flag"] == "C"
        lower = np.maximum(0, np.where(is_call, spot - strike, strike - spot))
        outside = {
            1: pd.Series(False, index=rows.index),
            2: pd.Series(False, index=rows.index),
            3: ~(bid > 0) | ~(offer >= bid),
            4: ~rows["tau_days"].between(7, 180),
            5: ~rows["impl_volatility"].between(0.05, 1.0),
            6: ~rows["moneyness"].between(0.8, 1.2),
            7: (mid < lower) | (mid > np.where(is_call, spot, strike)),
        }
        if record.step == 8:
            key = ["date", "exdate", "strike_price"]
            calls = rows[is_call].reset_index().merge(rows[~is_call].reset_index(), on=key, suffixes=("_c", "_p"))
            rate = -np.log((calls["close_c"] * np.exp(-calls["q_c"] * calls["T_c"]) - (calls["mid_c"] - calls["mid_p"])) / calls["strike_c"]) / calls["T_c"]
            negative = calls[rate < 0]
            violating = set(negative["index_c"]) | set(negative["index_p"])
        else:
            violating = set(rows.index[outside[record.step].to_numpy()])
        clean_removed = set(record.removed_rows) - planted
        assert clean_removed <= violating, f"filter {record.step} removed clean quotes inside its bounds"
        assert violating - planted <= set(record.removed_rows), f"filter {record.step} kept clean quotes outside its bounds"
        reaching = rows.drop(index=record.removed_rows)


# --------------------------------------------------------------------------------------------------
# The stage, year by year
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def small_window(monkeypatch):
    monkeypatch.setenv("OPTIONS_START", "2007-11-01")
    monkeypatch.setenv("OPTIONS_END", "2008-02-29")
    monkeypatch.setenv("SYNTHETIC_QUOTES", "20000")
    monkeypatch.setenv("SYNTHETIC_DEFECT_SHARE", "0.005")
    paths, cfg = project_paths(), settings.load()
    pull_options(paths, cfg)
    return paths, cfg


def test_stage_year_by_year_equals_the_whole_panel_filtered_in_memory(small_window):
    paths, cfg = small_window
    filter_options(paths, cfg)
    folder = paths.interim / "options"
    staged = pd.concat([pd.read_parquet(folder / f"quotes_filtered_{y}.parquet") for y in (2007, 2008)], ignore_index=True)

    underlying = schema.validate_underlying(pd.read_parquet(paths.raw / "options/synthetic/underlying.parquet"), "u")
    raw = pd.concat([pd.read_parquet(paths.raw / f"options/synthetic/quotes_{y}.parquet") for y in (2007, 2008)], ignore_index=True)
    panel = schema.attach_underlying(schema.validate_quotes(raw, underlying, "raw"), underlying)
    kept, records, fits = F.filter_panel(panel)
    pd.testing.assert_frame_equal(staged, kept[staged.columns].reset_index(drop=True), check_like=False)

    table = pd.read_csv(paths.tables / "option_filters.csv")
    assert table["removed"].tolist()[1:] == [r.removed for r in records]
    assert table["remaining"].iloc[0] == len(raw) and table["remaining"].iloc[-1] == len(staged)
    staged_fits = pd.concat([pd.read_parquet(folder / f"smile_fit_{y}.parquet") for y in (2007, 2008)], ignore_index=True)
    pd.testing.assert_frame_equal(staged_fits, fits)


def test_stage_outputs_follow_the_contract(small_window):
    paths, cfg = small_window
    written = filter_options(paths, cfg)
    assert sorted(written) == sorted(filter_options_targets(paths, cfg))
    folder = paths.interim / "options"
    quotes = pd.read_parquet(folder / "quotes_filtered_2008.parquet")
    assert list(quotes.columns) == list(schema.FILTERED_QUOTE_COLUMNS)
    assert quotes["cp_flag"].dtype == schema.CP_DTYPE and quotes["tau_days"].dtype == np.int64
    order = quotes.sort_values(["date", "cp_flag", "exdate", "strike_price"], kind="mergesort").index
    assert (order == quotes.index).all() and not quotes.duplicated(["optionid", "date"]).any()
    assert quotes.attrs["data_source"] == "synthetic option quotes"
    np.testing.assert_allclose(quotes["mid"], (quotes["best_bid"] + quotes["best_offer"]) / 2)
    np.testing.assert_allclose(quotes["T"], quotes["tau_days"] / 365)
    assert quotes["date"].min() >= pd.Timestamp("2008-01-01") and quotes["date"].max() <= pd.Timestamp("2008-02-29")
    underlying = pd.read_parquet(folder / "underlying.parquet")
    assert list(underlying.columns) == ["close", "rf_annual", "r", "q"] and underlying.index.name == "date"
    assert underlying.index.min() >= pd.Timestamp("2007-11-01")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["source"] == "synthetic" and meta["label"] == "synthetic option quotes" and meta["years"] == [2007, 2008]
    assert (meta["start"], meta["end"]) == ("2007-11-01", "2008-02-29")
    assert pd.read_parquet(folder / "smile_fit_2007.parquet").attrs["data_source"] == "synthetic option quotes"


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_raw_year_names_the_year_and_leaves_outputs_untouched(small_window, damage):
    paths, cfg = small_window
    filter_options(paths, cfg)
    outputs = {p: p.read_bytes() for p in filter_options_targets(paths, cfg)}
    raw_2008 = paths.raw / "options" / "synthetic" / "quotes_2008.parquet"
    raw_2007 = raw_2008.with_name("quotes_2007.parquet").read_bytes()
    if damage == "missing":
        raw_2008.unlink()
        message = r"option year 2008: .*quotes_2008\.parquet not found"
    else:
        raw_2008.write_bytes(raw_2008.read_bytes()[: 200])
        message = r"option year 2008: .*quotes_2008\.parquet: cannot be read as parquet"
    with pytest.raises(DataValidationError, match=message):
        filter_options(paths, cfg)
    assert {p: p.read_bytes() for p in outputs} == outputs
    assert raw_2008.with_name("quotes_2007.parquet").read_bytes() == raw_2007


def test_raw_days_outside_a_shortened_window_are_left_out(small_window, monkeypatch):
    paths, _ = small_window
    monkeypatch.setenv("OPTIONS_END", "2008-01-31")  # the raw 2008 file still holds February
    cfg = settings.load()
    filter_options(paths, cfg)
    quotes = pd.read_parquet(paths.interim / "options" / "quotes_filtered_2008.parquet")
    assert len(quotes) > 0 and quotes["date"].max() <= pd.Timestamp("2008-01-31")
    assert pd.read_parquet(paths.interim / "options" / "underlying.parquet").index.max() <= pd.Timestamp("2008-01-31")


def test_an_empty_panel_goes_through_every_filter():
    kept, records, fits = F.filter_panel(schema.empty_quotes())
    assert kept.empty and fits.empty and [r.removed for r in records] == [0] * 11
