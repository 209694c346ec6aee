"""Which contracts the CJS construction uses and how τ is counted (docs/methods.md §3.3): the optional
OptionMetrics contract columns and WRDS's nullable dtypes, the standard-contract rule, SPX and SPXW
quotes sharing their terms, days to maturity to the last trading day, and the setting in the stage."""

from __future__ import annotations

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
from asset_pricing.options.stage_quotes import filter_options
from asset_pricing.paths import project_paths
from asset_pricing.sources.option_pull import pull_options


def days(*dates: str) -> np.ndarray:
    return schema.day_numbers(pd.DatetimeIndex(list(dates)))


# --------------------------------------------------------------------------------------------------
# Days to maturity: the last trading day on or before exdate
# --------------------------------------------------------------------------------------------------
def test_a_saturday_exdate_gives_the_same_tau_as_its_friday_and_a_friday_after_2015_is_unchanged():
    quotes = make_quotes([
        quote(exdate="2010-02-19"),                 # Friday
        quote(exdate="2010-02-20", strike=105.0),   # the Saturday OptionMetrics stores for the same expiration
        quote(exdate="2010-02-21", strike=110.0),   # a Sunday rolls back to the Friday as well
        quote(date="2016-01-04", exdate="2016-02-19"),  # after the February 2015 switch: the Friday itself
    ])
    by_strike = quotes.set_index(["date", "strike"])["tau_days"]
    assert by_strike.loc[(pd.Timestamp("2010-01-04"), 100.0)] == 46
    assert by_strike.loc[(pd.Timestamp("2010-01-04"), 105.0)] == 46 and by_strike.loc[(pd.Timestamp("2010-01-04"), 110.0)] == 46
    assert by_strike.loc[(pd.Timestamp("2016-01-04"), 100.0)] == 46
    np.testing.assert_allclose(quotes["T"], quotes["tau_days"] / 365.0)


def test_a_good_friday_expiration_counts_to_the_thursday_where_the_calendar_covers_it():
    calendar = days("2008-03-17", "2008-03-18", "2008-03-19", "2008-03-20", "2008-03-24", "2008-03-25")  # 2008-03-21 Good Friday
    exdates = days("2008-03-22", "2008-03-23", "2008-03-20", "2008-03-21", "2008-03-29", "2008-04-19")
    expected = days("2008-03-20", "2008-03-20", "2008-03-20", "2008-03-21", "2008-03-28", "2008-04-18")
    # Saturday and Sunday -> Thursday (Friday closed); a weekday stays; beyond the calendar -> the Friday
    np.testing.assert_array_equal(schema.expiry_trading_days(exdates, calendar), expected)
    np.testing.assert_array_equal(schema.expiry_trading_days(days("2008-03-22"), np.empty(0, dtype=np.int64)), days("2008-03-21"))
    # a gap longer than a holiday weekend in the calendar is not trusted: the weekday roll-back
    sparse = days("2008-03-03", "2008-04-01")
    np.testing.assert_array_equal(schema.expiry_trading_days(days("2008-03-22"), sparse), days("2008-03-21"))


def test_tau_never_falls_below_zero_and_fills_at_t_plus_1_use_the_same_expiry():
    underlying = schema.validate_underlying(
        pd.DataFrame({"close": 100.0, "rf_annual": 0.03, "q": 0.0}, index=pd.DatetimeIndex(["2008-03-19", "2008-03-20", "2008-03-24"], name="date")),
        "underlying",
    )
    raw = pd.DataFrame({
        "secid": 108105, "date": pd.to_datetime(["2008-03-19", "2008-03-20"]), "exdate": pd.Timestamp("2008-03-22"), "cp_flag": "C",
        "strike_price": 100_000, "best_bid": 1.0, "best_offer": 1.1, "volume": 0, "open_interest": 0, "impl_volatility": 0.2,
        "delta": np.nan, "optionid": 1,
    })
    prepared = schema.attach_underlying(schema.validate_quotes(raw, underlying, "hand-made"), underlying)
    assert prepared["tau_days"].tolist() == [1, 0]


