"""The WRDS pull against a real PostgreSQL server (tests/wrds_server.py): the real ``wrds`` 3.5 client over SSL
with a pgpass password, both layouts, and the faults a user meets (server down, server stopped mid-year,
no permission, a missing year, a year revised on the server). Nothing inside the project is patched:
the pull reaches the server through the settings WRDS_HOST/WRDS_PORT and PGPASSFILE.

One server per session (about 6 s to start and load); the tests of this file take about 40-55 s on a
loaded 2-core machine, most of it the two ``doit`` runs.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

import settings
from asset_pricing.bench import pgserver
from asset_pricing.bench.pgserver import PgServerUnavailable, find_bindir, free_port
from asset_pricing.sources.wrds_client import WrdsError
from asset_pricing.sources.wrds_options import CONTRACT_DTYPES, pull_wrds_options, tbill_effective_annual

ROOT = settings.PROJECT_ROOT
THREE_YEARS = {"OPTIONS_START": "2008-01-02", "OPTIONS_END": "2010-02-26"}


def use_server(monkeypatch, copy, user: str, **extra: str) -> dict:
    """Point the settings (environment) at the local server as ``user``; the loaded settings."""
    for name, value in copy.environment(user, **extra).items():
        monkeypatch.setenv(name, value)
    return settings.load()


def opprcd_years(statements: list[str]) -> list[int]:
    return [int(year) for statement in statements for year in re.findall(r"opprcd(\d{4})", statement)]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)


def test_without_postgresql_the_server_is_unavailable_with_the_install_command(monkeypatch):
    monkeypatch.setattr(pgserver, "POSTGRES_VERSIONS", ("0",))
    monkeypatch.delenv("PG_BINDIR", raising=False)
    with pytest.raises(PgServerUnavailable, match=r"apt-get install -y postgresql"):
        find_bindir()


# --------------------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------------------
def test_todays_layout_is_pulled_through_the_real_client_over_ssl(wrds_server, monkeypatch, tmp_path, caplog):
    cfg = use_server(monkeypatch, wrds_server, "jdoe", **THREE_YEARS)
    offset = wrds_server.server.log_size()
    with caplog.at_level(logging.INFO, logger="asset_pricing.sources.wrds_client"):
        pull_wrds_options(tmp_path, cfg, chunk_rows=4000)

    assert "WRDS layout: optionm_all (opprcdYYYY 2008-2016, secprdYYYY, zerocd, idxdvd) + frb_all.rates_daily.dtb3" in caplog.text
    log = wrds_server.server.log_lines_since(offset)
    assert any("connection authorized: user=jdoe database=wrds" in line and "SSL enabled" in line for line in log)
    statements = wrds_server.statements_since(offset, "jdoe")
    assert opprcd_years(statements) == [2008, 2009, 2010]
    assert any(s.startswith("COPY (SELECT secid, date, exdate") and "FROM optionm_all.opprcd2008 WHERE secid = 108105" in s for s in statements)
    assert any("FROM optionm_all.secprd2009" in s for s in statements) and any("dtb3 FROM frb_all.rates_daily" in s for s in statements)

    for year in (2008, 2009, 2010):
        quotes = pd.read_parquet(tmp_path / f"quotes_{year}.parquet")
        assert len(quotes) == wrds_server.quote_rows[year]
        null_iv = wrds_server.server.execute(f"SELECT count(*) FROM optionm_all.opprcd{year} WHERE impl_volatility IS NULL")[0][0]
        assert quotes["impl_volatility"].isna().sum() == null_iv and 0.05 < null_iv / len(quotes) < 0.15
    quotes = pd.read_parquet(tmp_path / "quotes_2008.parquet")
    assert [str(quotes[c].dtype) for c in CONTRACT_DTYPES] == ["string", "string", "Int8", "string", "string"]
    standard, weekly = quotes[quotes["root"] == "SPX"], quotes[quotes["root"] == "SPXW"]
    assert (standard["exdate"].dt.dayofweek == 5).all()  # AM-settled SPX expires on a Saturday before 2015
    assert (standard["am_settlement"] == 1).all() and standard["expiry_indicator"].isna().all()
    assert (weekly["am_settlement"] == 0).all() and set(weekly["expiry_indicator"]) == {"w", "m"}
    assert (quotes["ss_flag"] == "0").all() and (quotes["symbol"].str.split(" ").str[0] == quotes["root"]).all()

    underlying = pd.read_parquet(tmp_path / "underlying.parquet")
    in_2008 = underlying.index.year == 2008
    np.testing.assert_allclose(underlying.loc[in_2008, "rf_annual"], tbill_effective_annual(3.0), rtol=1e-12)  # dtb3 = 3.00 in 2008
    np.testing.assert_allclose(underlying["q"], 0.020, rtol=1e-12)  # idxdvd's 91-day point is 2.0 %


def test_older_layout_is_found_and_root_comes_from_the_symbol(wrds_server, monkeypatch, tmp_path, caplog):
    cfg = use_server(monkeypatch, wrds_server, "olduser", OPTIONS_START="2016-01-04", OPTIONS_END="2016-01-29")
    offset = wrds_server.server.log_size()
    with caplog.at_level(logging.INFO, logger="asset_pricing.sources.wrds_client"):
        pull_wrds_options(tmp_path, cfg)

    assert "WRDS layout: optionm (opprcdYYYY 2008-2016, secprd, zerocd, idxdvd) + frb.rates_daily.tb_m3" in caplog.text
    statements = wrds_server.statements_since(offset, "olduser")
    assert any("NULL AS root," in s and "FROM optionm.opprcd2016" in s for s in statements)  # the older table has no root column
    assert any("FROM optionm.secprd WHERE" in s for s in statements) and any("tb_m3 FROM frb.rates_daily" in s for s in statements)
    quotes = pd.read_parquet(tmp_path / "quotes_2016.parquet")
    expected_root = wrds_server.server.execute("SELECT root, count(*) FROM optionm_all.opprcd2016 GROUP BY root ORDER BY root")
    assert sorted(quotes["root"].value_counts().items()) == expected_root  # [('SPX', n), ('SPXW', m)]
    # after the 2015 switch a standard SPX and an SPXW contract share (date, exdate, cp_flag, strike_price)
    keys = ["date", "exdate", "cp_flag", "strike_price"]
    shared = quotes.groupby(keys, observed=True)["root"].nunique()
    assert (shared == 2).any() and (quotes[quotes["root"] == "SPX"]["exdate"].dt.dayofweek == 4).all()


def test_an_account_without_either_layout_gets_one_line_naming_both(wrds_server, monkeypatch, tmp_path):
    cfg = use_server(monkeypatch, wrds_server, "nolayout", **THREE_YEARS)
    with pytest.raises(WrdsError) as error:
        pull_wrds_options(tmp_path, cfg)
    message = str(error.value)
    assert "\n" not in message and "optionm_all.opprcdYYYY" in message and "optionm.opprcdYYYY" in message
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------
def test_no_select_permission_on_a_table_is_one_line_naming_it(wrds_server, monkeypatch, tmp_path):
    cfg = use_server(monkeypatch, wrds_server, "noperm", OPTIONS_START="2009-01-02", OPTIONS_END="2009-02-27")
    with pytest.raises(WrdsError, match=r"No SELECT permission on WRDS table optionm_all\.secprd2009 ") as error:
        pull_wrds_options(tmp_path, cfg)
    assert "\n" not in str(error.value) and list(tmp_path.iterdir()) == []


def test_a_missing_year_table_is_one_line_naming_it_before_anything_is_pulled(wrds_server, monkeypatch, tmp_path):
    cfg = use_server(monkeypatch, wrds_server, "jdoe", OPTIONS_START="2010-01-04", OPTIONS_END="2011-03-31")
    offset = wrds_server.server.log_size()
    with pytest.raises(WrdsError, match=r"optionm_all\.opprcd2011 does not exist .*opprcdYYYY for 2008-2016") as error:
        pull_wrds_options(tmp_path, cfg)
    assert "\n" not in str(error.value) and list(tmp_path.iterdir()) == []
    assert opprcd_years(wrds_server.statements_since(offset, "jdoe")) == []


def test_server_down_before_connecting_is_one_line_within_seconds_and_never_a_prompt(wrds_server, monkeypatch, tmp_path):
    use_server(monkeypatch, wrds_server, "jdoe", WRDS_PORT=str(free_port()), DATA_DIR=str(tmp_path / "data"), OUTPUT_DIR=str(tmp_path / "out"),
               OPTIONS_START="2016-01-04", OPTIONS_END="2016-01-29")
    started = time.perf_counter()
    process = run([sys.executable, "-m", "doit", "pull_options"])  # stdin closed: a prompt would end in EOFError
    elapsed = time.perf_counter() - started
    output = process.stdout + process.stderr
    assert process.returncode != 0
    port = settings.load()["WRDS_PORT"]
    error_lines = [line for line in output.splitlines() if "Cannot reach WRDS" in line]
    assert len(error_lines) == 1 and f"at 127.0.0.1:{port} (" in error_lines[0]
    assert "WRDS_HOST, WRDS_PORT, WRDS_USERNAME" in error_lines[0] and str(wrds_server.server.pgpass_path) in error_lines[0]
    assert "EOFError" not in output and "Traceback" not in output and "Enter your WRDS username" not in output
    assert elapsed < 60  # a hang guard (the check gives up after 10 s), not a speed test


def test_a_login_without_a_pgpass_line_is_one_line_naming_the_file(wrds_server, monkeypatch, tmp_path):
    cfg = use_server(monkeypatch, wrds_server, "stranger", **THREE_YEARS)
    with pytest.raises(WrdsError, match=r"refused user 'stranger' .*'127\.0\.0\.1:\d+:wrds:stranger:<password>'") as error:
        pull_wrds_options(tmp_path, cfg)
    assert str(wrds_server.server.pgpass_path) in str(error.value) and "\n" not in str(error.value)


def test_doit_pulls_and_filters_through_the_real_client(wrds_server, monkeypatch, tmp_path):
    use_server(monkeypatch, wrds_server, "jdoe", DATA_DIR=str(tmp_path / "data"), OUTPUT_DIR=str(tmp_path / "out"),
               OPTIONS_START="2016-01-04", OPTIONS_END="2016-01-29")
    process = run([sys.executable, "-m", "doit", "pull_options", "filter_options"])
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    raw = pd.read_parquet(tmp_path / "data" / "raw" / "options" / "wrds" / "quotes_2016.parquet")
    assert len(raw) == wrds_server.quote_rows[2016] and raw.attrs["data_source"] == "OptionMetrics (WRDS)"
    table = pd.read_csv(tmp_path / "out" / "tables" / "option_filters.csv")
    assert table["remaining"].iloc[0] == len(raw) and (table["data_source"] == "OptionMetrics (WRDS)").all()


def test_a_revised_year_is_pulled_again_with_the_documented_command(wrds_server, monkeypatch, tmp_path):
    cfg = use_server(monkeypatch, wrds_server, "jdoe", DATA_DIR=str(tmp_path / "data"), OPTIONS_START="2008-01-02", OPTIONS_END="2009-02-27")
    folder = tmp_path / "data" / "raw" / "options" / "wrds"
    pull_wrds_options(folder, cfg)
    before_2008 = pd.read_parquet(folder / "quotes_2008.parquet")
    kept_2009 = (folder / "quotes_2009.parquet").read_bytes()
    revise = "UPDATE optionm_all.opprcd2008 SET best_offer = best_offer + %s WHERE date = '2008-01-02'"
    wrds_server.server.execute(revise, (0.25,))
    try:
        offset = wrds_server.server.log_size()
        assert pull_wrds_options(folder, cfg) == []  # a plain rerun trusts the files on disk
        process = run([sys.executable, "-m", "asset_pricing.sources.wrds_options", "--repull", "2008"])
        assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
        assert opprcd_years(wrds_server.statements_since(offset, "jdoe")) == [2008]
    finally:
        wrds_server.server.execute(revise, (-0.25,))
    after_2008 = pd.read_parquet(folder / "quotes_2008.parquet").sort_values(["date", "optionid"], ignore_index=True)
    before_2008 = before_2008.sort_values(["date", "optionid"], ignore_index=True)  # an UPDATE moves rows in the table
    first_day = (after_2008["date"] == "2008-01-02").to_numpy()
    np.testing.assert_allclose(after_2008["best_offer"].to_numpy()[first_day], before_2008["best_offer"].to_numpy()[first_day] + 0.25, rtol=1e-12)
    np.testing.assert_array_equal(after_2008["best_offer"].to_numpy()[~first_day], before_2008["best_offer"].to_numpy()[~first_day])
    assert (folder / "quotes_2009.parquet").read_bytes() == kept_2009


def test_server_stopped_in_the_middle_of_a_year_then_the_rerun_resumes_at_that_year(wrds_server, monkeypatch, tmp_path):
    """2009's table becomes a view that sends January, then waits; the server is stopped while the pull is inside 2009."""
    server = wrds_server.server
    cfg = use_server(monkeypatch, wrds_server, "jdoe", **THREE_YEARS)
    server.execute("ALTER TABLE optionm_all.opprcd2009 RENAME TO opprcd2009_rows")
    server.execute(
        "CREATE VIEW optionm_all.opprcd2009 AS SELECT * FROM optionm_all.opprcd2009_rows WHERE date < '2009-02-01' "
        "UNION ALL SELECT r.* FROM optionm_all.opprcd2009_rows r, pg_sleep(60) WHERE r.date >= '2009-02-01'"
    )
    server.execute("GRANT SELECT ON optionm_all.opprcd2009 TO jdoe")
    offset = server.log_size()

    def stop_inside_2009() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if 2009 in opprcd_years(wrds_server.statements_since(offset, "jdoe")):
                time.sleep(1.0)  # January's rows are out, the view is sleeping
                server.stop("fast")
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_inside_2009)
    stopper.start()
    try:
        with pytest.raises(WrdsError, match=r"WRDS pull of optionm_all\.opprcd2009 stopped .*years before 2009 are kept") as error:
            pull_wrds_options(tmp_path, cfg, chunk_rows=1000)  # January alone fills a few row groups of the temporary file
    finally:
        stopper.join()
        server.start()
        server.execute("DROP VIEW optionm_all.opprcd2009")
        server.execute("ALTER TABLE optionm_all.opprcd2009_rows RENAME TO opprcd2009")
    assert "\n" not in str(error.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["quotes_2008.parquet"]  # no 2009 file, no temporary file left
    kept_2008 = (tmp_path / "quotes_2008.parquet").read_bytes()

    offset = server.log_size()
    pull_wrds_options(tmp_path, cfg)
    assert opprcd_years(wrds_server.statements_since(offset, "jdoe")) == [2009, 2010]
    assert (tmp_path / "quotes_2008.parquet").read_bytes() == kept_2008
    assert len(pd.read_parquet(tmp_path / "quotes_2009.parquet")) == wrds_server.quote_rows[2009]


def test_the_server_side_cursor_fallback_gives_the_rows_copy_gives(wrds_server, monkeypatch):
    """Where a server refused COPY the pull would stream through a named cursor: same rows, same normalized quotes."""
    import sqlalchemy as sa

    from asset_pricing.sources.wrds_client import layout_from_catalog, stream_copy, stream_cursor, CATALOG_SQL
    from asset_pricing.sources.wrds_options import QUOTE_KINDS, normalize_quotes, quote_sql

    monkeypatch.setenv("PGPASSFILE", str(wrds_server.server.pgpass_path))
    engine = sa.create_engine(f"postgresql://jdoe:@127.0.0.1:{wrds_server.server.port}/wrds", isolation_level="AUTOCOMMIT",
                              connect_args={"sslmode": "require"})  # as wrds.Connection builds it
    try:
        with engine.connect() as connection:
            layout = layout_from_catalog(pd.read_sql_query(CATALOG_SQL, connection))
        params = {"secid": 108105, "start": "2010-01-01", "end": "2010-12-31"}
        sql = quote_sql(layout, 2010)
        by_cursor = [normalize_quotes(chunk, "cursor") for chunk in stream_cursor(engine, sql, params, ["date", "exdate"], 3000)]
        by_copy = [normalize_quotes(chunk, "copy") for chunk in stream_copy(engine, sql, params, QUOTE_KINDS, 3000)]
    finally:
        engine.dispose()
    assert len(by_cursor) == 4 and max(len(chunk) for chunk in by_cursor) == 3000  # 11,294 rows in chunks of 3,000
    cursor_rows = pd.concat(by_cursor, ignore_index=True).sort_values(["date", "optionid"], ignore_index=True)
    copy_rows = pd.concat(by_copy, ignore_index=True).sort_values(["date", "optionid"], ignore_index=True)
    assert len(cursor_rows) == wrds_server.quote_rows[2010]
    pd.testing.assert_frame_equal(cursor_rows.astype({c: "string" for c in CONTRACT_DTYPES if c != "am_settlement"}),
                                  copy_rows.astype({c: "string" for c in CONTRACT_DTYPES if c != "am_settlement"}))
