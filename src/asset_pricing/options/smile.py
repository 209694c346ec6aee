"""Implied-volatility smile fits per (date, exdate, cp_flag): vectorized grouped least squares (docs/methods.md §3.2, filter 9).

For every slice g = (date, exdate, cp_flag) with at least :data:`MIN_QUOTES` quotes, fit

    log(IV_i) = a_g + b_g·x_i + c_g·x_i²,   x_i = m_i − 1 (moneyness m = K/S centred on 1),

by ordinary least squares. The 3×3 normal equations of all slices are built at once from grouped sums
(``np.bincount``) and solved as one batched ``np.linalg.solve``: no Python loop over slices. Centring on
m − 1 keeps the systems well conditioned (docs/methods.md §3.2: raw moneyness gives condition numbers up to 1e8 on
narrow short-dated smiles). Slices whose design is (numerically) singular — fewer than three distinct
moneyness values — get no fit.

The fit table (``smile_fit_YYYY.parquet``) is the contract with the portfolio stage, which fills a
missing next-day price with the Black–Scholes price at the IV of :func:`smile_iv`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from asset_pricing.options.schema import CP_DTYPE, day_numbers

MIN_QUOTES = 4
SMILE_FIT_COLUMNS: tuple[str, ...] = ("date", "exdate", "cp_flag", "coef_a", "coef_b", "coef_c", "n_quotes")
SMILE_INPUT_COLUMNS: tuple[str, ...] = ("date", "exdate", "cp_flag", "moneyness", "impl_volatility")
_SINGULAR_DETERMINANT = 1e-12


def smile_iv(coef_a: ArrayLike, coef_b: ArrayLike, coef_c: ArrayLike, moneyness: ArrayLike) -> NDArray[np.float64]:
    """Fitted implied volatility exp(a + b·x + c·x²) with x = moneyness − 1 (broadcasting)."""
    x = np.asarray(moneyness, dtype=np.float64) - 1.0
    return np.exp(np.asarray(coef_a, dtype=np.float64) + np.asarray(coef_b, dtype=np.float64) * x + np.asarray(coef_c, dtype=np.float64) * x * x)


def slice_codes(quotes: pd.DataFrame) -> tuple[NDArray[np.int64], pd.DataFrame]:
    """Integer code of each quote's (date, exdate, cp_flag) slice and the table of slices (one row per code)."""
    date_days = day_numbers(quotes["date"])
    tau = day_numbers(quotes["exdate"]) - date_days
    cp_code = np.asarray(pd.Categorical(quotes["cp_flag"], dtype=CP_DTYPE).codes, dtype=np.int64)
    key = (date_days * 65_536 + tau) * 2 + cp_code
    codes, uniques = pd.factorize(key, sort=True)
    cp_of_slice = uniques % 2
    tau_of_slice = (uniques // 2) % 65_536
    date_of_slice = uniques // 2 // 65_536
    slices = pd.DataFrame(
        {
            "date": (date_of_slice * 86_400 * 10**9).astype("datetime64[ns]"),
            "exdate": ((date_of_slice + tau_of_slice) * 86_400 * 10**9).astype("datetime64[ns]"),
            "cp_flag": pd.Categorical.from_codes(cp_of_slice, dtype=CP_DTYPE),
        }
    )
    return codes.astype(np.int64), slices


def grouped_quadratic_fit(
    codes: NDArray[np.int64], x: NDArray[np.float64], y: NDArray[np.float64], n_groups: int, *, min_count: int = MIN_QUOTES
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """Least-squares y = a + b·x + c·x² in every group at once via the normal equations.

    Parameters
    ----------
    codes : group code of each observation, 0 … n_groups−1.
    x, y : regressor (centred) and response; observations with non-finite y are ignored.
    n_groups : number of groups.
    min_count : groups with fewer valid observations get no fit.

    Returns
    -------
    coefficients : (n_groups, 3) array of (a, b, c); NaN where there is no fit.
    counts : valid observations per group.
    fitted : boolean mask of groups with a fit.
    """
    valid = np.isfinite(y) & np.isfinite(x)
    codes, x, y = codes[valid], x[valid], y[valid]
    x2 = x * x
    moment = [np.bincount(codes, weights=w, minlength=n_groups) for w in (None, x, x2, x2 * x, x2 * x2)]
    cross = [np.bincount(codes, weights=w, minlength=n_groups) for w in (y, x * y, x2 * y)]
    counts = moment[0].astype(np.int64)
    normal = np.empty((n_groups, 3, 3))
    for i in range(3):
        for j in range(3):
            normal[:, i, j] = moment[i + j]
    rhs = np.stack(cross, axis=1)
    # determinant of the correlation-scaled matrix in [0, 1]: near 0 means a singular design
    scale = 1.0 / np.sqrt(np.where(np.diagonal(normal, axis1=1, axis2=2) > 0, np.diagonal(normal, axis1=1, axis2=2), 1.0))
    scaled = normal * scale[:, :, None] * scale[:, None, :]
    fitted = (counts >= min_count) & (np.linalg.det(scaled) > _SINGULAR_DETERMINANT)
    coefficients = np.full((n_groups, 3), np.nan)
    if fitted.any():
        coefficients[fitted] = np.linalg.solve(normal[fitted], rhs[fitted][:, :, None])[:, :, 0]
    return coefficients, counts, fitted


def fit_smile_with_values(quotes: pd.DataFrame, fit_rows: NDArray[np.bool_] | None = None) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """Smile fits per slice and each quote's fitted IV (NaN in slices without a fit).

    ``quotes`` needs date, exdate, cp_flag, moneyness and impl_volatility (positive; others ignored).
    With ``fit_rows``, only those quotes enter the fits; the others get the fitted IV of their slice
    only inside the moneyness range of the slice's fitted quotes (never extrapolated), else NaN.
    """
    codes, slices = slice_codes(quotes)
    iv = quotes["impl_volatility"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_iv = np.where(iv > 0, np.log(iv), np.nan)
    x = quotes["moneyness"].to_numpy(dtype=np.float64) - 1.0
    coefficients, counts, fitted = grouped_quadratic_fit(codes, x, log_iv if fit_rows is None else np.where(fit_rows, log_iv, np.nan), len(slices))
    table = slices.assign(coef_a=coefficients[:, 0], coef_b=coefficients[:, 1], coef_c=coefficients[:, 2], n_quotes=counts)
    table = table.loc[fitted, list(SMILE_FIT_COLUMNS)].reset_index(drop=True)
    row_coefficients = coefficients[codes]
    fitted_iv = smile_iv(row_coefficients[:, 0], row_coefficients[:, 1], row_coefficients[:, 2], x + 1.0)
    if fit_rows is not None:
        in_fit = pd.Series(x[fit_rows]).groupby(codes[fit_rows])
        x_min = in_fit.min().reindex(range(len(slices))).to_numpy()
        x_max = in_fit.max().reindex(range(len(slices))).to_numpy()
        inside = (x >= x_min[codes]) & (x <= x_max[codes])
        fitted_iv = np.where(fit_rows | inside, fitted_iv, np.nan)
    return table, fitted_iv


def fit_smile(quotes: pd.DataFrame) -> pd.DataFrame:
    """Smile fit table: date, exdate, cp_flag, coef_a, coef_b, coef_c, n_quotes (slices with ≥ 4 quotes).

    log(IV) = coef_a + coef_b·(m − 1) + coef_c·(m − 1)², fitted by least squares per slice.
    """
    table, _ = fit_smile_with_values(quotes)
    return table