# --------------------------------------------------------------------------------------------------
# The optional contract columns, and the nullable dtypes of the WRDS client
# --------------------------------------------------------------------------------------------------
def wrds_like_frame() -> pd.DataFrame:
    """Two quotes as wrds >= 3.3 returns them: Float64 numbers, string flags, <NA> volume and IV."""
    return pd.DataFrame({
        "secid": pd.array([108105.0, 108105.0], dtype="Float64"),
        "date": [pd.Timestamp("2013-01-02").date()] * 2,
        "exdate": [pd.Timestamp("2013-01-19").date(), pd.Timestamp("2013-01-04").date()],
        "cp_flag": pd.array(["C", "C"], dtype="string"),
        "strike_price": pd.array([1400000.0, 1400000.0], dtype="Float64"),
        "best_bid": pd.array([60.1, 59.0], dtype="Float64"),
        "best_offer": pd.array([61.3, 60.2], dtype="Float64"),
        "volume": pd.array([12.0, None], dtype="Float64"),
        "open_interest": pd.array([100.0, 50.0], dtype="Float64"),
        "impl_volatility": pd.array([0.17, None], dtype="Float64"),
        "delta": pd.array([0.55, None], dtype="Float64"),
        "optionid": pd.array([91234567.0, 91234999.0], dtype="Float64"),
        "symbol": pd.array(["SPX 130119C1400000", "SPXW 130104C1400000"], dtype="string"),
        "am_settlement": pd.array([1.0, 0.0], dtype="Float64"),
        "ss_flag": pd.array(["0", "0"], dtype="string"),
        "expiry_indicator": pd.array([None, "w"], dtype="string"),
    })


def test_nullable_wrds_dtypes_are_coerced_and_the_root_is_read_from_the_symbol():
    frame = schema.coerce_quote_dtypes(wrds_like_frame(), "opprcd2013")
    for column, dtype in schema.RAW_QUOTE_DTYPES.items():
        assert frame[column].dtype == dtype, column
    assert frame["secid"].tolist() == [108105, 108105] and frame["strike_price"].tolist() == [1_400_000, 1_400_000]
    assert frame["volume"].tolist() == [12, 0] and np.isnan(frame["impl_volatility"].iloc[1])
    assert frame["root"].astype(object).tolist() == ["SPX", "SPXW"] and frame["am_settlement"].tolist() == [1, 0]
    assert frame["expiry_indicator"].isna().tolist() == [True, False]
    assert schema.standard_contracts(frame).tolist() == [True, False]


def test_blank_flags_mean_standard_and_a_bad_settlement_flag_is_named():
    frame = wrds_like_frame().assign(
        root=["SPX", " "], am_settlement=pd.array([1, None], dtype="Int64"), ss_flag=["0", ""], expiry_indicator=["", None],
    )
    coerced = schema.coerce_quote_dtypes(frame, "quotes_2013.csv")
    assert schema.standard_contracts(coerced).tolist() == [True, True]  # blank root, settlement, flags: a standard contract
    special = schema.coerce_quote_dtypes(frame.assign(ss_flag=["0", "1"]), "quotes_2013.csv")
    assert schema.standard_contracts(special).tolist() == [True, False]
    with pytest.raises(DataValidationError, match=r"quotes_2013.csv: column 'am_settlement' must be 1 \(AM-settled\) or 0"):
        schema.coerce_quote_dtypes(frame.assign(am_settlement=[1, 2]), "quotes_2013.csv")
    without = schema.coerce_quote_dtypes(frame.drop(columns=list(schema.CONTRACT_FLAG_COLUMNS)), "old pull")
    assert not set(schema.CONTRACT_FLAG_COLUMNS) & set(without.columns) and schema.standard_contracts(without).all()


