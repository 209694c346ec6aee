"""Filter stage of the option quotes: the raw panel of OPTIONS_SOURCE → the CJS filters → filtered quotes.

The raw panel (DATA_DIR/raw/options/<source>/quotes_YYYY.parquet and underlying.parquet) is written by
the pull (:mod:`asset_pricing.sources.option_pull`). ``filter_options`` applies the ten filters of
docs/methods.md §3.2 year by year in three passes so memory holds one year at a time while the Level-3 thresholds
use the whole sample. Each pass is one per-year function, mapped over the years by the engine of
OPTIONS_ENGINE (:mod:`asset_pricing.options.engine`: a loop in this process, or dask workers):

1. :func:`level_two_year`: read and check the raw year, the contract selection of OPTIONS_CONTRACTS
   (step 0, docs/methods.md §3.3) and filters 1–8, smile fits and residuals, call–put
   pairs → a compact :class:`LevelTwoYear` (raw row positions, residuals, pair deviations) in a work
   folder, and the counts, fits and per-bin residual moments, merged over all years;
2. :func:`parity_moments_after_smile`: filter 9 with the whole-sample moments → moments of the
   parity-rate deviation d of the pairs it leaves, merged over all years;
3. :func:`write_filtered_year`: filters 9 and 10 → the kept rows are read again from the raw year and
   written to DATA_DIR/interim/options/quotes_filtered_YYYY.parquet (the formation sample), with
   smile_fit_YYYY.parquet and exit_quotes_YYYY.parquet (date, optionid, mid of the quotes that left the
   formation sample only by maturity, moneyness or parity rate but are valid prices: they price the exit
   of a contract held from the day before; :func:`asset_pricing.options.filters.exit_price_rows`).

Filters 1–8 are per row or per day, so processing by calendar year is exact; so is processing a dense
year (more than :data:`PIECE_ROWS` raw rows, e.g. a recent SPX year with SPXW weeklies) in pieces of
whole days, which passes 1 and 3 do so that memory holds a piece (:func:`year_pieces`). Every raw year is read and
checked in pass 1, before any output is written: a missing or corrupt year stops the stage with an
error naming the year and leaves every existing output untouched. Then the stage writes
interim/options/underlying.parquet, interim/options/meta.json and OUTPUT_DIR/tables/option_filters.csv
(CJS Table B.1).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from asset_pricing.io import DataValidationError, atomic_path, read_parquet, write_csv, write_parquet, write_text
from asset_pricing.options import filters
from asset_pricing.options.engine import YearEngine, open_engine
from asset_pricing.options.schema import (
    CONTRACT_FLAG_COLUMNS, DATA_SOURCE_LABELS, EXIT_QUOTE_COLUMNS, FILTERED_QUOTE_COLUMNS, RAW_QUOTE_COLUMNS, RAW_QUOTE_DTYPES,
    attach_underlying, check_quote_year, coerce_quote_dtypes, day_numbers, validate_quotes, validate_underlying,
)
from asset_pricing.options.smile import SMILE_INPUT_COLUMNS
from asset_pricing.paths import ProjectPaths, option_years, raw_options_dir, raw_quote_path

log = logging.getLogger(__name__)

# Filtered quotes are written in row groups of this many rows so that a reader can fetch one day (the
# portfolio stage reads the first day of the next year) without decoding the whole year, and with
# dictionary encoding only for the columns with few distinct values (trying it on prices costs time).
FILTERED_ROW_GROUP_ROWS = 65_536
# A raw year larger than this many rows is read, filtered and written in pieces of whole days (a dense
# recent year holds ten million quotes and more; memory holds one piece).
PIECE_ROWS = 2_000_000
DICTIONARY_COLUMNS: list[str] = ["secid", "date", "exdate", "cp_flag", "strike_price", "close", "rf_annual", "r", "q", "strike", "tau_days", "T"]


# ---------------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------------
def contracts_setting(cfg: dict[str, Any]) -> str:
    """OPTIONS_CONTRACTS (docs/methods.md §3.3): ``standard`` unless the settings say ``all``."""
    return str(cfg.get("OPTIONS_CONTRACTS", "standard"))


def interim_options_dir(paths: ProjectPaths) -> Path:
    return paths.interim / "options"


def filter_options_file_dep(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Inputs of :func:`filter_options`: the raw quote files of the window and the raw underlying."""
    source = cfg["OPTIONS_SOURCE"]
    return [raw_quote_path(paths, source, year) for year in option_years(cfg)] + [raw_options_dir(paths, source) / "underlying.parquet"]


