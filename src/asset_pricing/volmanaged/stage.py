"""Stage ``volmanaged``: prepared tables → signals, strategy returns and evaluation tables (docs/methods.md §2, §8).

Reads (``data/interim``): daily_returns, market_daily_returns, market_vol_monthly, rf_monthly (parquet).
Writes (``data/processed/volmanaged``): monthly_asset_returns, common_vol_signal, onefactor_signals,
strategy_returns and strategy_diagnostics (parquet); and
(``OUTPUT_DIR/tables``) volmanaged_performance, volmanaged_regressions, volmanaged_costs,
volmanaged_calibration and volmanaged_normality (CSV).

Settings read: see :data:`asset_pricing.volmanaged.pipeline.SETTINGS_READ`.
This is the only module of the study that touches files; :func:`load_volmanaged` reads the outputs
back for the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from asset_pricing import io
from asset_pricing.paths import ProjectPaths, project_paths
from asset_pricing.stats.normality import normality_table
from asset_pricing.volmanaged import evaluation
from asset_pricing.volmanaged.pipeline import SETTINGS_READ, VolManagedConfig, run_volmanaged

log = logging.getLogger(__name__)

__all__ = ["SETTINGS_READ", "build_volmanaged", "volmanaged_inputs", "volmanaged_targets", "load_volmanaged"]

INPUT_FILES = ("daily_returns", "market_daily_returns", "market_vol_monthly", "rf_monthly")
PROCESSED_FILES = ("monthly_asset_returns", "common_vol_signal", "onefactor_signals", "strategy_returns", "strategy_diagnostics")
TABLE_FILES = ("performance", "regressions", "costs", "calibration", "normality")


def processed_dir(paths: ProjectPaths) -> Path:
    return paths.processed / "volmanaged"


def volmanaged_inputs(paths: ProjectPaths) -> list[Path]:
    """The stage's inputs (doit ``file_dep``)."""
    return [paths.interim / f"{name}.parquet" for name in INPUT_FILES]


def volmanaged_targets(paths: ProjectPaths) -> list[Path]:
    """The stage's outputs (doit ``targets``): five parquet files, then five CSV tables."""
    parquet = [processed_dir(paths) / f"{name}.parquet" for name in PROCESSED_FILES]
    tables = [paths.tables / f"volmanaged_{name}.csv" for name in TABLE_FILES]
    return parquet + tables


def _read_inputs(paths: ProjectPaths) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """Read and validate the four prepared tables; errors name the file and column."""
    daily_file, market_file, vol_file, rf_file = volmanaged_inputs(paths)
    daily = io.read_parquet(daily_file)
    market = io.read_parquet(market_file)
    market_vol = io.read_parquet(vol_file)
    rf = io.read_parquet(rf_file)
    io.require_columns(market, ["market"], str(market_file))
    io.require_columns(market_vol, ["sigma2"], str(vol_file))
    io.require_columns(rf, ["rf_month"], str(rf_file))
    for frame, source in ((daily, daily_file), (market, market_file), (market_vol, vol_file), (rf, rf_file)):
        io.validate_date_index(frame.index, str(source))
    if daily.shape[1] == 0:
        raise io.DataValidationError(f"{daily_file}: no asset columns.")
    io.validate_numeric_frame(rf[["rf_month"]], str(rf_file))
    return daily, market["market"], market_vol, rf["rf_month"]


def build_volmanaged(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Run the construction and the evaluation; write every target atomically and return their paths."""
    config = VolManagedConfig.from_settings(cfg)
    result = run_volmanaged(*_read_inputs(paths), config)

    performance = evaluation.performance_table(result.strategy_returns, result.diagnostics, config.train_end)
    regressions = evaluation.regression_table(result.strategy_returns, config.train_end)
    costs = evaluation.cost_table(result.strategy_returns, result.diagnostics, list(cfg["COST_BPS"]), config.train_end)
    excess, _ = evaluation.strategy_frames(evaluation.common_sample(result.strategy_returns))
    normality = normality_table(excess.add_suffix("_excess"))

    frames = (result.monthly_asset_returns, result.common_vol_signal, result.onefactor_signals,
              result.strategy_returns, result.diagnostics)
    tables = (performance, regressions, costs, result.calibration, normality)
    targets = volmanaged_targets(paths)
    written = [io.write_parquet(frame, target) for frame, target in zip(frames, targets[: len(frames)])]
    written += [io.write_csv(table, target) for table, target in zip(tables, targets[len(frames):])]
    headline = evaluation.headline_table(performance, regressions, "evaluation")
    log.info("volmanaged evaluation window:\n%s", headline.round(4).to_string())
    return written


@dataclass(frozen=True)
class VolManagedOutputs:
    """Everything the report shows, read back from the stage's targets."""

    monthly_asset_returns: pd.DataFrame
    common_vol_signal: pd.DataFrame
    onefactor_signals: pd.DataFrame
    strategy_returns: pd.DataFrame
    diagnostics: pd.DataFrame
    performance: pd.DataFrame
    regressions: pd.DataFrame
    costs: pd.DataFrame
    calibration: pd.DataFrame
    normality: pd.DataFrame


def load_volmanaged(paths: ProjectPaths | None = None) -> VolManagedOutputs:
    """Read the stage's outputs (run ``doit`` first); tables keep their (strategy, window[, cost]) index."""
    paths = paths or project_paths()
    targets = volmanaged_targets(paths)
    frames = [io.read_parquet(target) for target in targets[: len(PROCESSED_FILES)]]
    index_levels = {"performance": 2, "regressions": 2, "costs": 3, "calibration": 1, "normality": 1}
    tables = []
    for name, target in zip(TABLE_FILES, targets[len(PROCESSED_FILES):]):
        if not target.is_file():
            raise FileNotFoundError(f"{target}: file not found (run the stage that builds it, e.g. `doit`).")
        table = pd.read_csv(target, index_col=list(range(index_levels[name])))
        tables.append(table)
    performance = tables[0]
    for column in ("first_month", "last_month"):
        performance[column] = pd.to_datetime(performance[column])
    return VolManagedOutputs(*frames, *tables)
