"""Option quote sources: WRDS OptionMetrics (fake connection on recorded-format fixtures, SQL asserted),
the user's files in DATA_DIR/manual/options, and every bad input at the schema check."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import settings
from asset_pricing.io import DataValidationError
from asset_pricing.options import schema
from asset_pricing.options.stage_quotes import filter_options
from asset_pricing.sources.option_pull import pull_options
from asset_pricing.paths import project_paths
from asset_pricing.sources import option_files, wrds_options
from asset_pricing.sources.wrds_options import WrdsError, pull_wrds_options, rate_at_horizon

FIXTURES = Path(__file__).parent / "fixtures" / "wrds"


class RecordedWrds:
    """Fake ``wrds.Connection`` (older layout: ``optionm``, ``frb``): answers from tests/fixtures/wrds/<table>.csv,
    filtered like the database; the catalog query lists the fixtures' tables and columns, and a query that
    selects a column its table lacks fails as PostgreSQL does (``UndefinedColumn``)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.queries: list[tuple[str, dict]] = []
        self.closed = False
        self.fail_on = fail_on

    @staticmethod
    def columns(table: str) -> list[str]:
        return pd.read_csv(FIXTURES / f"{table}.csv", nrows=0).columns.tolist()

    def catalog(self) -> pd.DataFrame:
        rows = []
        for path in sorted(FIXTURES.glob("*.csv")):
            library = "frb" if path.stem == "rates_daily" else "optionm"
            rows += [(library, path.stem, column, True, True) for column in self.columns(path.stem)]
        return pd.DataFrame(rows, columns=["library", "table_name", "column_name", "schema_usage", "can_select"])

    def raw_sql(self, sql: str, *, params: dict | None = None, date_cols: list[str] | None = None, chunksize: int | None = None,
                return_iter: bool = False):
        self.queries.append((sql, dict(params or {})))
        if "pg_catalog.pg_attribute" in sql:
            return self.catalog()
        selected, table = re.search(r"SELECT (.*?) FROM (?:optionm|frb)\.(\w+)", sql).groups()
        if table == self.fail_on:
            raise ConnectionResetError("server closed the connection unexpectedly\nThis probably means the server terminated abnormally")
        for item in (part.strip() for part in selected.split(",")):
            if not item.startswith("NULL AS ") and item not in self.columns(table):
                raise LookupError(f'(psycopg2.errors.UndefinedColumn) column "{item}" does not exist\nLINE 1: {sql[:60]}')
        frame = pd.read_csv(FIXTURES / f"{table}.csv", parse_dates=date_cols, dtype_backend="numpy_nullable")
        inside = (frame["date"] >= pd.Timestamp(params["start"])) & (frame["date"] <= pd.Timestamp(params["end"]))
        if "secid" in frame and "secid = %(secid)s" in sql:
            inside &= frame["secid"] == params["secid"]
        names = [item.removeprefix("NULL AS ").strip() for item in selected.split(",")]
        answer = frame[inside].reset_index(drop=True).reindex(columns=names)
        if return_iter:
            return iter([answer.iloc[i:i + chunksize] for i in range(0, max(len(answer), 1), chunksize)])
        return answer

    def close(self) -> None:
        self.closed = True


def wrds_cfg(monkeypatch, **extra: str) -> dict:
    monkeypatch.setenv("OPTIONS_SOURCE", "wrds")
    monkeypatch.setenv("OPTIONS_START", "1996-01-02")
    monkeypatch.setenv("OPTIONS_END", "1997-01-31")
    monkeypatch.setenv("WRDS_USERNAME", "jdoe")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return settings.load()


def tables_queried(db: RecordedWrds) -> list[str]:
    return [re.search(r"FROM (?:optionm|frb)\.(\w+)", sql).group(1) for sql, _ in db.queries if "pg_catalog" not in sql]