def filter_options_targets(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Outputs of :func:`filter_options`."""
    folder = interim_options_dir(paths)
    years = option_years(cfg)
    return (
        [folder / f"quotes_filtered_{year}.parquet" for year in years]
        + [folder / f"smile_fit_{year}.parquet" for year in years]
        + [folder / f"exit_quotes_{year}.parquet" for year in years]
        + [folder / "underlying.parquet", folder / "meta.json", paths.tables / "option_filters.csv"]
    )


# ---------------------------------------------------------------------------------------------------
# Filter: reading
# ---------------------------------------------------------------------------------------------------
def read_underlying(paths: ProjectPaths, cfg: dict[str, Any]) -> pd.DataFrame:
    """The checked raw underlying of OPTIONS_SOURCE (all its days; q = DIVIDEND_YIELD where missing)."""
    path = raw_options_dir(paths, cfg["OPTIONS_SOURCE"]) / "underlying.parquet"
    return validate_underlying(read_parquet(path), str(path), dividend_yield=float(cfg["DIVIDEND_YIELD"]))


def in_window(dates: pd.Series | pd.DatetimeIndex, cfg: dict[str, Any]) -> np.ndarray:
    """Mask of the dates inside OPTIONS_START … OPTIONS_END."""
    values = pd.DatetimeIndex(dates)
    return np.asarray((values >= cfg["OPTIONS_START"]) & (values <= cfg["OPTIONS_END"]))


def quote_file_columns(path: Path) -> list[str] | None:
    """The columns the filters read from a raw quote file: the schema's, and the contract flags it has.

    ``symbol`` is read only when ``root`` is absent (the root is derived from it). None (all columns)
    when the file cannot be opened, so the reader reports the error.
    """
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, ValueError, pa.ArrowException):
        return None
    flags = [c for c in CONTRACT_FLAG_COLUMNS if c in names and not (c == "symbol" and "root" in names)]
    return [c for c in RAW_QUOTE_COLUMNS if c in names] + flags if set(RAW_QUOTE_COLUMNS) <= names else None


def year_pieces(path: Path, piece_rows: int | None = None) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of a raw year that split it into runs of whole days of about ``piece_rows`` rows.

    A year is read and filtered piece by piece so memory holds a piece, not a dense year (filters 1–8,
    the smile fits and the call–put pairs are per day, so the result is the same). One piece, the whole
    file, when it holds at most ``piece_rows`` rows, is not in date order, or has row groups larger than
    a piece (reading a piece would decode the whole group). ``piece_rows`` defaults to :data:`PIECE_ROWS`.
    """
    piece_rows = PIECE_ROWS if piece_rows is None else piece_rows
    try:
        meta = pq.read_metadata(path)
        if meta.num_rows <= piece_rows or max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) > piece_rows:
            return [(0, meta.num_rows)]
        dates = pq.read_table(path, columns=["date"]).column("date")
    except (OSError, ValueError, pa.ArrowException):
        return [(0, -1)]  # the reader reports the error
    if not pa.types.is_timestamp(dates.type):
        return [(0, meta.num_rows)]
    days = day_numbers(dates.cast(pa.timestamp("ns")).to_numpy())
    if not (days[1:] >= days[:-1]).all():
        return [(0, meta.num_rows)]
    cuts = [0]
    for target in range(piece_rows, meta.num_rows, piece_rows):
        cut = int(np.searchsorted(days, days[target], side="left"))  # the start of the day holding row ``target``
        cut = cut if cut > cuts[-1] else int(np.searchsorted(days, days[target], side="right"))
        if cuts[-1] < cut < meta.num_rows:
            cuts.append(cut)
    return list(zip(cuts, [*cuts[1:], meta.num_rows]))


def _read_rows(path: Path, columns: list[str] | None, start: int, stop: int) -> pa.Table:
    """Rows start … stop−1 of a parquet file (only the row groups that hold them are decoded); stop −1: every row."""
    file = pq.ParquetFile(path)
    if start == 0 and stop in (-1, file.metadata.num_rows):
        return file.read(columns=columns)
    bounds = np.cumsum([0] + [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)])
    groups = [i for i in range(file.metadata.num_row_groups) if bounds[i] < stop and bounds[i + 1] > start]
    return file.read_row_groups(groups, columns=columns).slice(start - int(bounds[groups[0]]), stop - start)


