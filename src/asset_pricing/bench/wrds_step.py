"""Step 6 of the benchmark: one year of OptionMetrics quotes pulled from a local copy of WRDS.

The step starts its own PostgreSQL server (:mod:`asset_pricing.bench.pgserver`: SSL, password login,
database ``wrds``), creates the tables of asset_pricing/bench/wrds_ddl.sql (today's layout) and loads one
replica year, 2019: a year of generated SPX/SPXW quotes (:mod:`asset_pricing.bench.wrds_replica`)
copied on the server until the year holds ``WRDS_QUOTES[size]`` rows (5 million at full size, the
order of a recent SPX year), with their secprd, zerocd, idxdvd and rates_daily rows. Then, runs
alternating, each in a fresh child process:

- ``wrds_copy_baseline``: a plain ``COPY (SELECT <the pull's columns> …) TO STDOUT`` of the same
  rows through psycopg2 into a sink that discards them — the floor any client pays to receive them;
- ``wrds_pull``: ``pull_options`` with ``OPTIONS_SOURCE=wrds`` (the real ``wrds.Connection``, layout
  detection, the stream into parquet row groups, the underlying table), from an empty folder.

Targets (full size): the pull's peak RSS ≤ 1 GiB, and its time ≤ 2 × the COPY's (medians). The server
is stopped and deleted at the end. Without PostgreSQL the step is skipped with a note.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

import settings

log = logging.getLogger(__name__)

YEAR = 2019
WRDS_QUOTES: dict[str, int] = {"tiny": 50_000, "small": 1_000_000, "full": 5_000_000}
USER = "benchuser"
DDL_PATH = Path(__file__).with_name("wrds_ddl.sql")  # WRDS's tables in both layouts (package data)
RSS_LIMIT_GIB = 1.0
COPY_RATIO_LIMIT = 2.0


def replicate_year(connection: Any, year: int, quotes: int) -> int:
    """Copy ``optionm_all.opprcd<year>`` onto itself (new optionids) until it holds ``quotes`` rows; the count."""
    table = f"optionm_all.opprcd{year}"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        base = int(cursor.fetchone()[0])
        cursor.execute(f"CREATE TEMP TABLE base AS SELECT * FROM {table}")
        copies, rest = divmod(max(quotes - base, 0), base)
        columns = _columns(cursor, table)
        shifted = ", ".join("optionid + k * 1e10" if name == "optionid" else name for name in columns)
        if copies:
            cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {shifted} FROM base, generate_series(1, {copies}) k")
        if rest:
            cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {shifted} FROM base, (SELECT {copies + 1} AS k) c LIMIT {rest}")
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def _columns(cursor: Any, table: str) -> list[str]:
    schema, name = table.split(".")
    cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                   (schema, name))
    return [row[0] for row in cursor.fetchall()]


def copy_to_null(host: str, port: int, user: str, sql: str) -> dict[str, Any]:
    """``COPY (sql) TO STDOUT`` (CSV) over SSL into a sink that counts and drops the rows; seconds and rows."""
    import psycopg2

    class Sink:
        rows = 0

        def write(self, line: bytes) -> None:
            self.rows += 1

    sink = Sink()
    start = time.perf_counter()
    with closing(psycopg2.connect(host=host, port=port, dbname="wrds", user=user, sslmode="require")) as connection:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", sink)
    return {"seconds": time.perf_counter() - start, "rows": sink.rows}


def pull_one_year() -> dict[str, Any]:
    """``pull_options`` (OPTIONS_SOURCE=wrds, the child's settings) from an empty raw folder; seconds and rows."""
    from asset_pricing.paths import project_paths, raw_options_dir
    from asset_pricing.sources.option_pull import pull_options

    paths, cfg = project_paths(), settings.load()
    shutil.rmtree(raw_options_dir(paths, "wrds"), ignore_errors=True)
    start = time.perf_counter()
    pull_options(paths, cfg)
    seconds = time.perf_counter() - start
    files = sorted(raw_options_dir(paths, "wrds").glob("quotes_*.parquet"))
    return {"seconds": seconds, "rows": sum(pq.ParquetFile(path).metadata.num_rows for path in files),
            "row_groups": sum(pq.ParquetFile(path).num_row_groups for path in files)}


def load_replica(socket_dir: str, port: int, quotes: int) -> dict[str, Any]:
    """In a child process (the parent's peak RSS is inherited by the children it starts): create the tables, load
    the replica year, grant USER today's layout; the rows loaded and the pull's SELECT of the year."""
    import pandas as pd
    import psycopg2

    from asset_pricing.bench.wrds_replica import grant_layout, load_wrds_copy
    from asset_pricing.sources.wrds_client import CATALOG_SQL, layout_from_catalog
    from asset_pricing.sources.wrds_options import quote_sql

    start = time.perf_counter()
    with closing(psycopg2.connect(host=socket_dir, port=port, user="postgres", dbname="wrds")) as connection:
        connection.autocommit = True
        load_wrds_copy(connection, DDL_PATH.read_text(encoding="utf-8"), [(f"{YEAR}-01-02", f"{YEAR}-12-31")], layouts=("optionm_all",))
        rows = replicate_year(connection, YEAR, quotes)
        grant_layout(connection, USER, "optionm_all")
        with connection.cursor() as cursor:
            cursor.execute(CATALOG_SQL)
            catalog = pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])
    select = quote_sql(layout_from_catalog(catalog), YEAR) % {"secid": 108105, "start": f"'{YEAR}-01-01'", "end": f"'{YEAR}-12-31'"}
    return {"seconds": time.perf_counter() - start, "quotes": rows, "select": select}


