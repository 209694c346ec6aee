"""Option-portfolio stage: filtered quotes → CJS daily/monthly and HKM monthly returns (docs/methods.md §4, §5).

Reads (DATA_DIR/interim/options/): ``meta.json`` (source label, years), ``underlying.parquet`` (trading
days, close, rf_annual, r, q), ``quotes_filtered_YYYY.parquet`` (formation sample),
``smile_fit_YYYY.parquet`` and ``exit_quotes_YYYY.parquet`` (valid prices outside the formation sample,
for exits) per year.
Writes (DATA_DIR/processed/options/): ``cjs_daily_returns.parquet``, ``cjs_portfolio_returns.parquet``,
``hkm_portfolio_returns.parquet``, each with ``df.attrs["data_source"]`` = the label of meta.json and
``df.attrs["option_months"]`` = the month cut (setting OPTION_MONTHS).
Settings read: MAX_FILL_SHARE, OPTION_MONTHS, ALLOW_PARTIAL_MONTHS (and OPTIONS_START / OPTIONS_END only to list the
input files for the task graph).

Each year is one task (:func:`portfolio_year`) mapped over the years by the engine of OPTIONS_ENGINE
(:mod:`asset_pricing.options.engine`: two threads of this process, or dask workers), so memory holds two
years of quotes at most: the portfolios formed on the last trading day of year Y are held to the first trading day of
Y+1, whose quotes and smile fits are read from the next year's files (only that day's row groups), so no
day is lost at a year boundary. Only the columns the construction uses are read (S_t, r, q and T of a
quote come from the underlying's day and tau_days, :data:`~asset_pricing.options.portfolios.QUOTE_COLUMNS`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from asset_pricing import io
from asset_pricing.options import portfolios
from asset_pricing.options import published as published_series
from asset_pricing.options.engine import YearEngine, available_cores, open_engine
from asset_pricing.paths import ProjectPaths, option_years, raw_published_path

log = logging.getLogger(__name__)

DAILY_FILE = "cjs_daily_returns.parquet"
CJS_MONTHLY_FILE = "cjs_portfolio_returns.parquet"
HKM_MONTHLY_FILE = "hkm_portfolio_returns.parquet"
SETTINGS_READ = ("MAX_FILL_SHARE", "OPTION_MONTHS", "ALLOW_PARTIAL_MONTHS")  # for doit's config_changed up-to-date check
COMPARISON_FILE = "option_published_comparison.csv"
MONTH_CUT_FILE = "option_month_cut.csv"
REAL_QUOTE_SOURCES = ("wrds", "files")
YEAR_THREADS = 2  # years built at once by the pandas engine (threads of this process; memory holds that many years)


def options_interim(paths: ProjectPaths) -> Path:
    """DATA_DIR/interim/options: the quote stage's outputs (contract in notes/options_contract.md)."""
    return paths.interim / "options"


def quotes_file(paths: ProjectPaths, year: int) -> Path:
    """Filtered quotes of one calendar year."""
    return options_interim(paths) / f"quotes_filtered_{year}.parquet"


def smile_file(paths: ProjectPaths, year: int) -> Path:
    """Smile fits (filter 9) of one calendar year."""
    return options_interim(paths) / f"smile_fit_{year}.parquet"


def exit_file(paths: ProjectPaths, year: int) -> Path:
    """Exit-only quotes (date, optionid, mid) of one calendar year: valid prices outside the formation sample."""
    return options_interim(paths) / f"exit_quotes_{year}.parquet"


def option_portfolio_targets(paths: ProjectPaths) -> list[Path]:
    """Files written by :func:`build_option_portfolios` (doit ``targets``)."""
    out = paths.processed / "options"
    return [out / DAILY_FILE, out / CJS_MONTHLY_FILE, out / HKM_MONTHLY_FILE]