class ReadAhead:
    """Raw row ranges read in a background thread before they are needed (the pandas engine: one process).

    Pass 3 uses it: decoding parquet releases the GIL, so the next piece or year is read while this one's
    kept rows are joined and written on the other core; one read runs at a time, so memory holds at most
    one piece or year more (pass 3 holds less than pass 1, so the stage's peak does not move). A read's
    error reaches the caller when it takes the table, as a read of its own would.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-read-ahead")
        self._pending: dict[tuple[str, tuple[str, ...] | None, tuple[int, int]], Future[pa.Table]] = {}

    @staticmethod
    def _key(path: Path, columns: list[str] | None, piece: tuple[int, int]) -> tuple[str, tuple[str, ...] | None, tuple[int, int]]:
        return str(path), tuple(columns) if columns is not None else None, tuple(piece)

    def start(self, path: Path, columns: list[str] | None, piece: tuple[int, int]) -> None:
        """Begin reading rows ``piece`` of ``path`` (no-op when already begun or when the file is missing)."""
        key = self._key(path, columns, piece)
        if key not in self._pending and path.is_file():
            self._pending[key] = self._pool.submit(_read_rows, path, columns, *piece)

    def take(self, path: Path, columns: list[str] | None, piece: tuple[int, int]) -> pa.Table:
        """The rows ``piece`` of ``path``: the read begun by :meth:`start`, else read now."""
        future = self._pending.pop(self._key(path, columns, piece), None)
        return future.result() if future is not None else _read_rows(path, columns, *piece)

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


def _read_piece(path: Path, columns: list[str] | None, piece: tuple[int, int], reader: ReadAhead | None) -> pa.Table:
    return reader.take(path, columns, piece) if reader is not None else _read_rows(path, columns, *piece)


def _start_next_read(paths: ProjectPaths, cfg: dict[str, Any], year: int, pieces: list[tuple[int, int]], index: int,
                     reader: ReadAhead | None, columns: list[str]) -> None:
    """Begin reading the ``columns`` of what follows piece ``index`` of ``year``: its next piece, else the next year's first piece."""
    if reader is None:
        return
    if index + 1 < len(pieces):
        reader.start(raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year), columns, pieces[index + 1])
        return
    later = [y for y in option_years(cfg) if y > year]
    if later:
        path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], later[0])
        if path.is_file():
            reader.start(path, columns, year_pieces(path)[0])


def read_year_quotes(
    paths: ProjectPaths, cfg: dict[str, Any], year: int, underlying: pd.DataFrame, piece: tuple[int, int] = (0, -1),
) -> pd.DataFrame:
    """One raw year (or its rows ``piece`` = [start, stop) of :func:`year_pieces`) checked, clipped to the window, joined with the underlying.

    Checks: the schema and dates inside the year. A missing or unreadable file raises
    :class:`DataValidationError` naming the year and the file. A raw file may hold days outside the
    window (a longer earlier pull); they are checked, then left out. The index of the result is each
    row's position in the raw file.
    """
    path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year)
    if not path.is_file():
        raise DataValidationError(f"option year {year}: {path} not found; run the option pull (OPTIONS_SOURCE={cfg['OPTIONS_SOURCE']}).")
    try:
        table = _read_rows(path, quote_file_columns(path), *piece)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataValidationError(f"option year {year}: {path}: cannot be read as parquet ({type(exc).__name__}: {exc}).") from exc
    # one block per column, arrow's buffers released as they are converted: no second copy of the year
    raw = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()  # the decompression buffers, kept by the allocator otherwise
    first = piece[0]
    if not raw.index.equals(pd.RangeIndex(first, first + len(raw))):
        raw = raw.reset_index(drop=True)
        raw.index = pd.RangeIndex(first, first + len(raw))
    quotes = validate_quotes(raw, underlying, str(path))
    check_quote_year(quotes, year, str(path))
    window = in_window(quotes["date"], cfg)
    return attach_underlying(quotes if window.all() else quotes[window], underlying)


