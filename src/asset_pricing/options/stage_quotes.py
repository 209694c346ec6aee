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

Filters 1–8 are per row or per day, so processing by calendar year is exact. Every raw year is read and
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
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from asset_pricing.io import DataValidationError, read_parquet, write_csv, write_parquet, write_text
from asset_pricing.options import filters
from asset_pricing.options.engine import open_engine
from asset_pricing.options.schema import (
    CONTRACT_FLAG_COLUMNS, DATA_SOURCE_LABELS, EXIT_QUOTE_COLUMNS, FILTERED_QUOTE_COLUMNS, RAW_QUOTE_COLUMNS, RAW_QUOTE_DTYPES,
    attach_underlying, check_quote_year, coerce_quote_dtypes, validate_quotes, validate_underlying,
)
from asset_pricing.options.smile import SMILE_INPUT_COLUMNS
from asset_pricing.paths import ProjectPaths, option_years, raw_options_dir, raw_quote_path

log = logging.getLogger(__name__)

# Filtered quotes are written in row groups of this many rows so that a reader can fetch one day (the
# portfolio stage reads the first day of the next year) without decoding the whole year, and with
# dictionary encoding only for the columns with few distinct values (trying it on prices costs time).
FILTERED_ROW_GROUP_ROWS = 65_536
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


def read_year_quotes(paths: ProjectPaths, cfg: dict[str, Any], year: int, underlying: pd.DataFrame) -> pd.DataFrame:
    """One raw year checked (schema, dates inside the year), clipped to the window, joined with the underlying.

    A missing or unreadable file raises :class:`DataValidationError` naming the year and the file. A raw
    file may hold days outside the window (a longer earlier pull); they are checked, then left out. The
    index of the result is each row's position in the raw file.
    """
    path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year)
    if not path.is_file():
        raise DataValidationError(f"option year {year}: {path} not found; run the option pull (OPTIONS_SOURCE={cfg['OPTIONS_SOURCE']}).")
    try:
        raw = read_parquet(path, columns=quote_file_columns(path))
    except DataValidationError as exc:
        raise DataValidationError(f"option year {year}: {exc}") from exc
    quotes = validate_quotes(raw.reset_index(drop=True), underlying, str(path))
    check_quote_year(quotes, year, str(path))
    return attach_underlying(quotes[in_window(quotes["date"], cfg)], underlying)


def read_raw_rows(paths: ProjectPaths, cfg: dict[str, Any], year: int, rows: NDArray[np.int64], underlying: pd.DataFrame) -> pd.DataFrame:
    """The rows at positions ``rows`` of a raw year (checked by :func:`read_year_quotes`), in that order, with the underlying.

    Only the selected rows are converted to pandas; they are coerced to the schema's dtypes unless the
    file already has them.
    """
    path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year)
    try:
        table = pq.read_table(path, columns=list(RAW_QUOTE_COLUMNS)).take(pa.array(rows, type=pa.int64()))
    except (OSError, ValueError, pa.ArrowException) as exc:  # the file changed since pass 1
        raise DataValidationError(f"option year {year}: {path}: cannot be read as parquet ({type(exc).__name__}: {exc}).") from exc
    quotes = table.to_pandas()
    if any(quotes[column].dtype != dtype for column, dtype in RAW_QUOTE_DTYPES.items()):
        quotes = coerce_quote_dtypes(quotes, str(path))
    return attach_underlying(quotes, underlying)


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


def level_two_files(work_dir: Path, year: int) -> tuple[Path, Path]:
    """Work files of a :class:`LevelTwoYear`: per kept row, and per call–put pair."""
    return work_dir / f"level2_rows_{year}.parquet", work_dir / f"level2_pairs_{year}.parquet"


def exit_work_file(work_dir: Path, year: int) -> Path:
    """Work file of pass 1 holding the year's exit-only quotes (:func:`filters.exit_price_rows`) until pass 3 writes them."""
    return work_dir / f"level2_exit_{year}.parquet"


def write_level_two(state: LevelTwoYear, work_dir: Path) -> None:
    """Store a :class:`LevelTwoYear` in ``work_dir`` (two small parquet files, uncompressed: they live seconds)."""
    rows_file, pairs_file = level_two_files(work_dir, state.year)
    plain = {"index": False, "compression": None, "use_dictionary": False}
    write_parquet(pd.DataFrame({"raw_row": state.raw_rows, "smile_residual": state.smile_residual, "moneyness_bin": state.moneyness_bin}),
                  rows_file, **plain)
    write_parquet(pd.DataFrame({"pair_call": state.pair_call, "pair_put": state.pair_put, "parity_deviation": state.parity_deviation}),
                  pairs_file, **plain)


def read_level_two(work_dir: Path, year: int) -> LevelTwoYear:
    """The :class:`LevelTwoYear` of ``year`` stored by :func:`write_level_two`."""
    rows_file, pairs_file = level_two_files(work_dir, year)
    rows, pairs = pd.read_parquet(rows_file), pd.read_parquet(pairs_file)
    return LevelTwoYear(
        year, rows["raw_row"].to_numpy(), rows["smile_residual"].to_numpy(), rows["moneyness_bin"].to_numpy(),
        pairs["pair_call"].to_numpy(), pairs["pair_put"].to_numpy(), pairs["parity_deviation"].to_numpy(),
    )


