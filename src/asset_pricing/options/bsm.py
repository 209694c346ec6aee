"""Black–Scholes–Merton prices, deltas, elasticities and implied volatilities (European, dividend yield).

All functions are vectorized over numpy arrays (broadcasting), float64 throughout, and use
``scipy.special.ndtr`` for the standard normal CDF. Conventions: ``S`` underlying level, ``K`` strike,
``T`` years to expiry (calendar days / 365), ``r`` continuously compounded risk-free rate, ``q``
continuous dividend yield, ``sigma`` annualized volatility, ``is_call`` boolean (True call, False put).

Source: Black and Scholes (1973), Merton (1973); elasticity ω = Δ·S/P as in Constantinides, Jackwerth
and Savov (2013, §1.3): calls ω > 1, puts ω < −1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]


def _d1_d2(S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike, sigma: ArrayLike) -> tuple[FloatArray, FloatArray]:
    S, K, T, r, q, sigma = (np.asarray(x, dtype=np.float64) for x in (S, K, T, r, q, sigma))
    vol_sqrt_t = sigma * np.sqrt(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(S / K) + (r - q + 0.5 * sigma**2) * T) / vol_sqrt_t
    return d1, d1 - vol_sqrt_t


def bs_price(S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike, sigma: ArrayLike, is_call: ArrayLike) -> FloatArray:
    """European option price: call S e^{-qT} N(d1) − K e^{-rT} N(d2); put K e^{-rT} N(−d2) − S e^{-qT} N(−d1)."""
    d1, d2 = _d1_d2(S, K, T, r, q, sigma)
    S, K, T, r, q = (np.asarray(x, dtype=np.float64) for x in (S, K, T, r, q))
    disc_s = S * np.exp(-q * T)
    disc_k = K * np.exp(-r * T)
    flag = np.asarray(is_call, dtype=bool)
    shape = np.broadcast_shapes(d1.shape, disc_s.shape, disc_k.shape, flag.shape)
    if not shape:
        call = disc_s * ndtr(d1) - disc_k * ndtr(d2)
        put = disc_k * ndtr(-d2) - disc_s * ndtr(-d1)
        return np.where(flag, call, put)
    # each row's own branch only: half the normal CDFs, the same value per row
    d1, d2, disc_s, disc_k, flag = (np.broadcast_to(x, shape) for x in (d1, d2, disc_s, disc_k, flag))
    price = np.empty(shape)
    calls, puts = flag, ~flag
    price[calls] = disc_s[calls] * ndtr(d1[calls]) - disc_k[calls] * ndtr(d2[calls])
    price[puts] = disc_k[puts] * ndtr(-d2[puts]) - disc_s[puts] * ndtr(-d1[puts])
    return price


def bs_delta(S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike, sigma: ArrayLike, is_call: ArrayLike) -> FloatArray:
    """Spot delta ∂P/∂S: call e^{-qT} N(d1); put e^{-qT} (N(d1) − 1)."""
    d1, _ = _d1_d2(S, K, T, r, q, sigma)
    carry = np.exp(-np.asarray(q, dtype=np.float64) * np.asarray(T, dtype=np.float64))
    n_d1 = ndtr(d1)
    return carry * np.where(np.asarray(is_call, dtype=bool), n_d1, n_d1 - 1.0)


def bs_elasticity(
    S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike, sigma: ArrayLike, is_call: ArrayLike, price: ArrayLike | None = None
) -> FloatArray:
    """Elasticity ω = Δ·S / P (CJS 2013 eq. for ω_BSM); ``price`` defaults to the model price.

    CJS use the BSM delta from the quote's implied volatility and the quote's own price (mid), so pass
    ``price=mid`` for observed quotes. Calls have ω > 1 and puts ω < −1.
    """
    delta = bs_delta(S, K, T, r, q, sigma, is_call)
    p = bs_price(S, K, T, r, q, sigma, is_call) if price is None else np.asarray(price, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return delta * np.asarray(S, dtype=np.float64) / p


def bs_vega(S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike, sigma: ArrayLike) -> FloatArray:
    """Vega ∂P/∂σ = S e^{-qT} φ(d1) √T (same for calls and puts)."""
    d1, _ = _d1_d2(S, K, T, r, q, sigma)
    S, T, q = (np.asarray(x, dtype=np.float64) for x in (S, T, q))
    return S * np.exp(-q * T) * np.exp(-0.5 * d1**2) / np.sqrt(2.0 * np.pi) * np.sqrt(T)


def implied_volatility(
    price: ArrayLike, S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike, is_call: ArrayLike,
    *, low: float = 1e-4, high: float = 5.0, tol: float = 1e-10, max_iter: int = 100,
) -> FloatArray:
    """Implied volatility by vectorized bisection on [low, high] (the price is monotone in σ).

    Returns NaN where the price lies outside the no-arbitrage range spanned by σ ∈ [low, high].
    """
    price = np.asarray(price, dtype=np.float64)
    shape = np.broadcast_shapes(price.shape, *(np.shape(x) for x in (S, K, T, r, q, is_call)))
    args = [np.broadcast_to(np.asarray(x, dtype=np.float64), shape) for x in (S, K, T, r, q)]
    flag = np.broadcast_to(np.asarray(is_call, dtype=bool), shape)
    target = np.broadcast_to(price, shape)
    price_at = _price_of_sigma(*args, flag) if shape else (lambda sigma: bs_price(*args, sigma, flag))
    lo = np.full(shape, low)
    hi = np.full(shape, high)
    p_lo = price_at(lo)
    p_hi = price_at(hi)
    valid = (target >= p_lo) & (target <= p_hi)
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        above = price_at(mid) > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        if np.nanmax(hi - lo, initial=0.0) < tol:
            break
    return np.where(valid, 0.5 * (lo + hi), np.nan)


def _price_of_sigma(S: FloatArray, K: FloatArray, T: FloatArray, r: FloatArray, q: FloatArray, is_call: NDArray[np.bool_]):  # noqa: ANN202
    """σ ↦ :func:`bs_price` (S, K, T, r, q, σ, is_call) for arrays of one shape, with the parts that do not depend
    on σ (log S/K, √T, r − q, the discounted spot and strike, the call and put rows) computed once: the same
    expressions on the same values, so the same bits, for the repeated pricing of a bisection."""
    sqrt_t = np.sqrt(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_moneyness = np.log(S / K)
    carry = r - q
    disc_s = S * np.exp(-q * T)
    disc_k = K * np.exp(-r * T)
    calls, puts = is_call, ~is_call

    def price(sigma: FloatArray) -> FloatArray:
        vol_sqrt_t = sigma * sqrt_t
        with np.errstate(divide="ignore", invalid="ignore"):
            d1 = (log_moneyness + (carry + 0.5 * sigma**2) * T) / vol_sqrt_t
        d2 = d1 - vol_sqrt_t
        out = np.empty(d1.shape)
        out[calls] = disc_s[calls] * ndtr(d1[calls]) - disc_k[calls] * ndtr(d2[calls])
        out[puts] = disc_k[puts] * ndtr(-d2[puts]) - disc_s[puts] * ndtr(-d1[puts])
        return out

    return price