def option_portfolio_inputs(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Files read by :func:`build_option_portfolios` (doit ``file_dep``), for the years OPTIONS_START..OPTIONS_END."""
    years = option_years(cfg)
    interim = options_interim(paths)
    return [interim / "meta.json", interim / "underlying.parquet"] + [
        path for year in years for path in (quotes_file(paths, year), smile_file(paths, year), exit_file(paths, year))
    ]


def read_options_meta(paths: ProjectPaths) -> dict[str, Any]:
    """``meta.json`` of the quote stage (source, label, start, end, years); errors name the file."""
    meta_file = options_interim(paths) / "meta.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file}: file not found (run the option-quote stage first, e.g. `doit`).")
    meta = json.loads(meta_file.read_text())
    missing = [key for key in ("label", "start", "end", "years") if key not in meta]
    if missing:
        raise io.DataValidationError(f"{meta_file}: missing key(s) {', '.join(missing)}.")
    return meta


def _read_underlying(paths: ProjectPaths, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    source = options_interim(paths) / "underlying.parquet"
    underlying = io.read_parquet(source)
    io.require_columns(underlying, portfolios.UNDERLYING_COLUMNS, str(source))
    io.validate_date_index(underlying.index, str(source))
    window = underlying.loc[(underlying.index >= start) & (underlying.index <= end)]
    if window.empty:
        raise io.DataValidationError(f"{source}: no trading day between {start:%Y-%m-%d} and {end:%Y-%m-%d} (meta.json window).")
    return window


def read_columns(path: Path, columns: tuple[str, ...], day: pd.Timestamp | None = None) -> pd.DataFrame:
    """The ``columns`` of a parquet file (only the rows dated ``day`` when given); errors name the file and column.

    With ``day``, row groups whose date statistics exclude it are skipped (the quote stage writes row
    groups of 65,536 rows, sorted by date).
    """
    return to_frame([read_table(path, columns, day)])


def to_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """The rows of ``tables`` (same columns) one after the other, as one frame: one copy into pandas, one block per column."""
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    return table.to_pandas(split_blocks=True, self_destruct=True)  # one block per column: no consolidated copy


def read_table(path: Path, columns: tuple[str, ...], day: pd.Timestamp | None = None) -> pa.Table:
    """:func:`read_columns` as an arrow table."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (run the stage that builds it, e.g. `doit`).")
    try:
        file = pq.ParquetFile(path)
        names = file.schema_arrow.names
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise io.DataValidationError(f"{path}: cannot be read as parquet ({type(exc).__name__}: {exc}).") from exc
    if not set(columns) <= set(names):
        io.require_columns(pd.DataFrame(columns=names), columns, str(path))
    if day is None:
        return file.read(columns=list(columns))  # the whole file: no dataset layer (its discovery costs more than a small read)
    day = pd.Timestamp(day)
    date_column = names.index("date")
    groups = []
    for group in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(group).column(date_column).statistics
        if stats is None or not stats.has_min_max or pd.Timestamp(stats.min) <= day <= pd.Timestamp(stats.max):
            groups.append(group)
    table = file.read_row_groups(groups, columns=list(dict.fromkeys([*columns, "date"])))
    table = table.filter(pc.equal(table["date"], pa.scalar(day, type=table.schema.field("date").type)))
    return table.select(list(columns))