def level_two_year(year: int, *, paths: ProjectPaths, cfg: dict[str, Any], underlying: pd.DataFrame, work_dir: Path) -> LevelTwoSummary:
    """Pass 1 for one year: read and check the raw quotes, the contract selection and filters 1–8, smile fit, call–put pairs.

    Filters 1–8 run as masks (:func:`asset_pricing.options.filters.level_1_2_masks`, one copy of the
    quotes); the smile fit sees only the columns it reads of the kept rows; the pairs come from filter
    8. The compact result goes to ``work_dir``. Raises :class:`DataValidationError` naming the year and
    the file when the raw year is missing, corrupt or breaks the schema.
    """
    quotes = read_year_quotes(paths, cfg, year, underlying)
    masks = filters.level_1_2_masks(quotes, contracts_setting(cfg))
    rows = np.flatnonzero(masks.kept)
    exit_rows = filters.exit_price_rows(quotes, masks)
    # one smile fit per slice on the formation sample; exit-only quotes are measured against it (filter 9's test in pass 3)
    fitted = np.r_[np.ones(rows.size, dtype=bool), np.zeros(exit_rows.size, dtype=bool)]
    residual, fits = filters.smile_residuals(filters.take_columns(quotes, np.r_[rows, exit_rows], list(SMILE_INPUT_COLUMNS)), fit_rows=fitted)
    residual, exit_residual = residual[: rows.size], residual[rows.size:]
    exit_quotes = filters.take_columns(quotes, exit_rows, list(EXIT_QUOTE_COLUMNS)).reset_index(drop=True).assign(
        smile_residual=exit_residual, moneyness_bin=filters.moneyness_bin(quotes["moneyness"].to_numpy()[exit_rows]).astype(np.int8),
    )
    write_parquet(exit_quotes, exit_work_file(work_dir, year), index=False, compression=None)
    bins = filters.moneyness_bin(quotes["moneyness"].to_numpy()[rows])
    kept_position = np.cumsum(masks.kept) - 1  # position among the kept rows
    write_level_two(LevelTwoYear(
        year=year,
        raw_rows=quotes.index.to_numpy(dtype=np.int64)[rows],
        smile_residual=residual,
        moneyness_bin=bins.astype(np.int8),
        pair_call=kept_position[masks.pair_call].astype(np.int32),
        pair_put=kept_position[masks.pair_put].astype(np.int32),
        parity_deviation=masks.pair_rate - quotes["r"].to_numpy()[masks.pair_call],
    ), work_dir)
    return LevelTwoSummary(
        year=year,
        raw_count=len(quotes),
        removed=tuple(int(step.removed.sum()) for step in masks.steps),
        details=tuple(step.detail for step in masks.steps),
        smile_fits=fits,
        smile_moments=filters.Moments.of(residual, bins, filters.N_MONEYNESS_BINS),
    )


def _level_three_masks(state: LevelTwoYear, smile_moments: filters.Moments) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Rows kept by filter 9 (whole-sample bin moments) and the pairs whose two legs both survive it.

    After filter 2 a (date, exdate, strike) has at most one call and one put, so the pairs after filter 9
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
    smile_moments: filters.Moments, parity_moments: filters.Moments, label: str,
) -> FilteredYear:
    """Pass 3 for one year: filters 9 and 10 with whole-sample moments; write quotes_filtered_YYYY and smile_fit_YYYY.

    The kept rows are read again from the raw file (all columns, only those rows) and joined with the
    underlying, so the passes never hold more than one year of quotes.
    """
    state = read_level_two(work_dir, summary.year)
    kept_smile, pair_alive = _level_three_masks(state, smile_moments)
    outlier = filters.parity_outlier_flags(state.parity_deviation[pair_alive], parity_moments)
    kept = kept_smile.copy()
    kept[state.pair_call[pair_alive][outlier]] = False
    kept[state.pair_put[pair_alive][outlier]] = False
    quotes = read_raw_rows(paths, cfg, state.year, state.raw_rows[kept], underlying)
    out_dir = interim_options_dir(paths)
    quotes_path = write_parquet(
        _finalize(quotes, label), out_dir / f"quotes_filtered_{state.year}.parquet", index=False,
        row_group_size=FILTERED_ROW_GROUP_ROWS, use_dictionary=DICTIONARY_COLUMNS,
    )
    fits = summary.smile_fits.copy()
    fits.attrs["data_source"] = label
    fits_path = write_parquet(fits, out_dir / f"smile_fit_{state.year}.parquet", index=False)
    exits = pd.read_parquet(exit_work_file(work_dir, state.year))
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
    with open_engine(cfg) as engine, tempfile.TemporaryDirectory(prefix=".filter_work_", dir=out_dir) as work_name:
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
            smile_moments=smile_moments, parity_moments=parity_moments, label=label, **shared,
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