def run_step(ctx: Any) -> None:
    """Start the server, load the replica year, measure COPY and the pull alternately, stop the server."""
    from asset_pricing.bench.measure import Call, Measurement, run_child
    from asset_pricing.bench.pgserver import PgServerUnavailable, create_server

    if not DDL_PATH.is_file():
        ctx.notes.append(f"Step 6 (WRDS pull) skipped: {DDL_PATH} not found (a checkout of the project is needed).")
        return
    try:
        server = create_server()
    except PgServerUnavailable as exc:
        ctx.notes.append(f"Step 6 (WRDS pull) skipped: {exc}.")
        return
    try:
        server.add_user(USER, "bench-password")
        env = ctx.environment("wrds")
        load = run_child([Call("asset_pricing.bench.wrds_step:load_replica", kwargs={
            "socket_dir": str(server.socket_dir), "port": server.port, "quotes": WRDS_QUOTES.get(ctx.size.name, WRDS_QUOTES["full"])})],
            env, ctx.runs_dir, "wrds-load")
        quotes, select = load.extra["quotes"], load.extra["select"]
        ctx.figures.update(wrds_load_seconds=load.seconds, wrds_quotes=quotes)
        overrides = {"OPTIONS_SOURCE": "wrds", "OPTIONS_START": f"{YEAR}-01-01", "OPTIONS_END": f"{YEAR}-12-31", "WRDS_HOST": server.host,
                     "WRDS_PORT": str(server.port), "WRDS_USERNAME": USER}
        env = ctx.environment("wrds", **overrides, PGPASSFILE=str(server.pgpass_path))
        baseline = Measurement("wrds_copy_baseline", f"Step 6 baseline: COPY (the pull's SELECT of optionm_all.opprcd{YEAR}, "
                               f"{quotes:,} rows) TO STDOUT over SSL into a discarding sink", settings=overrides)
        pull = Measurement("wrds_pull", f"Step 6: pull_options with OPTIONS_SOURCE=wrds (real wrds.Connection, layout detection, "
                           f"stream into parquet row groups, underlying), one year of {quotes:,} quotes from the local server", settings=overrides)
        copy_call = Call("asset_pricing.bench.wrds_step:copy_to_null", kwargs={"host": server.host, "port": server.port, "user": USER, "sql": select})
        for attempt in range(ctx.repeats):
            baseline.runs.append(run_child([copy_call], env, ctx.runs_dir, f"wrds-copy-{attempt}"))
            pull.runs.append(run_child([Call("asset_pricing.bench.wrds_step:pull_one_year")], env, ctx.runs_dir, f"wrds-pull-{attempt}"))
            log.info("bench wrds run %d/%d: COPY %.2f s, pull %.2f s (%.0f MiB)", attempt + 1, ctx.repeats, baseline.runs[-1].seconds,
                     pull.runs[-1].seconds, pull.runs[-1].peak_rss_mb)
        ctx.measurements.update({baseline.name: baseline, pull.name: pull})
    finally:
        server.remove()


def wrds_targets(ctx: Any) -> list[Any]:
    """Figures and targets of step 6 (none when it did not run)."""
    from asset_pricing.bench.runner import Target

    m, figures = ctx.measurements, ctx.figures
    if "wrds_pull" not in m or "wrds_copy_baseline" not in m:
        return []
    pull, copy = m["wrds_pull"], m["wrds_copy_baseline"]
    rows = pull.extra["rows"]
    figures.update(wrds_pull_rows_per_second=rows / pull.median_seconds, wrds_copy_rows_per_second=copy.extra["rows"] / copy.median_seconds,
                   wrds_pull_over_copy=pull.median_seconds / copy.median_seconds, wrds_pull_row_groups=pull.extra["row_groups"])
    return [Target(f"step 6: WRDS pull of one year ({rows:,} quotes), peak RSS", pull.median_rss_mb / 1024, RSS_LIMIT_GIB, "<=", "GiB", "median of runs"),
            Target("step 6: WRDS pull time / plain COPY TO STDOUT of the same rows", figures["wrds_pull_over_copy"], COPY_RATIO_LIMIT, "<=", "x",
                   "medians, runs alternating")]


def describe(figures: dict[str, Any]) -> list[str]:
    """Lines of results.md for step 6."""
    if "wrds_pull_rows_per_second" not in figures:
        return []
    return ["## WRDS pull (step 6)", "",
            f"A local PostgreSQL copy of WRDS (SSL, password login) holding one year of {figures['wrds_quotes']:,} quotes (loaded in "
            f"{figures['wrds_load_seconds']:.0f} s). The pull streams it at {figures['wrds_pull_rows_per_second']:,.0f} rows/s into "
            f"{figures['wrds_pull_row_groups']} parquet row groups; a plain COPY … TO STDOUT of the same rows runs at "
            f"{figures['wrds_copy_rows_per_second']:,.0f} rows/s (pull / COPY = {figures['wrds_pull_over_copy']:.2f}x).", ""]


__all__ = ["run_step", "wrds_targets", "describe", "copy_to_null", "pull_one_year", "replicate_year"]