def read_year(paths: ProjectPaths, year: int, day: pd.Timestamp | None = None, following: tuple[int, pd.Timestamp] | None = None,
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Quotes (only the columns the construction uses), smile fits and exit-only quotes of one year, or of its one ``day``.

    ``following`` = (next year, its first trading day) appends that day's rows of the next year's files
    (concatenated as arrow tables, so each frame is copied into pandas once).
    """
    parts = [(year, day)] + ([following] if following is not None else [])
    quotes, fits, exits = (
        to_frame([read_table(file(paths, part_year), columns, part_day) for part_year, part_day in parts])
        for file, columns in ((quotes_file, portfolios.QUOTE_COLUMNS), (smile_file, portfolios.SMILE_COLUMNS),
                              (exit_file, portfolios.EXIT_QUOTE_COLUMNS))
    )
    return quotes, fits, exits


def portfolio_year(
    year_and_next: tuple[int, int | None], *, paths: ProjectPaths, underlying: pd.DataFrame, max_fill_share: float
) -> pd.DataFrame:
    """CJS daily returns of the portfolios formed on the trading days of one year (an engine task).

    ``year_and_next`` is (Y, the next year with files or None). The quotes and smile fits of the first
    trading day after Y are read from the next year's files so that Y's last formation day has its t+1.
    Errors name the year's file.
    """
    year, following = year_and_next
    trading_days = portfolios.trading_calendar(underlying).index
    formation_dates = trading_days[trading_days.year == year]
    if not len(formation_dates):
        log.warning("no trading day of the underlying in %d: no portfolios formed", year)
        return pd.DataFrame({column: [] for column in portfolios.DAILY_COLUMNS})
    next_day = trading_days[trading_days > formation_dates[-1]][:1]
    quotes, fits, exits = read_year(paths, year, following=(following, next_day[0]) if following is not None and len(next_day) else None)
    try:
        return portfolios.daily_portfolio_returns(quotes, underlying, fits, formation_dates, max_fill_share, exits)
    except io.DataValidationError as exc:
        raise io.DataValidationError(f"{quotes_file(paths, year)}: {exc}") from exc


def daily_returns_by_year(
    paths: ProjectPaths, underlying: pd.DataFrame, years: list[int], max_fill_share: float, engine: YearEngine | None = None
) -> pd.DataFrame:
    """CJS daily returns of all years (one :func:`portfolio_year` task per year), sorted by portfolio then date.

    ``engine`` maps the years (default: the pandas engine, a loop in this process).
    """
    if engine is None:
        with open_engine({"OPTIONS_ENGINE": "pandas"}) as local:
            return daily_returns_by_year(paths, underlying, years, max_fill_share, local)
    tasks = list(zip(years, [*years[1:], None]))
    shared = engine.share(underlying=underlying)
    pieces = engine.gather(engine.map(portfolio_year, tasks, desc="CJS portfolios", threads=min(YEAR_THREADS, available_cores()),
                                      paths=paths, max_fill_share=max_fill_share, **shared))
    return portfolios.sort_by_portfolio(pd.concat([piece for piece in pieces if len(piece)], ignore_index=True))


def release_freed_memory() -> None:
    """Hand the memory freed so far in this process back to the OS: pyarrow's pool and, under glibc, ``malloc_trim``.

    A stage that ran before in the same process (the filter stage in ``doit`` or the benchmark) leaves
    freed blocks with the allocators; the two years this stage builds at once would otherwise add their
    arrays on top of them and lift the process's peak memory (by about 100 MB at 20M quotes). No value changes.
    """
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def build_option_portfolios(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Stage: filtered quotes → CJS daily, CJS monthly (54) and HKM monthly (18) returns.

    Settings: MAX_FILL_SHARE (a portfolio-day whose filled weight exceeds it is NaN), OPTION_MONTHS (the
    days a month compounds: first to last trading day, or calendar; docs/methods.md §4.5),
    ALLOW_PARTIAL_MONTHS (compound a month's valid days despite a NaN day), OPTIONS_ENGINE and
    DASK_SCHEDULER_ADDRESS (where the per-year tasks run; same results).
    """
    meta = read_options_meta(paths)
    label = meta["label"]
    years = sorted(int(year) for year in meta["years"])
    release_freed_memory()
    if not years:
        raise io.DataValidationError(f"{options_interim(paths) / 'meta.json'}: 'years' is empty.")
    underlying = portfolios.trading_calendar(_read_underlying(paths, pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])))

    with open_engine(cfg) as engine:
        daily = daily_returns_by_year(paths, underlying, years, cfg["MAX_FILL_SHARE"], engine)
    cjs_monthly = portfolios.compound_monthly(daily, cfg["ALLOW_PARTIAL_MONTHS"], months=cfg["OPTION_MONTHS"])
    hkm_monthly = portfolios.hkm_portfolio_returns(cjs_monthly)
    log.info(
        "CJS daily: %d portfolio-days, %.1f%% NaN, mean fill share %.3f; monthly (OPTION_MONTHS=%s): %.1f%% NaN (ALLOW_PARTIAL_MONTHS=%s)",
        len(daily), 100 * daily["return"].isna().mean(), np.nanmean(daily["fill_share"]),
        cfg["OPTION_MONTHS"], 100 * cjs_monthly["return"].isna().mean(), cfg["ALLOW_PARTIAL_MONTHS"],
    )
    outputs = [daily, cjs_monthly, hkm_monthly]
    for frame in outputs:
        frame.attrs["data_source"] = label
        frame.attrs["option_months"] = cfg["OPTION_MONTHS"]
    return [io.write_parquet(frame, target, index=False) for frame, target in zip(outputs, option_portfolio_targets(paths))]