def read_raw_rows(
    paths: ProjectPaths, cfg: dict[str, Any], year: int, rows: NDArray[np.int64], underlying: pd.DataFrame, piece: tuple[int, int] = (0, -1),
    reader: ReadAhead | None = None,
) -> pd.DataFrame:
    """The rows at positions ``rows`` of a raw year (checked by :func:`read_year_quotes`), in that order, with the underlying.

    Only the selected rows are converted to pandas; they are coerced to the schema's dtypes unless the
    file already has them. With ``piece`` = [start, stop) (:func:`year_pieces`), every row is inside it
    and only the row groups holding it are read.
    """
    path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year)
    try:
        table = _read_piece(path, list(RAW_QUOTE_COLUMNS), piece, reader).take(pa.array(rows - piece[0], type=pa.int64()))
    except (OSError, ValueError, pa.ArrowException) as exc:  # the file changed since pass 1
        raise DataValidationError(f"option year {year}: {path}: cannot be read as parquet ({type(exc).__name__}: {exc}).") from exc
    quotes = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    if any(quotes[column].dtype != dtype for column, dtype in RAW_QUOTE_DTYPES.items()):
        quotes = coerce_quote_dtypes(quotes, str(path))
    return attach_underlying(quotes, underlying)


def write_filtered_quotes(
    paths: ProjectPaths, cfg: dict[str, Any], year: int, rows: NDArray[np.int64], underlying: pd.DataFrame, label: str, target: Path,
    reader: ReadAhead | None = None,
) -> Path:
    """Write the raw rows ``rows`` of a year with the underlying to ``target`` (quotes_filtered_YYYY), piece by piece for a dense year.

    Pieces as in pass 1 (:func:`year_pieces`) when the rows are in file order, so memory holds one piece;
    the file holds the same rows, columns, dtypes and attrs as when written at once.
    """
    options = {"row_group_size": FILTERED_ROW_GROUP_ROWS, "use_dictionary": DICTIONARY_COLUMNS}
    pieces = year_pieces(raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year))
    raw_columns = list(RAW_QUOTE_COLUMNS)
    if len(pieces) == 1 or rows.size == 0 or not (rows[1:] > rows[:-1]).all():
        whole = [(0, pieces[-1][1])]
        _start_next_read(paths, cfg, year, whole, 0, reader, raw_columns)
        return write_parquet(_finalize(read_raw_rows(paths, cfg, year, rows, underlying, whole[0], reader), label), target, index=False, **options)
    with atomic_path(target) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            for index, (start, stop) in enumerate(pieces):
                _start_next_read(paths, cfg, year, pieces, index, reader, raw_columns)
                first, last = np.searchsorted(rows, [start, stop])
                if first == last:
                    continue
                final = _finalize(read_raw_rows(paths, cfg, year, rows[first:last], underlying, (start, stop), reader), label)
                table = pa.Table.from_pandas(final, preserve_index=False)
                if writer is None:  # the attrs as pandas stores them (DataFrame.to_parquet)
                    table = table.replace_schema_metadata({**table.schema.metadata, b"PANDAS_ATTRS": json.dumps(final.attrs).encode()})
                    writer = pq.ParquetWriter(tmp, table.schema, use_dictionary=DICTIONARY_COLUMNS)
                writer.write_table(table, row_group_size=FILTERED_ROW_GROUP_ROWS)
        finally:
            if writer is not None:
                writer.close()
    log.info("wrote %s (%d rows, %d pieces)", target, rows.size, len(pieces))
    return target


def _finalize(quotes: pd.DataFrame, label: str) -> pd.DataFrame:
    """Contract columns, sorted by (date, cp_flag, exdate, strike_price), fresh index, data_source attrs.

    Copies only when the columns or the index are not already those of the contract.
    """
    final = quotes
    if list(final.columns) != list(FILTERED_QUOTE_COLUMNS):
        final = final[list(FILTERED_QUOTE_COLUMNS)]
    if not final.index.equals(pd.RangeIndex(len(final))):
        final = final.reset_index(drop=True)
    final.attrs["data_source"] = label
    return final