# --------------------------------------------------------------------------------------------------
# SPX and SPXW quotes with the same terms
# --------------------------------------------------------------------------------------------------
def shared_terms_panel() -> pd.DataFrame:
    """2016-01-04, exdate 2016-02-19 (both AM-settled SPX and PM-settled SPXW expire that Friday): a call
    and a put at 100 in each class, at different prices; the SPXW call's IV is the one nearer the
    slice median, so keying by terms alone would drop the SPX call."""
    spx = {"root": "SPX", "am_settlement": 1, "ss_flag": "0", "expiry_indicator": None}
    spxw = {"root": "SPXW", "am_settlement": 0, "ss_flag": "0", "expiry_indicator": None}
    S, T, r, q = 100.0, 46 / 365, 0.04, 0.02  # make_quotes' market: r = log1p(expm1(0.04)), q = 0.02
    rows = []
    for cp, k, v, i, flags in (
        ("C", 95.0, 0.215, 1, spx), ("C", 100.0, 0.24, 2, spx), ("C", 100.0, 0.205, 3, spxw), ("C", 105.0, 0.20, 4, spx),
        ("P", 95.0, 0.215, 5, spx), ("P", 100.0, 0.24, 6, spx), ("P", 100.0, 0.205, 7, spxw), ("P", 105.0, 0.20, 8, spx),
    ):
        price = float(bs_price(S, k, T, r, q, v, cp == "C"))
        rows.append(quote(date="2016-01-04", exdate="2016-02-19", cp=cp, strike=k, bid=price - 0.05, offer=price + 0.05, iv=v, optionid=i, **flags))
    return make_quotes(rows)


def test_an_spxw_quote_sharing_terms_never_removes_a_standard_quote():
    quotes = shared_terms_panel()
    by_id = quotes.set_index("optionid")
    everything = F.level_1_2_masks(quotes, "all")
    assert [s.removed.sum() for s in everything.steps[:3]] == [0, 0, 0]  # selection, identical quotes, identical terms
    standard = F.level_1_2_masks(quotes, "standard")
    assert standard.steps[0].detail == {"PM-settled (SPXW)": 2, "non-standard expiration": 0, "special settlement": 0}
    assert sorted(quotes["optionid"][standard.steps[0].removed]) == [3, 7]
    assert sorted(quotes["optionid"][standard.kept]) == [1, 2, 4, 5, 6, 8]
    # the danger the contract key removes: keyed by terms alone, filter 2 keeps the SPXW call and drops the SPX one
    terms_only = quotes.drop(columns=[schema.CONTRACT_KEY, *schema.CONTRACT_FLAG_COLUMNS[1:]])
    assert sorted(terms_only["optionid"][~F.identical_terms_keep(terms_only)]) == [2, 6]
    assert by_id.loc[2, "mid"] != by_id.loc[3, "mid"]


def test_a_call_pairs_only_with_the_put_of_its_own_class():
    quotes = shared_terms_panel()
    call, put = F.parity_pairs(quotes)
    pairs = sorted(zip(quotes["optionid"].to_numpy()[call], quotes["optionid"].to_numpy()[put]))
    assert pairs == [(1, 5), (2, 6), (3, 7), (4, 8)]
    masks = F.level_1_2_masks(quotes, "all")
    kept_pairs = sorted(zip(quotes["optionid"].to_numpy()[masks.pair_call], quotes["optionid"].to_numpy()[masks.pair_put]))
    assert kept_pairs == [(1, 5), (2, 6), (3, 7), (4, 8)]


def test_an_unknown_contracts_choice_is_an_error():
    with pytest.raises(ValueError, match="OPTIONS_CONTRACTS='weekly' is not one of standard | all"):
        F.contract_selection_flags(shared_terms_panel(), "weekly")