# --------------------------------------------------------------------------------------------------
# WRDS
# --------------------------------------------------------------------------------------------------
def test_wrds_pull_sends_one_quote_query_per_year_for_the_secid(tmp_path, monkeypatch):
    cfg = wrds_cfg(monkeypatch)
    db = RecordedWrds()
    folder = tmp_path / "raw"
    pull_wrds_options(folder, cfg, connect=lambda user: db if user == "jdoe" else None)

    assert "pg_catalog" in db.queries[0][0]  # the layout is read from the catalog first
    assert tables_queried(db) == ["opprcd1996", "opprcd1997", "secprd", "zerocd", "rates_daily", "idxdvd"]
    (sql_1996, params_1996), (sql_1997, params_1997) = db.queries[1:3]
    assert "FROM optionm.opprcd1996 WHERE secid = %(secid)s AND date BETWEEN %(start)s AND %(end)s" in sql_1996
    for column in (*schema.RAW_QUOTE_COLUMNS, "symbol", "am_settlement", "ss_flag", "expiry_indicator", "NULL AS root"):
        assert column in sql_1996
    assert params_1996 == {"secid": 108105, "start": "1996-01-02", "end": "1996-12-31"}
    assert params_1997 == {"secid": 108105, "start": "1997-01-01", "end": "1997-01-31"}
    assert db.queries[4][1]["start"] == "1995-12-02"  # the curve starts a month early, to carry a rate forward
    assert db.closed

    quotes = pd.read_parquet(folder / "quotes_1996.parquet")
    assert len(quotes) == 7 and list(quotes.columns) == [*schema.RAW_QUOTE_COLUMNS, *wrds_options.CONTRACT_DTYPES]
    dtypes = {c: str(t) for c, t in quotes.dtypes.items()}
    assert dtypes == {**{c: str(t) for c, t in schema.RAW_QUOTE_DTYPES.items()}, "symbol": "string", "root": "string", "am_settlement": "Int8",
                      "ss_flag": "string", "expiry_indicator": "string"}
    assert quotes["volume"].iloc[6] == 0 and np.isnan(quotes["impl_volatility"].iloc[6])  # blanks of the fixture
    assert quotes["symbol"].iloc[0] == "SPX 960120C620000" and (quotes["root"] == "SPX").all()  # root from symbol: the table has none
    assert (quotes["ss_flag"] == "0").all() and (quotes["am_settlement"] == 1).all() and quotes["expiry_indicator"].isna().all()
    assert quotes.attrs["data_source"] == "OptionMetrics (WRDS)"
    assert len(pd.read_parquet(folder / "quotes_1997.parquet")) == 3


def test_wrds_quotes_stream_in_chunks_into_one_file(tmp_path, monkeypatch):
    pull_wrds_options(tmp_path, wrds_cfg(monkeypatch), connect=lambda user: RecordedWrds(), chunk_rows=2)
    assert pq.ParquetFile(tmp_path / "quotes_1996.parquet").num_row_groups == 4  # 7 rows in chunks of 2
    whole = pd.read_parquet(tmp_path / "quotes_1996.parquet")
    assert whole["optionid"].tolist() == [10000101, 10000102, 10000201, 10000202, 10000101, 10000102, 10000202]