# ---------------------------------------------------------------------------------------------------
# Filter: the three passes, one function per year each (mapped over the years by the engine)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LevelTwoYear:
    """One year after filters 1–8, kept compactly (no quote columns) for the two Level-3 passes.

    Attributes
    ----------
    year : calendar year.
    raw_rows : positions in the raw file of the rows kept by filters 1–8, in output order.
    smile_residual, moneyness_bin : filter-9 inputs per kept row (e = IV/fitted − 1; bin of width 0.05).
    pair_call, pair_put, parity_deviation : call–put pairs among the kept rows (positions into
        ``raw_rows``) and their d = r̂ − r (filter-10 input).
    """

    year: int
    raw_rows: NDArray[np.int64]
    smile_residual: NDArray[np.float64]
    moneyness_bin: NDArray[np.int8]
    pair_call: NDArray[np.int32]
    pair_put: NDArray[np.int32]
    parity_deviation: NDArray[np.float64]


LEVEL_TWO_ARRAYS: tuple[str, ...] = ("raw_rows", "smile_residual", "moneyness_bin", "pair_call", "pair_put", "parity_deviation")
EXIT_WORK_COLUMNS: tuple[str, ...] = (*EXIT_QUOTE_COLUMNS, "smile_residual", "moneyness_bin")


@dataclass(frozen=True)
class LevelTwoSummary:
    """What pass 1 returns for a year: counts of filters 1–8, the year's smile fits and residual moments.

    The year's :class:`LevelTwoYear` is in the work folder (:func:`write_level_two`), so memory holds
    one year at a time whatever the number of years, and dask workers need no state between passes.
    """

    year: int
    raw_count: int
    removed: tuple[int, ...]
    details: tuple[dict[str, int], ...]
    smile_fits: pd.DataFrame
    smile_moments: filters.Moments


@dataclass(frozen=True)
class FilteredYear:
    """What pass 3 did for one year: rows removed by filters 9 and 10, filter 10's breakdown, files written."""

    year: int
    removed_smile: int
    removed_parity: int
    parity_detail: dict[str, int]
    exit_quotes: int
    exit_smile_outliers: int
    written: tuple[Path, ...]


def level_two_file(work_dir: Path, year: int) -> Path:
    """Work file of a :class:`LevelTwoYear` and the year's exit-only quotes: plain ``.npy`` arrays one after the other."""
    return work_dir / f"level2_{year}.npy"


def write_level_two(state: LevelTwoYear, exit_quotes: pd.DataFrame, work_dir: Path) -> None:
    """Store a :class:`LevelTwoYear` and the exit-only quotes of pass 1 (:func:`filters.exit_price_rows`) in ``work_dir``.

    The arrays of :data:`LEVEL_TWO_ARRAYS`, then the columns of :data:`EXIT_WORK_COLUMNS`, written as they
    are in memory (no encoding, no checksum): the file lives seconds, between pass 1 and pass 3.
    """
    with atomic_path(level_two_file(work_dir, state.year)) as tmp, tmp.open("wb") as handle:
        for name in LEVEL_TWO_ARRAYS:
            np.save(handle, getattr(state, name))
        for column in EXIT_WORK_COLUMNS:
            np.save(handle, exit_quotes[column].to_numpy())


def _read_level_two_arrays(work_dir: Path, year: int, count: int) -> list[NDArray[Any]]:
    with level_two_file(work_dir, year).open("rb") as handle:
        return [np.load(handle) for _ in range(count)]


def read_level_two(work_dir: Path, year: int) -> LevelTwoYear:
    """The :class:`LevelTwoYear` of ``year`` stored by :func:`write_level_two`."""
    return LevelTwoYear(year, *_read_level_two_arrays(work_dir, year, len(LEVEL_TWO_ARRAYS)))


def read_exit_work_quotes(work_dir: Path, year: int) -> pd.DataFrame:
    """The exit-only quotes of ``year`` stored by :func:`write_level_two` (date, optionid, mid, smile_residual, moneyness_bin)."""
    arrays = _read_level_two_arrays(work_dir, year, len(LEVEL_TWO_ARRAYS) + len(EXIT_WORK_COLUMNS))[len(LEVEL_TWO_ARRAYS):]
    return pd.DataFrame(dict(zip(EXIT_WORK_COLUMNS, arrays)))


@dataclass(frozen=True)
class _LevelTwoPiece:
    """Pass 1 on one piece of a year: its :class:`LevelTwoYear` arrays (pair positions among the piece's kept rows), exits, counts, fits."""

    state: LevelTwoYear
    exit_quotes: pd.DataFrame
    raw_count: int
    removed: tuple[int, ...]
    details: tuple[dict[str, int], ...]
    smile_fits: pd.DataFrame


