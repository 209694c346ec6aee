"""The WRDS side of the OptionMetrics pull: connecting without a prompt, finding the account's layout, streaming rows.

- :func:`default_connect` checks that ``WRDS_HOST:WRDS_PORT`` answers and accepts ``WRDS_USERNAME`` with
  the password of the pgpass file (``PGPASSFILE`` or ``~/.pgpass``; libpq reads it) *before* building
  the real ``wrds.Connection`` (wrds 3.5), so a wrong host, a stopped server or a missing password is
  one :class:`WrdsError` line within seconds instead of ``wrds``'s fallback to ``input()``.
- :func:`detect_layout` asks the server's catalog (``pg_catalog``, which lists tables whatever the
  privileges) which of the two OptionMetrics layouts the account can use (docs/methods.md §3.4):
  ``optionm_all`` (year-split ``opprcdYYYY`` and ``secprdYYYY``, WRDS's layout since about 2020) with
  ``frb_all.rates_daily.dtb3``, or the older ``optionm`` (``opprcdYYYY``, one ``secprd``) with
  ``frb.rates_daily.tb_m3``; it records every table's columns and whether the user may SELECT it.
- :func:`stream_query` yields a query's rows in chunks of at most ``chunk_rows``: on a live
  ``wrds.Connection`` through ``COPY (SELECT …) TO STDOUT`` on its own psycopg2 connection, parsed by
  pyarrow's CSV reader in the main thread while a second thread receives the next chunk (memory:
  about three chunks, whatever the table's size); should the server refuse COPY, through a
  server-side cursor (bounded too, several times slower); on any other connection object (the tests' fake)
  through ``raw_sql(chunksize=…, return_iter=True)``, which gives what ``wrds.Connection.raw_sql`` gives
  (wrds ≥ 3.3): ``Float64`` numbers, ``string`` text, ``datetime64`` dates, NULL as ``<NA>``. The COPY
  path gives ``float64`` numbers (NULL → NaN), arrow-backed ``string`` text and ``datetime64`` dates;
  the pull normalizes both the same way.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_HOST = "wrds-pgdata.wharton.upenn.edu"  # wrds.sql.WRDS_POSTGRES_HOST
DEFAULT_PORT = 9737  # wrds.sql.WRDS_POSTGRES_PORT
DATABASE = "wrds"
CONNECT_TIMEOUT_SECONDS = 10
SETTINGS_HINT = "settings WRDS_HOST, WRDS_PORT, WRDS_USERNAME"


class WrdsError(ConnectionError):
    """WRDS cannot be reached or answered unexpectedly; one line saying what to check. Files already pulled are kept."""


class WrdsConnection(Protocol):
    """What the pull uses of ``wrds.Connection`` (a live one also has ``engine``/``connection`` for COPY)."""

    def raw_sql(self, sql: str, *, params: dict[str, Any] | None = None, date_cols: list[str] | None = None,
                chunksize: int | None = None, return_iter: bool = False) -> Any: ...

    def close(self) -> None: ...


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (psycopg2 messages span several lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def pgpass_file() -> Path:
    """The password file libpq reads: ``PGPASSFILE`` when set, else ``~/.pgpass``."""
    return Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")


# --------------------------------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------------------------------
def check_server(username: str, host: str, port: int) -> None:
    """Open and close one psycopg2 connection as ``wrds.Connection`` would (sslmode=require, database wrds).

    Raises :class:`WrdsError` (one line naming host, port, the settings and the pgpass file) when the
    server cannot be reached within CONNECT_TIMEOUT_SECONDS or refuses the login.
    """
    import psycopg2

    try:
        connection = psycopg2.connect(host=host, port=port, dbname=DATABASE, user=username, sslmode="require",
                                      connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name="asset_pricing check")
    except psycopg2.OperationalError as exc:
        reason = first_line(exc)
        if "password" in reason or "authentication" in reason:
            raise WrdsError(
                f"WRDS at {host}:{port} refused user {username!r} ({reason}); put the line "
                f"'{host}:{port}:{DATABASE}:{username}:<password>' in {pgpass_file()} (mode 600) and check the {SETTINGS_HINT}. "
                "Files already pulled are kept."
            ) from None
        raise WrdsError(
            f"Cannot reach WRDS at {host}:{port} ({reason}); check the network and the {SETTINGS_HINT} "
            f"(password in {pgpass_file()}). Files already pulled are kept."
        ) from None
    connection.close()


def default_connect(username: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> WrdsConnection:
    """A live ``wrds.Connection`` to ``host:port`` for ``username`` (password from the pgpass file), checked first."""
    check_server(username, host, port)
    import wrds

    return wrds.Connection(wrds_username=username, wrds_hostname=host, wrds_port=int(port))


# --------------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------------
OPTION_LIBRARIES: tuple[str, ...] = ("optionm_all", "optionm")  # today's layout first
TBILL_SOURCES: tuple[tuple[str, str], ...] = (("frb_all.rates_daily", "dtb3"), ("frb.rates_daily", "tb_m3"))
CATALOG_SQL = """SELECT n.nspname AS library, c.relname AS table_name, a.attname AS column_name,
       has_schema_privilege(n.oid, 'USAGE') AS schema_usage, has_table_privilege(c.oid, 'SELECT') AS can_select
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname IN ('optionm_all', 'optionm', 'frb_all', 'frb') AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND (c.relname ~ '^(opprcd|secprd)[0-9]{4}$' OR c.relname IN ('secprd', 'zerocd', 'idxdvd', 'rates_daily'))"""


@dataclass(frozen=True)
class WrdsLayout:
    """Which OptionMetrics and T-bill tables the account has (docs/methods.md §3.4), with their columns."""

    library: str  # optionm_all | optionm
    tbill_table: str  # frb_all.rates_daily | frb.rates_daily
    tbill_column: str  # dtb3 | tb_m3
    columns: dict[str, frozenset[str]] = field(repr=False)  # "library.table" -> its columns
    selectable: dict[str, bool] = field(repr=False)  # "library.table" -> SELECT granted

    def quote_table(self, year: int) -> str:
        return f"{self.library}.opprcd{int(year)}"

    def price_table(self, year: int) -> str:
        """``secprdYYYY`` when the library splits it by year (optionm_all), else ``secprd``."""
        split = f"{self.library}.secprd{int(year)}"
        return split if split in self.columns else f"{self.library}.secprd"

    def quote_years(self) -> list[int]:
        prefix = f"{self.library}.opprcd"
        return sorted(int(name[len(prefix):]) for name in self.columns if name.startswith(prefix))

    def describe(self) -> str:
        years = self.quote_years()
        span = f"{years[0]}-{years[-1]}" if years else "none"
        prices = "secprdYYYY" if any(name.startswith(f"{self.library}.secprd") and name[-4:].isdigit() for name in self.columns) else "secprd"
        return f"{self.library} (opprcdYYYY {span}, {prices}, zerocd, idxdvd) + {self.tbill_table}.{self.tbill_column}"

    def require(self, table: str, columns: tuple[str, ...] = (), *, hint: str = "") -> None:
        """Raise :class:`WrdsError` naming ``table`` when it is missing, not selectable or lacks ``columns``."""
        if table not in self.columns:
            raise WrdsError(f"WRDS table {table} does not exist for this account{hint}. Files already pulled are kept.")
        if not self.selectable.get(table, False):
            raise WrdsError(
                f"No SELECT permission on WRDS table {table} for WRDS_USERNAME; ask WRDS for access to it (OptionMetrics / "
                "Federal Reserve subscription). Files already pulled are kept."
            )
        missing = [column for column in columns if column not in self.columns[table]]
        if missing:
            raise WrdsError(f"WRDS table {table} has no column(s) {', '.join(missing)}. Files already pulled are kept.")


def layout_from_catalog(catalog: pd.DataFrame) -> WrdsLayout:
    """The layout the catalog rows (library, table_name, column_name, schema_usage, can_select) describe.

    The option library is the first of ``optionm_all``, ``optionm`` whose schema the user may use and
    that holds ``opprcdYYYY`` tables; the T-bill is the first of ``frb_all.rates_daily.dtb3``,
    ``frb.rates_daily.tb_m3`` present in a usable schema. Neither → :class:`WrdsError` naming what was looked for.
    """
    usable = catalog[catalog["schema_usage"].astype(bool)]
    columns: dict[str, frozenset[str]] = {}
    selectable: dict[str, bool] = {}
    for (library, table), rows in usable.groupby(["library", "table_name"], sort=False):
        columns[f"{library}.{table}"] = frozenset(rows["column_name"].astype(str))
        selectable[f"{library}.{table}"] = bool(rows["can_select"].astype(bool).iloc[0])
    library = next((lib for lib in OPTION_LIBRARIES if any(name.startswith(f"{lib}.opprcd") for name in columns)), None)
    if library is None:
        raise WrdsError(
            "No OptionMetrics tables on WRDS for this account: looked for optionm_all.opprcdYYYY (with secprdYYYY, zerocd, idxdvd) "
            "and optionm.opprcdYYYY (with secprd, zerocd, idxdvd); check the OptionMetrics subscription of WRDS_USERNAME "
            "or use OPTIONS_SOURCE=synthetic. Files already pulled are kept."
        )
    tbill = next(((table, column) for table, column in TBILL_SOURCES if column in columns.get(table, frozenset())), None)
    if tbill is None:
        raise WrdsError(
            "No 3-month T-bill on WRDS for this account: looked for frb_all.rates_daily.dtb3 and frb.rates_daily.tb_m3 "
            "(Federal Reserve Board, H.15); check the subscription of WRDS_USERNAME. Files already pulled are kept."
        )
    return WrdsLayout(library, tbill[0], tbill[1], columns, selectable)


def detect_layout(db: WrdsConnection) -> WrdsLayout:
    """Ask the server's catalog for the account's layout (one query) and log which is used."""
    catalog = db.raw_sql(CATALOG_SQL)
    layout = layout_from_catalog(catalog)
    log.info("WRDS layout: %s", layout.describe())
    return layout


# --------------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------------
_END = object()


class _ChunkSink:
    """The file object ``copy_expert`` writes to: one CSV line per call, handed on in chunks of ``chunk_rows`` lines."""

    def __init__(self, chunks: queue.Queue, chunk_rows: int, cancelled: threading.Event) -> None:
        self.chunks, self.chunk_rows, self.cancelled = chunks, chunk_rows, cancelled
        self.lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        self.lines.append(line)
        if len(self.lines) >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self._put(b"".join(self.lines))
            self.lines = []

    def _put(self, item: object) -> None:
        while True:
            if self.cancelled.is_set():
                raise RuntimeError("reader stopped")
            try:
                self.chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


def _copy_in_thread(dbapi_connection: Any, copy_sql: str, sink: _ChunkSink) -> None:
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.copy_expert(copy_sql, sink)
        sink.flush()
        sink._put(_END)
    except BaseException as exc:  # hand the error to the reading thread
        try:
            sink._put(exc)
        except RuntimeError:
            pass


def _arrow_types(kinds: dict[str, str]) -> dict[str, Any]:
    import pyarrow as pa

    mapping = {"float": pa.float64(), "date": pa.timestamp("ns"), "string": pa.string()}
    return {column: mapping[kind] for column, kind in kinds.items()}


def _frame_from_csv(data: bytes, kinds: dict[str, str]) -> pd.DataFrame:
    """CSV bytes of COPY (columns in the order of ``kinds``) → the frame ``raw_sql`` would give."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=list(kinds)),
        convert_options=pacsv.ConvertOptions(column_types=_arrow_types(kinds), strings_can_be_null=True, quoted_strings_can_be_null=True),
    )
    text = {pa.string(): pd.StringDtype("pyarrow")}  # numbers stay float64 with NaN for NULL: no mask to build and drop
    return table.to_pandas(types_mapper=text.get, split_blocks=True)


