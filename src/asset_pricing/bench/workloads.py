"""What a benchmark child runs (targets of :class:`asset_pricing.bench.measure.Call`).

Every function reads its folders from the settings of the child's environment (DATA_DIR, OUTPUT_DIR,
OPTIONS_START, …) through :func:`asset_pricing.paths.project_paths` and ``settings.load()``, and returns
a dict of figures; a ``seconds`` entry is the timed part when inputs are loaded first (the side-by-side
comparisons time the computation, not the reading).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

import settings
from asset_pricing import io
from asset_pricing.bench import reference
from asset_pricing.options import filters, stage_portfolios, stage_quotes
from asset_pricing.options.smile import SMILE_INPUT_COLUMNS, slice_codes
from asset_pricing.options.stage_portfolios import build_option_portfolios, quotes_file, read_options_meta
from asset_pricing.paths import option_years, project_paths, raw_options_dir, raw_quote_path
from asset_pricing.prepare.equity import market_vol_table, monthly_rf_for_window
from asset_pricing.sources.embedded import load_rf_monthly
from asset_pricing.sources.option_pull import pull_synthetic_options
from asset_pricing.sources.synthetic_options import SyntheticPanelSpec

TRADING_DAYS_PER_YEAR = 252


# --------------------------------------------------------------------------------------------------
# Step 3: portfolio stage against the naive reference implementation
# --------------------------------------------------------------------------------------------------
def read_filtered_quotes(columns: list[str]) -> pd.DataFrame:
    """The filtered quotes of every year of meta.json (only ``columns``), as one frame."""
    paths = project_paths()
    years = read_options_meta(paths)["years"]
    return pd.concat([pd.read_parquet(quotes_file(paths, int(year)), columns=columns) for year in years], ignore_index=True)


def naive_portfolio_reference(every_nth_day: int = 1) -> dict[str, Any]:
    """The naive construction (:func:`~asset_pricing.bench.reference.naive_portfolios`) on the filtered quotes.

    Timed from reading the filtered files to the monthly CJS and HKM returns in memory (the project's
    stage is timed from the same files to its written outputs). With ``every_nth_day`` > 1 it runs on
    every n-th trading day only (for a linear extrapolation). After timing, checks that both give the
    same kernel weights before the floor on its candidates.
    """
    start = time.perf_counter()
    quotes = read_filtered_quotes(list(reference.NAIVE_INPUT_COLUMNS))
    days = np.sort(quotes["date"].unique())
    subset = quotes[quotes["date"].isin(days[::every_nth_day])].reset_index(drop=True) if every_nth_day > 1 else quotes
    naive = reference.naive_portfolios(subset)
    seconds = time.perf_counter() - start
    agreement = reference.kernel_weight_agreement(naive.weighted_quotes)
    return {
        "seconds": seconds, "quotes": len(subset), "quotes_full": len(quotes), "days": int(subset["date"].nunique()),
        "days_full": len(days), "every_nth_day": every_nth_day, "cjs_series": int(naive.cjs_monthly.index.get_level_values(0).nunique()),
        **{f"kernel_{key}": value for key, value in agreement.items()},
    }


# --------------------------------------------------------------------------------------------------
# Step 3: Level-3 smile filter against a per-group loop
# --------------------------------------------------------------------------------------------------
def write_level_two_panel(path: str) -> dict[str, Any]:
    """The quotes that reach filter 9 (filters 1–8 applied year by year), smile columns only, written to ``path``."""
    paths, cfg = project_paths(), settings.load()
    underlying = stage_quotes.read_underlying(paths, cfg)
    parts = []
    for year in option_years(cfg):
        quotes = stage_quotes.read_year_quotes(paths, cfg, year, underlying)
        kept = filters.level_1_2_masks(quotes).kept
        parts.append(filters.take_columns(quotes, np.flatnonzero(kept), list(SMILE_INPUT_COLUMNS)))
    panel = pd.concat(parts, ignore_index=True)
    io.write_parquet(panel, path, index=False)
    return {"quotes": len(panel)}


def smile_filter_project(path: str, repetitions: int = 3) -> dict[str, Any]:
    """The project's filter 9 on the level-2 panel in memory (batched fits, bin moments, test); timed after loading.

    The computation runs ``repetitions`` times in this process: the first (``seconds``) pays the page
    faults of fresh memory, the later ones (``warm_seconds``) show the steady-state speed.
    """
    panel = pd.read_parquet(path)
    timings = []
    for _ in range(repetitions):
        start = time.perf_counter()
        outlier = reference.smile_outliers_vectorized(panel)
        timings.append(time.perf_counter() - start)
    return {"seconds": timings[0], "warm_seconds": timings[1:], "quotes": len(panel), "slices": int(slice_codes(panel)[1].shape[0]),
            "outliers": int(outlier.sum())}


def smile_filter_reference(path: str) -> dict[str, Any]:
    """The per-group loop (:func:`~asset_pricing.bench.reference.smile_outliers_per_group_loop`); timed after loading.

    Afterwards counts the quotes on which its outlier decision differs from the project's.
    """
    panel = pd.read_parquet(path)
    start = time.perf_counter()
    outlier = reference.smile_outliers_per_group_loop(panel)
    seconds = time.perf_counter() - start
    project = reference.smile_outliers_vectorized(panel)
    return {"seconds": seconds, "quotes": len(panel), "outliers": int(outlier.sum()), "decisions_differing": int((outlier != project).sum())}


# --------------------------------------------------------------------------------------------------
# Step 4: volatility-managed inputs
# --------------------------------------------------------------------------------------------------
def synthetic_daily_returns(n_assets: int, dates: pd.DatetimeIndex, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Daily simple returns of ``n_assets`` synthetic stocks and their market, deterministic from ``seed``.

    Market: GARCH(1,1) volatility (ω = 1e-6, α = 0.08, β = 0.9) with Student-t(5) shocks, so volatility
    clusters as in real data. Stock i: β_i ~ U(0.5, 1.5) times the market plus an idiosyncratic shock of
    daily volatility U(1%, 3%) scaled by its own slow volatility cycle; a fifth of the stocks list late
    (NaN before a random listing day in the first half of the sample), as in a real panel.
    """
    rng = np.random.default_rng(seed)
    n_days = len(dates)
    shocks = rng.standard_t(5, size=n_days) / np.sqrt(5 / 3)
    variance = np.empty(n_days)
    market = np.empty(n_days)
    variance[0] = 1e-6 / (1 - 0.08 - 0.9)
    for day in range(n_days):  # the GARCH recursion is sequential in time (one market series)
        if day:
            variance[day] = 1e-6 + 0.08 * market[day - 1] ** 2 + 0.9 * variance[day - 1]
        market[day] = np.sqrt(variance[day]) * shocks[day]
    beta = rng.uniform(0.5, 1.5, n_assets)
    idio_vol = rng.uniform(0.01, 0.03, n_assets)
    cycle = 1.0 + 0.5 * np.sin(2 * np.pi * (np.arange(n_days)[:, None] / (TRADING_DAYS_PER_YEAR * rng.uniform(1, 4, n_assets)) + rng.uniform(0, 1, n_assets)))
    returns = market[:, None] * beta + rng.standard_normal((n_days, n_assets)) * idio_vol * cycle
    late = rng.random(n_assets) < 0.2
    listing = np.where(late, rng.integers(0, n_days // 2, n_assets), 0)
    returns[np.arange(n_days)[:, None] < listing] = np.nan
    columns = [f"S{i:04d}" for i in range(n_assets)]
    return pd.DataFrame(returns, index=dates, columns=columns).rename_axis("date"), pd.Series(market, index=dates, name="market")


def write_volmanaged_inputs(n_assets: int, seed: int = 7) -> dict[str, Any]:
    """The prepared tables of the volatility-managed study for ``n_assets`` synthetic stocks (DATA_DIR/interim).

    Business days START_DATE … END_DATE of the settings; risk-free rate: the embedded Fama–French RF.
    Writes daily_returns, market_daily_returns, market_vol_monthly (MIN_DAYS) and rf_monthly.
    """
    paths, cfg = project_paths(), settings.load()
    dates = pd.bdate_range(cfg["START_DATE"], cfg["END_DATE"], name="date")
    daily, market = synthetic_daily_returns(n_assets, dates, seed)
    rf = monthly_rf_for_window(load_rf_monthly(), dates.min(), dates.max(), "embedded rf")
    tables = [daily, market.to_frame(), market_vol_table(market, cfg["MIN_DAYS"]), rf]
    for table, name in zip(tables, ("daily_returns", "market_daily_returns", "market_vol_monthly", "rf_monthly")):
        io.write_parquet(table, paths.interim / f"{name}.parquet")
    return {"assets": n_assets, "days": len(dates), "years": round((dates[-1] - dates[0]).days / 365.25, 1)}


# --------------------------------------------------------------------------------------------------
# Step 5: doit end to end
# --------------------------------------------------------------------------------------------------
def doit_end_to_end(data_dir: str, output_dir: str) -> dict[str, Any]:
    """``doit`` (default tasks) from an empty DATA_DIR and OUTPUT_DIR with every setting at its default.

    Both folders are emptied first. The peak RSS of interest is the child's RUSAGE_CHILDREN (doit and
    the notebook kernels it waits for).
    """
    for folder in (data_dir, output_dir):
        shutil.rmtree(folder, ignore_errors=True)
    env = {key: value for key, value in os.environ.items() if key not in {s.name for s in settings.SETTINGS}}
    env.update({s.name: s.default for s in settings.SETTINGS})
    env.update(DATA_DIR=data_dir, OUTPUT_DIR=output_dir)
    start = time.perf_counter()
    process = subprocess.run([sys.executable, "-m", "doit"], cwd=settings.PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"doit failed (exit {process.returncode}):\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}")
    tasks_run = sum(1 for line in process.stdout.splitlines() if line.startswith(".  "))
    return {"seconds": seconds, "tasks_run": tasks_run}


# --------------------------------------------------------------------------------------------------
# Step 2: a dense year
# --------------------------------------------------------------------------------------------------
DENSE_GRID_STEP = 1.0  # index points between strikes near the money (the default panel: 5)
DENSE_WEEKLY_DENSITY = 1.0  # every listed weekly strike at the standard intensity (the default panel: 0.25)


def write_dense_year(target_quotes: int) -> dict[str, Any]:
    """A synthetic panel of one year (OPTIONS_START … OPTIONS_END) as dense as a recent SPX year, in DATA_DIR/raw.

    Recent SPX years hold several million quotes (SPXW weeklies, finer strikes). The default panel's
    universe holds about 1.8 million quotes in 2018, so this one lists strikes every
    :data:`DENSE_GRID_STEP` point near the money (5 beyond ±35%) and quotes the weeklies at the
    standard contracts' intensity (:data:`DENSE_WEEKLY_DENSITY`); ``target_quotes`` standard quotes,
    the SPXW rows come on top. The surface, defects and quirks are the default panel's.
    """
    paths, cfg = project_paths(), settings.load()
    spec = SyntheticPanelSpec.from_settings({**cfg, "SYNTHETIC_QUOTES": target_quotes})
    spec = replace(spec, grid=replace(spec.grid, near_step=DENSE_GRID_STEP, far_step=5.0),
                   quirks=replace(spec.quirks, weekly_density=DENSE_WEEKLY_DENSITY))
    start = time.perf_counter()
    pull_synthetic_options(raw_options_dir(paths, "synthetic"), spec)
    seconds = time.perf_counter() - start
    rows = sum(pq.read_metadata(raw_quote_path(paths, "synthetic", year)).num_rows for year in spec.years)
    return {"seconds": seconds, "raw_quotes": int(rows), "years": spec.years, "near_step": DENSE_GRID_STEP, "weekly_density": DENSE_WEEKLY_DENSITY}


# --------------------------------------------------------------------------------------------------
# Step 1: the machine's floor on the same files
# --------------------------------------------------------------------------------------------------
def machine_floor() -> dict[str, Any]:
    """The floor of step 1 on this machine: read every raw quote file of the window, then one lexsort of all quotes.

    Reading: the columns the filter stage reads (:func:`asset_pricing.options.stage_quotes.quote_file_columns`)
    of every year into pandas, one year at a time as the stage (timed: the reads only). Sorting: one ``np.lexsort`` of all the quotes by the
    schema's order (date, cp_flag, exdate, strike_price). No filter can run faster than reading its
    input, and the stage needs at least one such ordering of every quote (the schema's order of a year,
    the (optionid, day) order of the next-day match), so ``seconds`` = read + sort is the floor step 1
    is measured against.
    """
    paths, cfg = project_paths(), settings.load()
    keys: list[list[np.ndarray]] = [[], [], [], []]  # strike_price, exdate, cp_flag code, date (np.lexsort: last key first)
    read_seconds = 0.0
    for year in option_years(cfg):
        path = raw_quote_path(paths, cfg["OPTIONS_SOURCE"], year)
        start = time.perf_counter()
        frame = pd.read_parquet(path, columns=stage_quotes.quote_file_columns(path))
        read_seconds += time.perf_counter() - start
        for key, values in zip(keys, (frame["strike_price"], frame["exdate"], frame["cp_flag"].cat.codes, frame["date"])):
            key.append(np.asarray(values).view(np.int64) if values.dtype.kind == "M" else np.asarray(values))
        del frame  # one year at a time, as the stage: the floor does not pay for holding the panel
    sort_keys = [np.concatenate(parts) for parts in keys]
    start = time.perf_counter()
    order = np.lexsort(sort_keys)
    sort_seconds = time.perf_counter() - start
    return {"seconds": read_seconds + sort_seconds, "read_seconds": read_seconds, "sort_seconds": sort_seconds, "quotes": int(order.size)}


# --------------------------------------------------------------------------------------------------
# Profile of step 1
# --------------------------------------------------------------------------------------------------
# Where step 1's time goes: (part, [(module file, function name), ...]) summed by cumulative time in the
# profile. The parts do not nest inside each other, so their sum is at most the profiled total.
BREAKDOWN_PARTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("filters: read and check the raw years (pass 1)", (("stage_quotes.py", "read_year_quotes"),)),
    ("filters: step 0, contract selection", (("filters.py", "contract_selection_flags"),)),
    ("filters: 1, identical quotes", (("filters.py", "identical_quotes_keep"),)),
    ("filters: 2, identical terms", (("filters.py", "identical_terms_keep"),)),
    ("filters: 3, zero bid", (("filters.py", "zero_bid_flags"),)),
    ("filters: 4, maturity", (("filters.py", "maturity_flags"),)),
    ("filters: 5, implied volatility", (("filters.py", "implied_volatility_flags"),)),
    ("filters: 6, moneyness", (("filters.py", "moneyness_flags"),)),
    ("filters: 7, arbitrage bounds (formation and exit quotes)", (("filters.py", "arbitrage_bound_flags"),)),
    ("filters: 8, call-put pairs and parity rate", (("filters.py", "pair_rates"),)),
    ("filters: smile fit and residuals", (("filters.py", "smile_residuals"),)),
    ("filters: 9 and 10 (passes 2 and 3, whole-sample moments)", (("stage_quotes.py", "parity_moments_after_smile"), ("stage_quotes.py", "_level_three_masks"))),
    ("filters: kept rows read again and written (pass 3)", (("stage_quotes.py", "read_raw_rows"), ("stage_quotes.py", "_finalize"))),
    ("portfolios: read the filtered years", (("stage_portfolios.py", "read_year"),)),
    ("portfolios: trading day, validity, elasticity", (("portfolios.py", "quote_day_and_validity"),)),
    ("portfolios: next-day match", (("portfolios.py", "next_day_mid"),)),
    ("portfolios: kernel weights", (("portfolios.py", "kernel_weights"),)),
    ("portfolios: fills at t+1 (smile, Black-Scholes)", (("portfolios.py", "next_day_prices"),)),
    ("portfolios: compounding (monthly CJS, HKM)", (("portfolios.py", "compound_monthly"), ("portfolios.py", "hkm_portfolio_returns"))),
)


def time_breakdown(stats: dict[tuple[str, int, str], tuple[Any, ...]], total: float) -> list[dict[str, Any]]:
    """Seconds of each part of :data:`BREAKDOWN_PARTS` (cumulative profile time of its functions) and its share of ``total``."""
    rows = []
    for part, functions in BREAKDOWN_PARTS:
        seconds = sum(entry[3] for (file, _, name), entry in stats.items() if any(file.endswith(f"options/{module}") and name == function
                                                                                 for module, function in functions))
        rows.append({"part": part, "seconds": seconds, "share": seconds / total if total > 0 else float("nan")})
    return rows


def profile_option_stages(top: int = 25) -> dict[str, Any]:
    """cProfile of step 1 (filter_options, then build_option_portfolios, its years one after another): the functions that take the time.

    Returns ``profile_cumulative`` (the project's own functions by cumulative time),
    ``profile_internal`` (every function by time spent in itself), ``top`` rows each:
    (function, calls, own seconds, cumulative seconds), and ``breakdown`` (:func:`time_breakdown`).
    """
    paths, cfg = project_paths(), settings.load()
    profiler = cProfile.Profile()
    threads, stage_portfolios.YEAR_THREADS = stage_portfolios.YEAR_THREADS, 1  # cProfile sees its own thread only: years one by one
    try:
        start = time.perf_counter()
        profiler.enable()
        stage_quotes.filter_options(paths, cfg)
        build_option_portfolios(paths, cfg)
        profiler.disable()
        seconds = time.perf_counter() - start
    finally:
        stage_portfolios.YEAR_THREADS = threads
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, primitive calls, own, cumulative, callers)}
    rows = [
        {"function": f"{_short_path(file)}:{line}({name})", "calls": calls, "own_seconds": own, "cumulative_seconds": cumulative}
        for (file, line, name), (_, calls, own, cumulative, _) in stats.items()
    ]
    package_root = str(Path(stage_quotes.__file__).parents[1])
    own_rows = [row for row, (file, _, _) in zip(rows, stats) if file.startswith(package_root)]
    return {
        "seconds": seconds,
        "profile_cumulative": sorted(own_rows, key=lambda row: -row["cumulative_seconds"])[:top],
        "profile_internal": sorted(rows, key=lambda row: -row["own_seconds"])[:top],
        "breakdown": time_breakdown(stats, seconds),
    }


def _short_path(file: str) -> str:
    parts = Path(file).parts
    for anchor in ("asset_pricing", "site-packages"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + (anchor == "site-packages"):])
    return file


# --------------------------------------------------------------------------------------------------
# Baseline comparison
# --------------------------------------------------------------------------------------------------
def compare_option_outputs(other_data_dir: str) -> dict[str, Any]:
    """Whether the option outputs under DATA_DIR equal those under ``other_data_dir`` (values, dtypes, attrs).

    Compares every parquet file of interim/options and processed/options and meta.json.
    """
    paths = project_paths()
    mine = sorted([*(paths.interim / "options").glob("*.parquet"), *(paths.processed / "options").glob("*.parquet")])
    differing = []
    for path in mine:
        other = Path(other_data_dir) / path.relative_to(paths.data_dir)
        if not other.is_file():
            differing.append(str(path.relative_to(paths.data_dir)))
            continue
        left, right = pd.read_parquet(path), pd.read_parquet(other)
        if not (left.equals(right) and left.dtypes.equals(right.dtypes) and left.attrs == right.attrs):
            differing.append(str(path.relative_to(paths.data_dir)))
    return {"files_compared": len(mine), "files_differing": differing}