# --------------------------------------------------------------------------------------------------
# This build beside the published HKM series
# --------------------------------------------------------------------------------------------------
def published_comparison_target(paths: ProjectPaths) -> Path:
    """OUTPUT_DIR/tables/option_published_comparison.csv (one row per HKM portfolio)."""
    return paths.tables / COMPARISON_FILE


def month_cut_target(paths: ProjectPaths) -> Path:
    """OUTPUT_DIR/tables/option_month_cut.csv: which days the published and this build's months compound."""
    return paths.tables / MONTH_CUT_FILE


def published_comparison_inputs(paths: ProjectPaths) -> list[Path]:
    """Files read by :func:`compare_with_published_series` (doit ``file_dep``)."""
    return [options_interim(paths) / "meta.json", options_interim(paths) / "underlying.parquet", option_portfolio_targets(paths)[2],
            raw_published_path(paths)]


def compare_with_published_series(paths: ProjectPaths, cfg: dict[str, Any] | None = None) -> list[Path]:
    """Stage: this build's 18 HKM series beside He, Kelly and Manela's published ones (docs/methods.md §4.5, §6.3).

    Reads the HKM monthly returns, meta.json (source and label), the underlying's daily closes and the
    published file pulled into data/raw/published/; writes :func:`published_comparison_target` (the
    facts side by side; correlation and tracking error only when the quotes are real, OPTIONS_SOURCE wrds
    or files) and :func:`month_cut_target` (each series' loadings on the index's first-to-last and
    first-day returns of the month, published and build, on the months both cover).
    """
    meta = read_options_meta(paths)
    build = io.read_parquet(option_portfolio_targets(paths)[2])
    published = io.read_parquet(raw_published_path(paths))
    table = published_series.compare_with_published(
        build, published, real_quotes=meta.get("source") in REAL_QUOTE_SOURCES, data_source=meta["label"]
    )
    compared = table[table["months"] >= 3]
    if compared.empty:
        log.warning("no month of this build (%s … %s) overlaps the published HKM series (1986-04 … 2012-01): nothing to compare",
                    meta["start"], meta["end"])
    else:
        log.info("this build beside the published HKM series (%s … %s, %d months): max |beta gap| %.3f, max |sd ratio − 1| %.3f",
                 compared["first_month"].iloc[0], compared["last_month"].iloc[0], int(compared["months"].iloc[0]),
                 (compared["beta_build"] - compared["beta_published"]).abs().max(), (compared["sd_ratio"] - 1).abs().max())
    underlying = io.read_parquet(options_interim(paths) / "underlying.parquet")
    io.require_columns(underlying, ["close"], str(options_interim(paths) / "underlying.parquet"))
    cut = month_cut_table(build, published, underlying["close"], data_source=meta["label"])
    return [io.write_csv(table, published_comparison_target(paths), index=False), io.write_csv(cut, month_cut_target(paths), index=False)]


def month_cut_table(build: pd.DataFrame, published: pd.DataFrame, close: pd.Series, *, data_source: str) -> pd.DataFrame:
    """:func:`~asset_pricing.options.published.month_cut_loadings` of the published and of this build's 18
    series, on the months both cover (rows ``series`` = published, then build)."""
    ids = published_series.hkm_ids()
    wide = build.pivot_table(index="date", columns="portfolio_id", values="return", aggfunc="first").reindex(columns=ids)
    pieces = published_series.index_month_pieces(close)
    common = wide.dropna(how="any").index.intersection(published[ids].dropna(how="any").index)
    frames = []
    for name, returns in (("published", published[ids]), ("build", wide)):
        loadings = published_series.month_cut_loadings(returns.loc[common], published["rf"], pieces, published["mkt_rf"])
        frames.append(loadings.assign(series=name))
    out = pd.concat(frames, ignore_index=True)
    out["data_source"] = data_source
    return out[["series", *published_series.MONTH_CUT_COLUMNS, "data_source"]]