def stream_query(db: WrdsConnection, sql: str, params: dict[str, Any], kinds: dict[str, str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of ``sql`` (its SELECT list = ``kinds``: column → float | date | string) in chunks of ≤ ``chunk_rows``.

    A live ``wrds.Connection`` (it has an SQLAlchemy ``engine``) streams through COPY (:func:`stream_copy`);
    should the server refuse COPY before sending a row, through a server-side cursor
    (:func:`stream_cursor`, bounded memory too, several times slower). Other connection objects (the
    tests' fake) go through ``raw_sql(chunksize, return_iter=True)``. Errors propagate as raised (the
    caller turns them into one line).
    """
    engine = getattr(db, "engine", None)
    date_cols = [column for column, kind in kinds.items() if kind == "date"]
    if engine is None:
        yield from db.raw_sql(sql, params=params, date_cols=date_cols, chunksize=chunk_rows, return_iter=True)
        return
    chunks = stream_copy(engine, sql, params, kinds, chunk_rows)
    try:
        first = next(chunks, None)
    except Exception as exc:
        if "COPY" not in first_line(exc):  # only a refusal of COPY itself (other errors quote the statement later on)
            raise
        log.warning("WRDS refused COPY (%s); streaming through a server-side cursor instead", first_line(exc))
        yield from stream_cursor(engine, sql, params, date_cols, chunk_rows)
        return
    if first is not None:
        yield first
        yield from chunks


def stream_cursor(engine: Any, sql: str, params: dict[str, Any], date_cols: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """``sql`` through a server-side (named) cursor in a read-only transaction, ``chunk_rows`` rows at a time, in
    the dtypes ``wrds.Connection.raw_sql`` gives (wrds' connection is in autocommit, where named cursors cannot live)."""
    with engine.connect() as connection:
        streaming = connection.execution_options(isolation_level="REPEATABLE READ", stream_results=True, max_row_buffer=chunk_rows)
        with streaming.begin():
            yield from pd.read_sql_query(sql, streaming, params=params, parse_dates=date_cols, chunksize=chunk_rows, dtype_backend="numpy_nullable")


def stream_copy(engine: Any, sql: str, params: dict[str, Any], kinds: dict[str, str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """``COPY (sql) TO STDOUT`` on a connection of its own (same URL, sslmode, pgpass), received by a second thread
    and parsed here by pyarrow's CSV reader, ``chunk_rows`` lines at a time (see the module docstring)."""
    dbapi_connection = engine.raw_connection()
    try:
        with dbapi_connection.cursor() as cursor:
            select = cursor.mogrify(sql, params).decode()
        copy_sql = f"COPY ({select}) TO STDOUT WITH (FORMAT csv)"
        chunks: queue.Queue = queue.Queue(maxsize=2)
        cancelled = threading.Event()
        sink = _ChunkSink(chunks, chunk_rows, cancelled)
        receiver = threading.Thread(target=_copy_in_thread, args=(dbapi_connection, copy_sql, sink), name="wrds-copy", daemon=True)
        receiver.start()
        try:
            while True:
                item = chunks.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield _frame_from_csv(item, kinds)
        finally:
            cancelled.set()
            receiver.join(timeout=30)
    finally:
        try:
            dbapi_connection.close()
        except Exception:  # the connection may already be gone (server stopped)
            pass