# --------------------------------------------------------------------------------------------------
# The setting in the stage
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("contracts", ["standard", "all"])
def test_the_stage_counts_the_contract_selection_before_the_filters(monkeypatch, contracts):
    monkeypatch.setenv("OPTIONS_START", "2015-01-02")
    monkeypatch.setenv("OPTIONS_END", "2015-03-31")
    monkeypatch.setenv("SYNTHETIC_QUOTES", "20000")
    monkeypatch.setenv("OPTIONS_CONTRACTS", contracts)
    paths, cfg = project_paths(), settings.load()
    pull_options(paths, cfg)
    filter_options(paths, cfg)
    raw = pd.read_parquet(paths.raw / "options" / "synthetic" / "quotes_2015.parquet", columns=["am_settlement"])
    table = pd.read_csv(paths.tables / "option_filters.csv")
    assert table["filter"].iloc[1] == "contract selection (OPTIONS_CONTRACTS)" and table["remaining"].iloc[0] == len(raw)
    kept = pd.read_parquet(paths.interim / "options" / "quotes_filtered_2015.parquet")
    spxw_kept = int((kept["optionid"] >= 10**12).sum())
    if contracts == "standard":
        assert table["removed"].iloc[1] == (raw["am_settlement"] == 0).sum() > 0 and spxw_kept == 0
    else:
        assert table["removed"].iloc[1] == 0 and spxw_kept > 0


def test_user_files_keep_their_contract_columns_and_the_setting_selects_from_them(monkeypatch):
    """A user's quote file with OptionMetrics' contract columns (blank = standard): the copy keeps them,
    ``standard`` leaves the two SPXW quotes out in the first row of the filter table, ``all`` keeps all four."""
    monkeypatch.setenv("OPTIONS_SOURCE", "files")
    monkeypatch.setenv("OPTIONS_START", "2016-01-01")
    monkeypatch.setenv("OPTIONS_END", "2016-12-31")
    paths = project_paths()
    folder = paths.manual / "options"
    folder.mkdir(parents=True)
    S, T, r, q = 2000.0, 46 / 365, np.log1p(0.01), 0.02
    rows = []
    for root, am, iv, first_id in (("SPX", 1, 0.16, 1), ("SPXW", 0, 0.15, 3)):
        for offset, cp in enumerate("CP"):
            price = float(bs_price(S, 2000.0, T, r, q, iv, cp == "C"))
            rows.append({
                "secid": 108105, "date": "2016-01-04", "exdate": "2016-02-19", "cp_flag": cp, "strike_price": 2_000_000,
                "best_bid": round(price - 0.5, 2), "best_offer": round(price + 0.5, 2), "volume": "", "open_interest": 10,
                "impl_volatility": iv, "delta": "", "optionid": first_id + offset, "symbol": f"{root} 160219{cp}2000000",
                "am_settlement": am, "ss_flag": "0", "expiry_indicator": "",
            })
    pd.DataFrame(rows).to_csv(folder / "quotes_2016.csv", index=False)
    pd.DataFrame({"date": ["2016-01-04"], "close": [S], "rf_annual": [0.01]}).to_csv(folder / "underlying.csv", index=False)
    pull_options(paths, settings.load())
    copy = pd.read_parquet(paths.raw / "options" / "files" / "quotes_2016.parquet")
    assert copy["root"].astype(object).tolist() == ["SPX", "SPXW", "SPX", "SPXW"] and copy["am_settlement"].tolist() == [1, 0, 1, 0]
    for contracts, removed, kept in (("standard", 2, [1, 2]), ("all", 0, [1, 2, 3, 4])):
        monkeypatch.setenv("OPTIONS_CONTRACTS", contracts)
        filter_options(paths, settings.load())
        table = pd.read_csv(paths.tables / "option_filters.csv")
        assert table["removed"].iloc[1] == removed and table["removed"].iloc[2:].sum() == 0, table
        filtered = pd.read_parquet(paths.interim / "options" / "quotes_filtered_2016.parquet")
        assert sorted(filtered["optionid"]) == kept
