"""Normality tests and moments of return series (docs/methods.md §8), for any study.

Input: a wide DataFrame of return series (DatetimeIndex, one column per series, NaN where a series has
no value). Output: one table of tests and moments, one row per series. The figures of the same series
live in :mod:`asset_pricing.reports.normality`.

Tests (scipy.stats, NaNs omitted per series, two-sided p-values under H0: normal):
Shapiro–Wilk (1965); Jarque–Bera (1980), JB = n/6 (S² + (K − 3)²/4); D'Agostino–Pearson omnibus
K² (1973, ``normaltest``, needs n ≥ 8). Skewness S and kurtosis K are the biased sample moments with
Pearson's kurtosis (``fisher=False``: 3 for a normal). A series too short for a test has NaN there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

NORMALITY_COLUMNS = (
    "observations", "missing_share", "mean", "std", "skewness", "kurtosis",
    "shapiro_p", "jarque_bera_p", "dagostino_p",
)


def normality_table(returns: pd.DataFrame) -> pd.DataFrame:
    """One row per series: observations, missing share, mean, std, skewness, kurtosis and test p-values.

    Parameters
    ----------
    returns
        Wide return series (any frequency; units are kept: a monthly fraction gives a monthly mean).

    Returns
    -------
    pandas.DataFrame
        Columns ``NORMALITY_COLUMNS``; ``kurtosis`` is Pearson's (normal = 3).
    """
    values = returns.to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    observations = np.sum(~np.isnan(values), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too-short series give NaN, reported as such
        with np.errstate(all="ignore"):
            table = pd.DataFrame({
                "observations": observations,
                "missing_share": 1.0 - observations / max(len(returns), 1),
                "mean": np.nanmean(values, axis=0),
                "std": np.nanstd(values, axis=0, ddof=1),
                "skewness": stats.skew(values, axis=0, nan_policy="omit"),
                "kurtosis": stats.kurtosis(values, axis=0, fisher=False, nan_policy="omit"),
                "shapiro_p": stats.shapiro(values, axis=0, nan_policy="omit").pvalue,
                "jarque_bera_p": stats.jarque_bera(values, axis=0, nan_policy="omit").pvalue,
                "dagostino_p": stats.normaltest(values, axis=0, nan_policy="omit").pvalue,
            }, index=returns.columns)
    table.index.name = "series"
    return table
