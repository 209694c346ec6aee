"""The volatility-managed construction from the prepared tables to strategy returns, without file I/O.

:func:`run_volmanaged` chains docs/methods.md §2: monthly returns → variance signal per month (market and each
asset) → s = 1/σ² → scale k → exposure (capped) → one-month lag → EW / common / one-factor returns.
Its outputs carry the table and column names listed in docs/methods.md §2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from asset_pricing.io import DataValidationError
from asset_pricing.volmanaged import signals, strategies, variance
from asset_pricing.volmanaged.returns import excess_returns, monthly_asset_returns, to_month_end

log = logging.getLogger(__name__)

MARKET = "market"
SETTINGS_READ = (
    "START_DATE", "END_DATE", "TRAIN_END", "MIN_DAYS", "VARIANCE_MODEL", "EWMA_LAMBDA",
    "CALIBRATION", "SCALING_TARGET", "MAX_LEVERAGE", "COST_BPS",
)


@dataclass(frozen=True)
class VolManagedConfig:
    """The settings of the construction (names as in ``settings.py``)."""

    train_end: pd.Timestamp
    min_days: int = 10
    variance_model: str = "realized"
    ewma_lambda: float = 0.94
    calibration: str = "train"
    scaling_target: str = "mean_exposure"
    max_leverage: float | None = None
    start_date: pd.Timestamp | None = None
    end_date: pd.Timestamp | None = None

    @classmethod
    def from_settings(cls, cfg: dict[str, Any]) -> "VolManagedConfig":
        """From ``settings.load()`` (or any dict with the same keys)."""
        return cls(
            train_end=cfg["TRAIN_END"],
            min_days=cfg["MIN_DAYS"],
            variance_model=cfg["VARIANCE_MODEL"],
            ewma_lambda=cfg["EWMA_LAMBDA"],
            calibration=cfg["CALIBRATION"],
            scaling_target=cfg["SCALING_TARGET"],
            max_leverage=cfg["MAX_LEVERAGE"],
            start_date=cfg.get("START_DATE"),
            end_date=cfg.get("END_DATE"),
        )


@dataclass(frozen=True)
class VolManagedResult:
    """Outputs of the construction (signals and strategy returns, plus diagnostics and the calibration summary)."""

    monthly_asset_returns: pd.DataFrame
    common_vol_signal: pd.DataFrame
    onefactor_signals: pd.DataFrame
    strategy_returns: pd.DataFrame
    diagnostics: pd.DataFrame
    calibration: pd.DataFrame


def _in_window(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= frame.index >= start
    if end is not None:
        keep &= frame.index <= end
    return frame.loc[keep]


def market_variance(
    market_daily_returns: pd.Series,
    market_vol_monthly: pd.DataFrame,
    months: pd.DatetimeIndex,
    config: VolManagedConfig,
) -> tuple[pd.Series, pd.DataFrame]:
    """σ²_{m,t} of the configured model at ``months`` and its parameters.

    ``realized`` reads the prepared ``sigma2`` (market_vol_monthly, docs/methods.md §1.3); ``ewma`` and ``garch``
    are computed from the market's daily returns. All-NaN → :class:`DataValidationError`.
    """
    if config.variance_model == "realized":
        sigma2 = market_vol_monthly["sigma2"].copy()
        sigma2.index = to_month_end(sigma2.index)
        params = pd.DataFrame(index=[MARKET])
    else:
        table, params = variance.monthly_variance(
            config.variance_model, market_daily_returns.to_frame(MARKET),
            min_days=config.min_days, ewma_lambda=config.ewma_lambda, train_end=config.train_end,
        )
        sigma2 = table[MARKET]
    sigma2 = sigma2.reindex(months).rename("sigma2_mkt")
    if sigma2.notna().sum() == 0:
        raise DataValidationError(
            f"market variance sigma2_mkt (VARIANCE_MODEL={config.variance_model}, MIN_DAYS={config.min_days}) is NaN in "
            "every month: there is no common-volatility signal (check market_vol_monthly.parquet / market_daily_returns.parquet)."
        )
    training = sigma2.loc[sigma2.index <= config.train_end]
    if (training > 0).sum() == 0:
        raise DataValidationError(
            f"market variance sigma2_mkt has no valid month in the training window (months <= TRAIN_END={config.train_end:%Y-%m-%d}): "
            "the common scale k cannot be calibrated."
        )
    return sigma2, params


def calibration_summary(
    common_vol_signal: pd.DataFrame,
    onefactor_signals: pd.DataFrame,
    train_end: pd.Timestamp,
    params: pd.DataFrame,
) -> pd.DataFrame:
    """One row per series (``market`` then the assets): training months with a signal, k, exclusion, GARCH fit."""
    signal = pd.concat([common_vol_signal[["s_base"]].rename(columns={"s_base": MARKET}), onefactor_signals["s_base_i"]], axis=1)
    scale = pd.concat([common_vol_signal[["k_common"]].rename(columns={"k_common": MARKET}), onefactor_signals["k_i"]], axis=1)
    summary = pd.DataFrame({
        "role": ["common"] + ["onefactor"] * (signal.shape[1] - 1),
        "signal_months_train": signal.loc[signal.index <= train_end].notna().sum(),
        "signal_months_all": signal.notna().sum(),
        "k_first": scale.bfill().iloc[0],
        "k_last": scale.ffill().iloc[-1],
        "excluded": scale.isna().all(),
    })
    garch = params.reindex(index=summary.index, columns=list(variance.GARCH_FIT_FIELDS))
    summary = summary.join(garch)
    summary.index.name = "series"
    return summary


def run_volmanaged(
    daily_returns: pd.DataFrame,
    market_daily_returns: pd.Series,
    market_vol_monthly: pd.DataFrame,
    rf_monthly: pd.Series,
    config: VolManagedConfig,
) -> VolManagedResult:
    """Build the signals and strategy returns of docs/methods.md §2 from the prepared tables.

    Parameters
    ----------
    daily_returns
        Wide daily simple returns of the assets (``daily_returns.parquet``).
    market_daily_returns
        Daily simple returns of the market (``market_daily_returns.parquet`` column ``market``).
    market_vol_monthly
        Monthly market realized variance ``sigma2`` (``market_vol_monthly.parquet``).
    rf_monthly
        Monthly simple risk-free rate (``rf_monthly.parquet`` column ``rf_month``).
    config
        Settings of the construction.
    """
    signals.validate_max_leverage(config.max_leverage)
    daily = _in_window(daily_returns, config.start_date, config.end_date)
    market_daily = _in_window(market_daily_returns.to_frame(MARKET), config.start_date, config.end_date)[MARKET]
    if daily.empty:
        raise DataValidationError("daily_returns: no rows between START_DATE and END_DATE.")

    monthly_returns = monthly_asset_returns(daily)
    months = monthly_returns.index
    signals.validate_train_end(months, config.train_end)
    rf = rf_monthly.copy()
    rf.index = to_month_end(rf.index)
    rf = rf.reindex(months).rename("rf")

    asset_variance, asset_params = variance.monthly_variance(
        config.variance_model, daily, min_days=config.min_days, ewma_lambda=config.ewma_lambda, train_end=config.train_end
    )
    asset_variance = asset_variance.reindex(months)
    sigma2_mkt, market_params = market_variance(market_daily, market_vol_monthly, months, config)

    calibrate = dict(train_end=config.train_end, calibration=config.calibration, scaling_target=config.scaling_target)
    asset_signal = signals.inverse_variance_signal(asset_variance)
    asset_scale = signals.calibrate_scale(asset_signal, unmanaged_excess=excess_returns(monthly_returns, rf), **calibrate)
    asset_exposure = signals.scaled_exposure(asset_signal, asset_scale, config.max_leverage)
    asset_exposure_lagged = signals.lagged_exposure(asset_exposure)

    market_signal = signals.inverse_variance_signal(sigma2_mkt.to_frame(MARKET))
    ew_excess = strategies.equal_weight_excess_returns(monthly_returns, rf, asset_exposure_lagged)
    market_scale = signals.calibrate_scale(market_signal, unmanaged_excess=ew_excess.to_frame(MARKET), **calibrate)
    if market_scale[MARKET].isna().all():
        raise DataValidationError("market variance sigma2_mkt: too few months with a signal to calibrate the common scale k.")
    market_exposure = signals.scaled_exposure(market_signal, market_scale, config.max_leverage)[MARKET]
    market_exposure_lagged = signals.lagged_exposure(market_exposure.to_frame())[MARKET]

    common_vol_signal = pd.DataFrame({
        "sigma2_mkt": sigma2_mkt,
        "s_base": market_signal[MARKET],
        "k_common": market_scale[MARKET],
        "exposure_common": market_exposure,
        "exposure_common_lag": market_exposure_lagged,
    })
    onefactor_signals = pd.concat(
        {"sigma2_i": asset_variance, "s_base_i": asset_signal, "k_i": asset_scale,
         "exposure_i": asset_exposure, "exposure_i_lag": asset_exposure_lagged},
        axis=1,
    )
    strategy_table = strategies.strategy_returns(monthly_returns, rf, market_exposure_lagged, asset_exposure_lagged)
    diagnostics = strategies.strategy_diagnostics(monthly_returns, rf, market_exposure_lagged, asset_exposure_lagged)
    calibration = calibration_summary(
        common_vol_signal, onefactor_signals, config.train_end, pd.concat([market_params, asset_params])
    )
    for frame in (monthly_returns, common_vol_signal, onefactor_signals):
        frame.index.name = "date"
    log.info(
        "volmanaged: %d months, %d assets (%d excluded), VARIANCE_MODEL=%s CALIBRATION=%s SCALING_TARGET=%s MAX_LEVERAGE=%s",
        len(months), monthly_returns.shape[1], int(calibration["excluded"].sum()), config.variance_model,
        config.calibration, config.scaling_target, config.max_leverage,
    )
    return VolManagedResult(monthly_returns, common_vol_signal, onefactor_signals, strategy_table, diagnostics, calibration)