def test_quotes_in_the_dtypes_wrds_returns_are_accepted_and_normalized():
    """wrds >= 3.3 gives every number as Float64 (secid, strike_price, volume too), text as string, NULL as <NA>."""
    frame = pd.DataFrame({
        "secid": pd.array([108105.0, 108105.0], dtype="Float64"), "date": pd.to_datetime(["2016-01-04"] * 2),
        "exdate": pd.to_datetime(["2016-01-15"] * 2), "cp_flag": pd.array(["C", "P"], dtype="string"),
        "strike_price": pd.array([2000000.0, 2000000.0], dtype="Float64"), "best_bid": pd.array([12.5, 11.0], dtype="Float64"),
        "best_offer": pd.array([13.0, 11.6], dtype="Float64"), "volume": pd.array([None, 7.0], dtype="Float64"),
        "open_interest": pd.array([100.0, None], dtype="Float64"), "impl_volatility": pd.array([None, 0.21], dtype="Float64"),
        "delta": pd.array([None, -0.48], dtype="Float64"), "optionid": pd.array([1.0, 2.0], dtype="Float64"),
        "symbol": pd.array(["SPX 160115C2000000", "SPXW 160115P2000000"], dtype="string"), "root": pd.array([None, "SPXW"], dtype="string"),
        "am_settlement": pd.array([1.0, 0.0], dtype="Float64"), "ss_flag": pd.array(["0", "0"], dtype="string"),
        "expiry_indicator": pd.array([None, "w"], dtype="string"),
    })
    quotes = wrds_options.normalize_quotes(frame, "optionm_all.opprcd2016")
    assert quotes["secid"].dtype == np.int64 and quotes["strike_price"].tolist() == [2000000, 2000000]
    assert quotes["volume"].tolist() == [0, 7] and quotes["open_interest"].tolist() == [100, 0]  # NULL counts are 0
    assert np.isnan(quotes["impl_volatility"].iloc[0]) and quotes["impl_volatility"].iloc[1] == 0.21
    assert quotes["root"].tolist() == ["SPX", "SPXW"] and quotes["am_settlement"].tolist() == [1, 0]
    assert quotes["expiry_indicator"].isna().tolist() == [True, False]


def test_a_query_for_a_column_the_table_lacks_fails_in_the_fake_as_on_the_server():
    with pytest.raises(LookupError, match='column "tb_m3x" does not exist'):
        RecordedWrds().raw_sql("SELECT date, tb_m3x FROM frb.rates_daily WHERE date BETWEEN %(start)s AND %(end)s",
                               params={"start": "1996-01-01", "end": "1996-12-31"})


def test_wrds_underlying_uses_the_91_day_zero_rate_the_tbill_and_the_mean_dividend_yield(tmp_path, monkeypatch):
    cfg = wrds_cfg(monkeypatch)
    pull_wrds_options(tmp_path, cfg, connect=lambda user: RecordedWrds())
    underlying = pd.read_parquet(tmp_path / "underlying.parquet")

    # 1996-01-02: 91 days between the 64-day (5.45%) and 127-day (5.31%) points
    r_1996 = (5.45 + (91 - 64) / (127 - 64) * (5.31 - 5.45)) / 100
    # 1997-01-02: between 38 (5.40%) and 101 days (5.48%); 1997-01-03: between 73 (5.44%) and 101 (5.50%)
    r_1997a = (5.40 + (91 - 38) / (101 - 38) * 0.08) / 100
    r_1997b = (5.44 + (91 - 73) / (101 - 73) * 0.06) / 100
    expected_r = [r_1996, r_1996, r_1997a, r_1997b]  # 1996-01-03 has no curve: carried forward
    np.testing.assert_allclose(underlying["r"], expected_r, rtol=0, atol=1e-12)
    # tb_m3 is a discount yield: price 1 - d*91/360, effective annual (price)^(-365/91) - 1, carried forward
    y_1996 = (1 - 0.0505 * 91 / 360) ** (-365 / 91) - 1
    y_1997 = (1 - 0.0507 * 91 / 360) ** (-365 / 91) - 1
    np.testing.assert_allclose(underlying["rf_annual"], [y_1996, y_1996, y_1997, y_1997], rtol=1e-12)
    np.testing.assert_allclose(underlying["q"], [0.022, 0.022, 0.0195, 0.0195], atol=1e-12)  # mean of 2.30/2.10, carried
    np.testing.assert_allclose(underlying["close"], [620.73, 621.32, 737.01, 748.03])