def _level_two_piece(quotes: pd.DataFrame, year: int, contracts: str) -> _LevelTwoPiece:
    """The contract selection, filters 1–8, smile fit and call–put pairs of checked quotes (whole days)."""
    masks = filters.level_1_2_masks(quotes, contracts)
    rows = np.flatnonzero(masks.kept)
    exit_rows = filters.exit_price_rows(quotes, masks)
    # one smile fit per slice on the formation sample; exit-only quotes are measured against it (filter 9's test in pass 3)
    fitted = np.r_[np.ones(rows.size, dtype=bool), np.zeros(exit_rows.size, dtype=bool)]
    residual, fits = filters.smile_residuals(filters.take_columns(quotes, np.r_[rows, exit_rows], list(SMILE_INPUT_COLUMNS)), fit_rows=fitted)
    residual, exit_residual = residual[: rows.size], residual[rows.size:]
    exit_quotes = filters.take_columns(quotes, exit_rows, list(EXIT_QUOTE_COLUMNS)).reset_index(drop=True).assign(
        smile_residual=exit_residual, moneyness_bin=filters.moneyness_bin(quotes["moneyness"].to_numpy()[exit_rows]).astype(np.int8),
    )
    kept_position = np.cumsum(masks.kept) - 1  # position among the kept rows
    state = LevelTwoYear(
        year=year,
        raw_rows=quotes.index.to_numpy(dtype=np.int64)[rows],
        smile_residual=residual,
        moneyness_bin=filters.moneyness_bin(quotes["moneyness"].to_numpy()[rows]).astype(np.int8),
        pair_call=kept_position[masks.pair_call].astype(np.int32),
        pair_put=kept_position[masks.pair_put].astype(np.int32),
        parity_deviation=masks.pair_rate - quotes["r"].to_numpy()[masks.pair_call],
    )
    return _LevelTwoPiece(state, exit_quotes, len(quotes), tuple(int(step.removed.sum()) for step in masks.steps),
                          tuple(step.detail for step in masks.steps), fits)


def _join_pieces(pieces: list[_LevelTwoPiece]) -> _LevelTwoPiece:
    """One year from its pieces in file order: arrays concatenated, pair positions shifted, counts and breakdowns summed."""
    if len(pieces) == 1:
        return pieces[0]
    offsets = np.cumsum([0] + [piece.state.raw_rows.size for piece in pieces[:-1]])

    def joined(name: str, shift: bool = False) -> NDArray[Any]:
        return np.concatenate([getattr(piece.state, name) + (offset if shift else 0) for piece, offset in zip(pieces, offsets)])

    state = LevelTwoYear(
        year=pieces[0].state.year, raw_rows=joined("raw_rows"), smile_residual=joined("smile_residual"), moneyness_bin=joined("moneyness_bin"),
        pair_call=joined("pair_call", shift=True).astype(np.int32), pair_put=joined("pair_put", shift=True).astype(np.int32),
        parity_deviation=joined("parity_deviation"),
    )
    details = tuple({name: sum(piece.details[step].get(name, 0) for piece in pieces) for name in pieces[0].details[step]}
                    for step in range(len(pieces[0].details)))
    return _LevelTwoPiece(
        state, pd.concat([piece.exit_quotes for piece in pieces], ignore_index=True), sum(piece.raw_count for piece in pieces),
        tuple(int(sum(values)) for values in zip(*(piece.removed for piece in pieces))), details,
        pd.concat([piece.smile_fits for piece in pieces], ignore_index=True),
    )


def level_two_year(year: int, *, paths: ProjectPaths, cfg: dict[str, Any], underlying: pd.DataFrame, work_dir: Path) -> LevelTwoSummary:
    """Pass 1 for one year: read and check the raw quotes, the contract selection and filters 1–8, smile fit, call–put pairs.

    Filters 1–8 run as masks (:func:`asset_pricing.options.filters.level_1_2_masks`, one copy of the
    quotes); the smile fit sees only the columns it reads of the kept rows; the pairs come from filter
    8. A dense year runs in pieces of whole days (:func:`year_pieces`; every step here is per day, so
    the result is that of the whole year). The compact result goes to ``work_dir``. Raises
    :class:`DataValidationError` naming the year and the file when the raw year is missing, corrupt or
    breaks the schema.
    """
    path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year)
    pieces = year_pieces(path) if path.is_file() else [(0, -1)]
    contracts = contracts_setting(cfg)
    done = []
    for piece in pieces:  # no read-ahead here: a year's filters hold several copies of its columns (memory, not time, decides)
        done.append(_level_two_piece(read_year_quotes(paths, cfg, year, underlying, piece), year, contracts))
    result = _join_pieces(done)
    write_level_two(result.state, result.exit_quotes, work_dir)
    return LevelTwoSummary(
        year=year,
        raw_count=result.raw_count,
        removed=result.removed,
        details=result.details,
        smile_fits=result.smile_fits,
        smile_moments=filters.Moments.of(result.state.smile_residual, result.state.moneyness_bin, filters.N_MONEYNESS_BINS),
    )


