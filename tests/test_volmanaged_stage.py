"""The volmanaged stage end to end on a small synthetic interim folder: files, names, tables, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asset_pricing.io import DataValidationError
from asset_pricing.paths import ProjectPaths
from asset_pricing.volmanaged import stage
from asset_pricing.volmanaged.strategies import STRATEGY_COLUMNS

COST_BPS = [0.0, 10.0, 25.0]


def stage_settings(**changes) -> dict:
    """The settings the stage reads, with the project's defaults."""
    return {
        "START_DATE": pd.Timestamp("2003-01-01"), "END_DATE": pd.Timestamp("2006-12-31"),
        "TRAIN_END": pd.Timestamp("2004-12-31"), "MIN_DAYS": 10, "VARIANCE_MODEL": "realized",
        "EWMA_LAMBDA": 0.94, "CALIBRATION": "train", "SCALING_TARGET": "mean_exposure",
        "MAX_LEVERAGE": None, "COST_BPS": COST_BPS, **changes,
    }


@pytest.fixture()
def project(tmp_path) -> ProjectPaths:
    """A project folder whose data/interim holds the four prepared files (3 assets, 2003-2006)."""
    rng = np.random.default_rng(4)
    days = pd.bdate_range("2003-01-01", "2006-12-31", name="date")
    volatility = np.repeat(rng.uniform(0.005, 0.03, size=(len(days) // 21 + 1, 4)), 21, axis=0)[: len(days)]
    returns = rng.standard_normal((len(days), 4)) * volatility + 0.0003
    daily = pd.DataFrame(returns[:, :3], index=days, columns=["AAA", "BBB", "CCC"])
    market = pd.DataFrame({"market": returns.mean(axis=1)}, index=days)
    sigma2 = market["market"].groupby(pd.Grouper(freq="ME")).var(ddof=1)
    market_vol = pd.DataFrame({"sigma2": sigma2, "sigma": np.sqrt(sigma2), "inv_sigma": 1 / np.sqrt(sigma2), "inv_sigma2": 1 / sigma2})
    rf = pd.DataFrame({"rf_month": 0.002}, index=sigma2.index)
    paths = ProjectPaths(tmp_path / "data", tmp_path / "_output")
    paths.interim.mkdir(parents=True)
    for frame, name in ((daily, "daily_returns"), (market, "market_daily_returns"), (market_vol, "market_vol_monthly"), (rf, "rf_monthly")):
        frame.to_parquet(paths.interim / f"{name}.parquet")
    return paths


def test_stage_writes_every_target_with_the_documented_names(project):
    written = stage.build_volmanaged(project, stage_settings())
    assert written == stage.volmanaged_targets(project)
    assert all(path.is_file() for path in written)
    outputs = stage.load_volmanaged(project)
    assert list(outputs.strategy_returns.columns) == list(STRATEGY_COLUMNS)
    assert list(outputs.common_vol_signal.columns) == ["sigma2_mkt", "s_base", "k_common", "exposure_common", "exposure_common_lag"]
    assert list(outputs.onefactor_signals.columns.get_level_values(0).unique()) == ["sigma2_i", "s_base_i", "k_i", "exposure_i", "exposure_i_lag"]
    assert list(outputs.onefactor_signals["k_i"].columns) == ["AAA", "BBB", "CCC"]
    assert list(outputs.monthly_asset_returns.columns) == ["AAA", "BBB", "CCC"]
    assert len(outputs.performance) == 3 * 3  # strategies × windows
    assert len(outputs.regressions) == 2 * 3  # managed strategies × windows
    assert len(outputs.costs) == 2 * 3 * len(COST_BPS)
    assert list(outputs.normality.index) == ["ew_excess", "common_excess", "onefactor_excess"]
    assert list(outputs.calibration.index) == ["market", "AAA", "BBB", "CCC"]


def test_stage_inputs_are_the_four_prepared_files(project):
    names = [path.name for path in stage.volmanaged_inputs(project)]
    assert names == ["daily_returns.parquet", "market_daily_returns.parquet", "market_vol_monthly.parquet", "rf_monthly.parquet"]


def test_stage_tables_agree_with_strategy_returns(project):
    stage.build_volmanaged(project, stage_settings(VARIANCE_MODEL="ewma", CALIBRATION="expanding"))
    outputs = stage.load_volmanaged(project)
    evaluation_rows = outputs.strategy_returns.dropna().loc[lambda frame: frame.index > pd.Timestamp("2004-12-31")]
    excess = evaluation_rows["onefactor_excess"]
    sharpe = excess.mean() * 12 / (excess.std() * np.sqrt(12))
    assert outputs.performance.loc[("onefactor", "evaluation"), "sharpe"] == pytest.approx(sharpe, rel=1e-9)
    assert outputs.performance.loc[("onefactor", "evaluation"), "months"] == len(evaluation_rows)


def test_missing_input_file_is_an_error_naming_it(project):
    (project.interim / "rf_monthly.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="rf_monthly.parquet"):
        stage.build_volmanaged(project, stage_settings())


def test_input_without_expected_column_is_an_error_naming_file_and_column(project):
    market_vol = pd.read_parquet(project.interim / "market_vol_monthly.parquet").drop(columns="sigma2")
    market_vol.to_parquet(project.interim / "market_vol_monthly.parquet")
    with pytest.raises(DataValidationError, match="market_vol_monthly.parquet.*sigma2"):
        stage.build_volmanaged(project, stage_settings())