def test_tbill_discount_yield_converts_to_the_effective_annual_rate():
    # d = 5%: P = 1 - 0.05*91/360 = 0.98736111; y = P^(-365/91) - 1 = 0.0523 (above the quoted 5%)
    np.testing.assert_allclose(wrds_options.tbill_effective_annual(5.0), (1 - 0.05 * 91 / 360) ** (-365 / 91) - 1, rtol=1e-12)
    assert 0.0522 < wrds_options.tbill_effective_annual(5.0) < 0.0524
    assert wrds_options.tbill_effective_annual(0.0) == 0.0
    # a 1-year bill at 5% discount: P = 1 - 0.05*365/360, y = 1/P - 1
    np.testing.assert_allclose(wrds_options.tbill_effective_annual(5.0, days=365), 1 / (1 - 0.05 * 365 / 360) - 1, rtol=1e-12)


def test_dividend_yield_is_taken_at_91_days_to_expiration():
    dividends = pd.DataFrame({
        "date": pd.to_datetime(["2008-01-02"] * 3 + ["2008-01-03"]),
        "expiration": pd.to_datetime(["2008-02-01", "2008-03-02", "2008-07-01", "2008-02-01"]),  # 30, 60, 181 days; 29 days
        "rate": [2.6, 2.0, 1.7, 2.4],
    })
    q = wrds_options.dividend_yield_at_horizon(dividends)
    # 91 days lies between 60 (2.0%) and 181 days (1.7%); the second date has one point (flat)
    np.testing.assert_allclose(q.to_numpy(), [(2.0 + (91 - 60) / (181 - 60) * (1.7 - 2.0)) / 100, 0.024], rtol=1e-12)


def test_rate_at_horizon_is_flat_beyond_the_curve():
    curve = pd.DataFrame({"date": pd.to_datetime(["2000-01-03"] * 2 + ["2000-01-04"] * 2), "days": [10, 30, 120, 200], "rate": [5.0, 6.0, 4.0, 4.5]})
    rate = rate_at_horizon(curve)
    np.testing.assert_allclose(rate.to_numpy(), [0.06, 0.04])


def test_wrds_pull_resumes_and_opens_no_connection_when_everything_is_on_disk(tmp_path, monkeypatch):
    cfg = wrds_cfg(monkeypatch)
    pull_wrds_options(tmp_path, cfg, connect=lambda user: RecordedWrds())

    def no_connection(user):
        raise AssertionError("connected although every file is on disk")

    assert pull_wrds_options(tmp_path, cfg, connect=no_connection) == []

    (tmp_path / "quotes_1997.parquet").unlink()
    kept = (tmp_path / "quotes_1996.parquet").read_bytes()
    db = RecordedWrds()
    pull_wrds_options(tmp_path, cfg, connect=lambda user: db)
    assert tables_queried(db) == ["opprcd1997"]
    assert (tmp_path / "quotes_1996.parquet").read_bytes() == kept


def test_interrupted_wrds_pull_keeps_finished_years_and_resumes(tmp_path, monkeypatch):
    cfg = wrds_cfg(monkeypatch)
    with pytest.raises(WrdsError, match="opprcd1997") as error:
        pull_wrds_options(tmp_path, cfg, connect=lambda user: RecordedWrds(fail_on="opprcd1997"))
    assert "\n" not in str(error.value)
    assert (tmp_path / "quotes_1996.parquet").is_file() and not (tmp_path / "quotes_1997.parquet").exists()

    db = RecordedWrds()
    pull_wrds_options(tmp_path, cfg, connect=lambda user: db)
    assert tables_queried(db) == ["opprcd1997", "secprd", "zerocd", "rates_daily", "idxdvd"]


def test_a_longer_window_repulls_only_the_year_it_extends(tmp_path, monkeypatch):
    pull_wrds_options(tmp_path, wrds_cfg(monkeypatch), connect=lambda user: RecordedWrds())
    db = RecordedWrds()
    pull_wrds_options(tmp_path, wrds_cfg(monkeypatch, OPTIONS_END="1997-03-31"), connect=lambda user: db)
    assert tables_queried(db) == ["opprcd1997", "secprd", "zerocd", "rates_daily", "idxdvd"]
    assert db.queries[1][1]["end"] == "1997-03-31"


