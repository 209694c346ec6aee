"""Volatility signals, the exposure scale k, the leverage cap and the one-month lag (docs/methods.md §2.1–§2.3).

Signal s_t = 1/σ²_t (±inf → NaN). Exposure x_t = k_t · s_t, capped at ``MAX_LEVERAGE`` when set; x_t
is formed at the end of month t and held in month t+1 (the lag). The scale k follows two settings:

- ``CALIBRATION``: ``train`` — one k from the training months t ≤ ``TRAIN_END``;
  ``expanding`` — k_t from months τ ≤ t−1 only (what a real-time investor could compute), NaN until
  ``EXPANDING_MIN_MONTHS`` months are available.
- ``SCALING_TARGET``: ``mean_exposure`` — k = 1 / mean(s_τ), so the average exposure is 1;
  ``match_volatility`` — k = std(f_τ) / std(s_{τ−1} f_τ), so the managed return k s_{τ−1} f_τ has the
  volatility of the unmanaged excess return f_τ over the calibration months (Moreira and Muir, 2017,
  *Volatility-Managed Portfolios*, J. Finance 72(4), eq. 1). The cap is applied after scaling.

All functions take a DataFrame of series (columns) over calendar month-ends and are vectorized over
columns and months.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from settings import SettingsError
from asset_pricing.volmanaged.returns import calendar_months, finite_or_nan

log = logging.getLogger(__name__)

CALIBRATIONS = ("train", "expanding")
SCALING_TARGETS = ("mean_exposure", "match_volatility")
EXPANDING_MIN_MONTHS = 12


class ExcludedAssetWarning(UserWarning):
    """A series has no data to calibrate its scale k and is left out of the strategies."""


def inverse_variance_signal(variance: pd.DataFrame) -> pd.DataFrame:
    """s_t = 1/σ²_t; a zero variance (+inf) or a missing one gives NaN (docs/methods.md §2.1)."""
    with np.errstate(divide="ignore"):
        signal = 1.0 / variance
    return finite_or_nan(signal).where(variance > 0)


def validate_train_end(months: pd.DatetimeIndex, train_end: pd.Timestamp) -> None:
    """``TRAIN_END`` must leave at least one training month (t ≤ TRAIN_END) and one evaluation month."""
    if len(months) == 0:
        raise ValueError("No months to split into training and evaluation windows.")
    if train_end < months.min():
        raise SettingsError(
            f"Setting TRAIN_END={train_end:%Y-%m-%d} is invalid: it is before the first month {months.min():%Y-%m} "
            "of the data, so the training window is empty."
        )
    if train_end >= months.max():
        raise SettingsError(
            f"Setting TRAIN_END={train_end:%Y-%m-%d} is invalid: it is on or after the last month {months.max():%Y-%m} "
            "of the data, so the evaluation window is empty."
        )


def validate_max_leverage(max_leverage: float | None) -> None:
    """``MAX_LEVERAGE`` is None (no cap) or a positive number."""
    if max_leverage is not None and not max_leverage > 0:
        raise SettingsError(f"Setting MAX_LEVERAGE={max_leverage!r} is invalid: expected a positive number, or empty for none.")


def _check_choice(name: str, value: str, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise SettingsError(f"Setting {name}={value!r} is invalid: accepted values are {' | '.join(accepted)}.")


def _check_calendar_months(index: pd.Index, name: str) -> None:
    if not isinstance(index, pd.DatetimeIndex) or not index.equals(calendar_months(index)):
        raise ValueError(f"{name}: the index must hold every calendar month-end in order (a shift is one month).")


def _broadcast(values: pd.Series, index: pd.DatetimeIndex) -> pd.DataFrame:
    """One value per column repeated over ``index``."""
    return pd.DataFrame(np.tile(values.to_numpy(dtype=float), (len(index), 1)), index=index, columns=values.index)


def calibrate_scale(
    signal: pd.DataFrame,
    train_end: pd.Timestamp,
    *,
    calibration: str = "train",
    scaling_target: str = "mean_exposure",
    unmanaged_excess: pd.DataFrame | None = None,
    min_months: int = EXPANDING_MIN_MONTHS,
) -> pd.DataFrame:
    """The scale k_t per series and month (same shape as ``signal``), see the module docstring.

    Parameters
    ----------
    signal
        s_t = 1/σ²_t per series (columns) at every calendar month-end.
    train_end
        Last day of the training window (setting ``TRAIN_END``); months t ≤ train_end calibrate ``train``.
    calibration
        ``train`` | ``expanding`` (setting ``CALIBRATION``).
    scaling_target
        ``mean_exposure`` | ``match_volatility`` (setting ``SCALING_TARGET``).
    unmanaged_excess
        f_t, the unmanaged monthly excess return of each series (same columns); needed for
        ``match_volatility`` only. Months count where both f_τ and s_{τ−1} exist.
    min_months
        Fewest months for an ``expanding`` scale (before: NaN).

    Returns
    -------
    pandas.DataFrame
        k_t; constant over months for ``train``. A series without calibration data has NaN throughout
        and is named in an :class:`ExcludedAssetWarning`.
    """
    _check_choice("CALIBRATION", calibration, CALIBRATIONS)
    _check_choice("SCALING_TARGET", scaling_target, SCALING_TARGETS)
    _check_calendar_months(signal.index, "signal")
    validate_train_end(signal.index, train_end)
    in_training = signal.index <= train_end

    if scaling_target == "mean_exposure":
        if calibration == "train":
            scale = _broadcast(1.0 / signal.loc[in_training].mean(), signal.index)
        else:
            scale = 1.0 / signal.expanding(min_periods=min_months).mean().shift(1)
    else:
        if unmanaged_excess is None:
            raise ValueError("SCALING_TARGET=match_volatility needs the unmanaged excess returns of each series.")
        excess = unmanaged_excess.reindex(index=signal.index, columns=signal.columns)
        managed_unscaled = signal.shift(1) * excess
        both = managed_unscaled.notna()
        excess, managed_unscaled = excess.where(both), managed_unscaled.where(both)
        if calibration == "train":
            ratio = excess.loc[in_training].std(ddof=1) / managed_unscaled.loc[in_training].std(ddof=1)
            scale = _broadcast(ratio, signal.index)
        else:
            excess_vol = excess.expanding(min_periods=min_months).std(ddof=1)
            managed_vol = managed_unscaled.expanding(min_periods=min_months).std(ddof=1)
            scale = (excess_vol / managed_vol).shift(1)

    scale = finite_or_nan(scale).where(lambda k: k > 0)
    excluded = [str(c) for c in scale.columns if scale[c].isna().all()]
    if excluded:
        window = f"the training window (months <= TRAIN_END={train_end:%Y-%m-%d})" if calibration == "train" else "any expanding window"
        message = f"{', '.join(excluded)}: no variance signal in {window}, so no scale k; excluded from the managed strategies."
        log.warning(message)
        warnings.warn(message, ExcludedAssetWarning, stacklevel=2)
    return scale


def scaled_exposure(signal: pd.DataFrame, scale: pd.DataFrame, max_leverage: float | None = None) -> pd.DataFrame:
    """x_t = min(k_t · s_t, MAX_LEVERAGE) (no cap when ``max_leverage`` is None)."""
    validate_max_leverage(max_leverage)
    exposure = signal * scale
    return exposure if max_leverage is None else exposure.clip(upper=float(max_leverage))


def lagged_exposure(exposure: pd.DataFrame) -> pd.DataFrame:
    """x_{t−1} at row t: the exposure held in month t was formed at the end of month t−1."""
    _check_calendar_months(exposure.index, "exposure")
    return exposure.shift(1)