def _level_three_masks(state: LevelTwoYear, smile_moments: filters.Moments) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Rows kept by filter 9 (whole-sample bin moments) and the pairs whose two legs both survive it.

    After filter 2 a (date, exdate, strike) has at most one call and one put per contract class, so the pairs after filter 9
    are the level-2 pairs with both legs kept, in the order a fresh pairing would give.
    """
    kept_smile = ~filters.smile_outlier_flags(state.smile_residual, state.moneyness_bin, smile_moments)
    return kept_smile, kept_smile[state.pair_call] & kept_smile[state.pair_put]


def parity_moments_after_smile(year: int, *, work_dir: Path, smile_moments: filters.Moments) -> filters.Moments:
    """Pass 2 for one year: filter 9, then the moments of d = r̂ − r over the pairs it leaves."""
    state = read_level_two(work_dir, year)
    _, pair_alive = _level_three_masks(state, smile_moments)
    return filters.Moments.of(state.parity_deviation[pair_alive])


def write_filtered_year(
    summary: LevelTwoSummary, *, paths: ProjectPaths, cfg: dict[str, Any], underlying: pd.DataFrame, work_dir: Path,
    smile_moments: filters.Moments, parity_moments: filters.Moments, label: str, reader: ReadAhead | None = None,
) -> FilteredYear:
    """Pass 3 for one year: filters 9 and 10 with whole-sample moments; write quotes_filtered_YYYY and smile_fit_YYYY.

    The kept rows are read again from the raw file (all columns, only those rows; a dense year piece by
    piece, :func:`write_filtered_quotes`) and joined with the underlying, so the passes never hold more
    than one year (or piece) of quotes.
    """
    state = read_level_two(work_dir, summary.year)
    kept_smile, pair_alive = _level_three_masks(state, smile_moments)
    outlier = filters.parity_outlier_flags(state.parity_deviation[pair_alive], parity_moments)
    kept = kept_smile.copy()
    kept[state.pair_call[pair_alive][outlier]] = False
    kept[state.pair_put[pair_alive][outlier]] = False
    out_dir = interim_options_dir(paths)
    quotes_path = write_filtered_quotes(
        paths, cfg, state.year, state.raw_rows[kept], underlying, label, out_dir / f"quotes_filtered_{state.year}.parquet", reader,
    )
    fits = summary.smile_fits.copy()
    fits.attrs["data_source"] = label
    fits_path = write_parquet(fits, out_dir / f"smile_fit_{state.year}.parquet", index=False)
    exits = read_exit_work_quotes(work_dir, state.year)
    exit_outlier = filters.smile_outlier_flags(exits.pop("smile_residual").to_numpy(), exits.pop("moneyness_bin").to_numpy(), smile_moments)
    exits = exits[~exit_outlier].reset_index(drop=True)
    exits.attrs["data_source"] = label
    exits_path = write_parquet(exits, out_dir / f"exit_quotes_{state.year}.parquet", index=False, row_group_size=FILTERED_ROW_GROUP_ROWS)
    return FilteredYear(
        year=state.year,
        removed_smile=int((~kept_smile).sum()),
        removed_parity=int((kept_smile & ~kept).sum()),
        parity_detail={"pairs": int(outlier.sum())},
        exit_quotes=len(exits),
        exit_smile_outliers=int(exit_outlier.sum()),
        written=(quotes_path, fits_path, exits_path),
    )


# ---------------------------------------------------------------------------------------------------
# Filter: the stage
# ---------------------------------------------------------------------------------------------------
@contextmanager
def _read_ahead(engine: YearEngine) -> Iterator[ReadAhead | None]:
    """A :class:`ReadAhead` for the pandas engine (its years run one after the other in this process); none for dask."""
    if engine.name != "pandas":
        yield None
        return
    reader = ReadAhead()
    try:
        yield reader
    finally:
        reader.close()


def filter_options(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Apply the CJS filters to the raw option panel of OPTIONS_SOURCE (module docstring: the three passes).

    The passes run on the engine of OPTIONS_ENGINE (pandas: this process; dask: a cluster, see
    :mod:`asset_pricing.options.engine`); both give identical files. The per-year state between passes
    lives in a temporary work folder inside DATA_DIR/interim/options (removed at the end).
    """
    source = cfg["OPTIONS_SOURCE"]
    label = DATA_SOURCE_LABELS[source]
    years = option_years(cfg)
    underlying = read_underlying(paths, cfg)
    out_dir = interim_options_dir(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_engine(cfg) as engine, tempfile.TemporaryDirectory(prefix=".filter_work_", dir=out_dir) as work_name, _read_ahead(engine) as reader:
        work_dir = Path(work_name)
        shared = engine.share(underlying=underlying)
        summaries: list[LevelTwoSummary] = engine.gather(engine.map(
            level_two_year, years, desc="option filters 1/3: levels 1-2, smile fits", paths=paths, cfg=cfg, work_dir=work_dir, **shared,
        ))
        smile_moments = reduce(filters.Moments.merge, (s.smile_moments for s in summaries), filters.Moments.empty(filters.N_MONEYNESS_BINS))
        parity_parts = engine.gather(engine.map(
            parity_moments_after_smile, years, desc="option filters 2/3: smile outliers", work_dir=work_dir, smile_moments=smile_moments,
        ))
        parity_moments = reduce(filters.Moments.merge, parity_parts, filters.Moments.empty())
        outputs: list[FilteredYear] = engine.gather(engine.map(
            write_filtered_year, summaries, desc="option filters 3/3: parity outliers, write", paths=paths, cfg=cfg, work_dir=work_dir,
            smile_moments=smile_moments, parity_moments=parity_moments, label=label, reader=reader, **shared,
        ))
    written = [path for output in outputs for path in output.written]

    raw_count = sum(s.raw_count for s in summaries)
    removed = [sum(s.removed[i] for s in summaries) for i in range(9)]  # contract selection, filters 1-8
    removed += [sum(o.removed_smile for o in outputs), sum(o.removed_parity for o in outputs)]
    details: list[Counter] = [Counter() for _ in filters.TABLE_STEPS]
    for summary in summaries:
        for step_detail, detail in zip(details, summary.details):
            step_detail.update(detail)
    for output in outputs:
        details[-1].update(output.parity_detail)

    window_underlying = underlying[in_window(underlying.index, cfg)]
    window_underlying.attrs["data_source"] = label
    written.append(write_parquet(window_underlying, out_dir / "underlying.parquet"))
    meta = {
        "source": source,
        "label": label,
        "contracts": contracts_setting(cfg),
        "start": f"{pd.Timestamp(cfg['OPTIONS_START']):%Y-%m-%d}",
        "end": f"{pd.Timestamp(cfg['OPTIONS_END']):%Y-%m-%d}",
        "years": years,
        "smile_residual_bins": {"width": filters.MONEYNESS_BIN_WIDTH},
        "parity_deviation": {"mean": float(parity_moments.mean[0]), "sd": float(parity_moments.sd[0]), "pairs": int(parity_moments.count[0])},
        "exit_quotes": {"kept": sum(o.exit_quotes for o in outputs), "smile_outliers": sum(o.exit_smile_outliers for o in outputs)},
    }
    written.append(write_text(json.dumps(meta, indent=2), out_dir / "meta.json"))
    table = filters.filter_table(raw_count, removed, [dict(d) for d in details]).assign(data_source=label)
    written.append(write_csv(table, paths.tables / "option_filters.csv", index=False))
    log.info("option filters (%s, engine %s):\n%s", label, cfg.get("OPTIONS_ENGINE", "pandas"), table.drop(columns=["detail", "data_source"]).to_string(index=False))
    log.info("exit-only quotes (valid prices outside the formation sample): %d kept, %d smile outliers dropped",
             meta["exit_quotes"]["kept"], meta["exit_quotes"]["smile_outliers"])
    return written