def test_missing_wrds_username_is_one_clear_line_and_keeps_pulled_files(tmp_path, monkeypatch):
    pull_wrds_options(tmp_path, wrds_cfg(monkeypatch), connect=lambda user: RecordedWrds())
    (tmp_path / "quotes_1997.parquet").unlink()
    before = (tmp_path / "quotes_1996.parquet").read_bytes()
    cfg = wrds_cfg(monkeypatch, WRDS_USERNAME="")
    with pytest.raises(settings.SettingsError, match="WRDS_USERNAME") as error:
        pull_wrds_options(tmp_path, cfg, connect=lambda user: RecordedWrds())
    assert "\n" not in str(error.value)
    assert (tmp_path / "quotes_1996.parquet").read_bytes() == before


def test_failed_connection_is_one_clear_line(tmp_path, monkeypatch):
    cfg = wrds_cfg(monkeypatch)

    def offline(user):
        raise OSError("could not translate host name \"wrds-pgdata.wharton.upenn.edu\"\nName or service not known")

    with pytest.raises(WrdsError, match="Cannot connect to WRDS as 'jdoe'") as error:
        pull_wrds_options(tmp_path, cfg, connect=offline)
    assert "\n" not in str(error.value) and "pgpass" in str(error.value) and "WRDS_HOST, WRDS_PORT" in str(error.value)


def test_wrds_panel_goes_through_pull_and_filter_stages(monkeypatch):
    cfg = wrds_cfg(monkeypatch)
    monkeypatch.setattr(wrds_options, "default_connect", lambda user, host, port: RecordedWrds())
    paths = project_paths()
    pull_options(paths, cfg)
    filter_options(paths, cfg)

    table = pd.read_csv(paths.tables / "option_filters.csv")
    assert table["remaining"].iloc[0] == 10 and (table["data_source"] == "OptionMetrics (WRDS)").all()
    iv_row = table.set_index("step").loc[5]
    assert "missing implied volatility: 1" in iv_row["detail"]  # the blank IV of the fixture, counted
    quotes = pd.read_parquet(paths.interim / "options" / "quotes_filtered_1996.parquet")
    assert quotes.attrs["data_source"] == "OptionMetrics (WRDS)"
    np.testing.assert_allclose(quotes["q"], 0.022)  # dividend yield of idxdvd, not the setting


# --------------------------------------------------------------------------------------------------
# User files
# --------------------------------------------------------------------------------------------------
def write_user_panel(folder: Path, rf_annual: float = 0.055, quotes_1997_format: str = "parquet") -> None:
    """The fixture quotes as the user's files: quotes_1996.csv, quotes_1997.<format>, underlying.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "opprcd1996.csv", folder / "quotes_1996.csv")
    quotes_1997 = pd.read_csv(FIXTURES / "opprcd1997.csv")
    if quotes_1997_format == "parquet":
        quotes_1997.to_parquet(folder / "quotes_1997.parquet")
    else:
        quotes_1997.to_csv(folder / "quotes_1997.csv", index=False)
    closes = pd.read_csv(FIXTURES / "secprd.csv")
    closes[["date", "close"]].assign(rf_annual=rf_annual).to_csv(folder / "underlying.csv", index=False)


def files_cfg(monkeypatch) -> dict:
    monkeypatch.setenv("OPTIONS_SOURCE", "files")
    monkeypatch.setenv("OPTIONS_START", "1996-01-01")
    monkeypatch.setenv("OPTIONS_END", "1997-01-31")
    return settings.load()


def test_user_files_are_checked_copied_and_filtered(monkeypatch):
    cfg = files_cfg(monkeypatch)
    paths = project_paths()
    write_user_panel(paths.manual / "options")
    pull_options(paths, cfg)
    raw = pd.read_parquet(paths.raw / "options" / "files" / "quotes_1997.parquet")
    # the raw schema's dtypes, plus the optional contract columns the user's file carries (§3.3)
    assert {c: str(raw[c].dtype) for c in schema.RAW_QUOTE_COLUMNS} == {c: str(t) for c, t in schema.RAW_QUOTE_DTYPES.items()}
    assert list(raw.columns) == list(schema.RAW_QUOTE_COLUMNS) + list(schema.CONTRACT_FLAG_COLUMNS)
    assert raw["am_settlement"].dropna().isin([0, 1]).all()
    underlying = pd.read_parquet(paths.raw / "options" / "files" / "underlying.parquet")
    np.testing.assert_allclose(underlying["r"], np.log1p(0.055))
    np.testing.assert_allclose(underlying["q"], 0.02)  # no q column: DIVIDEND_YIELD

    filter_options(paths, cfg)
    meta = pd.read_json(paths.interim / "options" / "meta.json", typ="series")
    assert meta["source"] == "files" and meta["label"] == "user files"


def test_user_file_copies_are_skipped_until_the_source_changes(monkeypatch):
    cfg = files_cfg(monkeypatch)
    paths = project_paths()
    write_user_panel(paths.manual / "options")
    pull_options(paths, cfg)
    written = option_files.pull_option_files(paths.manual / "options", paths.raw / "options" / "files", cfg)
    assert [p.name for p in written] == ["underlying.parquet"]


def test_missing_user_year_names_the_year_and_writes_nothing(monkeypatch):
    cfg = files_cfg(monkeypatch)
    paths = project_paths()
    write_user_panel(paths.manual / "options")
    (paths.manual / "options" / "quotes_1997.parquet").unlink()
    with pytest.raises(DataValidationError, match=r"option year 1997: no quotes_1997\.parquet or quotes_1997\.csv"):
        pull_options(paths, cfg)
    assert not (paths.raw / "options" / "files").exists()


def test_corrupt_user_year_names_the_year_and_leaves_other_years_untouched(monkeypatch):
    cfg = files_cfg(monkeypatch)
    paths = project_paths()
    write_user_panel(paths.manual / "options")
    pull_options(paths, cfg)
    copy_1996 = paths.raw / "options" / "files" / "quotes_1996.parquet"
    before = copy_1996.read_bytes()
    (paths.manual / "options" / "quotes_1997.parquet").write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(DataValidationError, match="option year 1997: .*quotes_1997.parquet: cannot be read as parquet"):
        pull_options(paths, cfg)
    assert copy_1996.read_bytes() == before


# --------------------------------------------------------------------------------------------------
# Bad input at the schema check (errors name the file and the column, or the drop is counted)
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def fixture_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    quotes = pd.read_csv(FIXTURES / "opprcd1996.csv")
    closes = pd.read_csv(FIXTURES / "secprd.csv", parse_dates=["date"])
    underlying = schema.validate_underlying(closes[["date", "close"]].assign(rf_annual=0.05), "underlying.csv", dividend_yield=0.02)
    return quotes, underlying


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda q: q.drop(columns="best_offer"), r"quotes_1996\.csv: missing column\(s\) best_offer"),
        (lambda q: q.assign(strike_price=q["strike_price"] // 1000), r"quotes_1996\.csv: column 'strike_price' does not look like strike x 1000 \(median strike_price/1000/close = 0\.000"),
        (lambda q: q.assign(exdate=np.where(q.index == 2, "1995-12-16", q["exdate"])), r"quotes_1996\.csv: column 'exdate' is before 'date' on 1 row\(s\) \(first: date=1996-01-02, exdate=1995-12-16\)"),
        (lambda q: q.assign(cp_flag=q["cp_flag"].replace({"P": "put"})), r"quotes_1996\.csv: column 'cp_flag' must be 'C' or 'P'; found \['put'\] on 4 row\(s\)"),
        (lambda q: q.assign(best_bid=q["best_bid"].astype(str).str.replace("8.5", "eight")), r"quotes_1996\.csv: column 'best_bid' must be numeric, found 'eight'"),
        (lambda q: q.assign(date=np.where(q.index == 0, "1996-01-06", q["date"])), r"quotes_1996\.csv: column 'date' has 1 quote date\(s\) without an underlying close \(first: 1996-01-06\)"),
        (lambda q: q.assign(optionid=np.where(q.index == 1, np.nan, q["optionid"])), r"quotes_1996\.csv: column 'optionid' has missing values on 1 row\(s\)"),
    ],
    ids=["missing column", "strike not x1000", "exdate before date", "cp_flag not C/P", "text in a price", "date without close", "missing optionid"],
)
def test_bad_quote_input_raises_an_error_naming_file_and_column(fixture_panel, spoil, message):
    quotes, underlying = fixture_panel
    with pytest.raises(DataValidationError, match=message):
        schema.validate_quotes(spoil(quotes), underlying, "quotes_1996.csv")


def test_negative_or_missing_bid_offer_and_missing_iv_are_counted_drops(fixture_panel):
    from asset_pricing.options.filters import filter_implied_volatility, filter_zero_bid

    quotes, underlying = fixture_panel
    quotes.loc[0, "best_bid"] = -1.0
    quotes.loc[1, "best_offer"] = np.nan
    quotes.loc[2, "best_offer"] = -0.5
    quotes.loc[3, "impl_volatility"] = np.nan
    prepared = schema.attach_underlying(schema.validate_quotes(quotes, underlying, "quotes_1996.csv"), underlying)
    zero_bid = filter_zero_bid(prepared)
    assert zero_bid.removed == 3
    assert zero_bid.detail == {"zero or negative bid": 1, "crossed or non-positive offer": 1, "missing bid or offer": 1}
    iv = filter_implied_volatility(zero_bid.kept)
    assert iv.detail["missing implied volatility"] == 2  # row 3 and the fixture's blank IV (row 6)


def test_duplicate_rows_are_kept_by_the_check_and_counted_by_filter_1(fixture_panel):
    from asset_pricing.options.filters import filter_identical_quotes

    quotes, underlying = fixture_panel
    doubled = pd.concat([quotes, quotes.iloc[[0, 4]]], ignore_index=True)
    checked = schema.validate_quotes(doubled, underlying, "quotes_1996.csv")
    assert len(checked) == 9
    result = filter_identical_quotes(schema.attach_underlying(checked, underlying))
    assert result.removed == 2 and sorted(result.kept.index) == list(range(7))


def test_unsorted_input_is_sorted_and_rows_keep_their_input_position(fixture_panel):
    quotes, underlying = fixture_panel
    shuffled = quotes.sample(frac=1.0, random_state=3).reset_index(drop=True)
    checked = schema.validate_quotes(shuffled, underlying, "quotes_1996.csv")
    expected = quotes.sort_values(["date", "cp_flag", "exdate", "strike_price"], kind="mergesort")
    np.testing.assert_array_equal(checked["optionid"].to_numpy(), expected["optionid"].to_numpy())
    pd.testing.assert_frame_equal(
        checked.reset_index(drop=True)[["best_bid", "best_offer"]], shuffled.loc[checked.index, ["best_bid", "best_offer"]].reset_index(drop=True)
    )
    assert checked["cp_flag"].dtype == schema.CP_DTYPE


def test_underlying_without_a_close_column_names_file_and_column():
    frame = pd.DataFrame({"date": ["1996-01-02"], "level": [620.0], "rf_annual": [0.05]})
    with pytest.raises(DataValidationError, match=r"underlying\.csv: missing column\(s\) close"):
        schema.validate_underlying(frame, "underlying.csv", dividend_yield=0.02)
