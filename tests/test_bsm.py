"""Black–Scholes–Merton: golden prices, parity, implied-volatility round trips, elasticity signs (docs/methods.md §4.2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from asset_pricing.options.bsm import bs_delta, bs_elasticity, bs_price, bs_vega, implied_volatility

# Golden case: S=100, K=120, r=0.05, T=1.75, sigma=0.65, no dividend.
GOLDEN = dict(S=100.0, K=120.0, T=1.75, r=0.05, q=0.0, sigma=0.65)


def test_call_price_matches_golden_value():
    assert bs_price(**GOLDEN, is_call=True) == pytest.approx(30.156619040994123, abs=1e-12)


def test_put_price_matches_golden_value():
    assert bs_price(**GOLDEN, is_call=False) == pytest.approx(40.102883639099424, abs=1e-12)


def test_put_call_parity_holds_with_dividend_yield():
    S, K, T, r, q, sigma = 1500.0, np.array([1300.0, 1500.0, 1700.0]), 0.25, 0.03, 0.02, 0.2
    call = bs_price(S, K, T, r, q, sigma, True)
    put = bs_price(S, K, T, r, q, sigma, False)
    np.testing.assert_allclose(call - put, S * np.exp(-q * T) - K * np.exp(-r * T), rtol=0, atol=1e-9)


def test_delta_is_the_derivative_of_the_price():
    S, K, T, r, q, sigma = 100.0, np.array([80.0, 100.0, 125.0]), 0.3, 0.02, 0.015, 0.25
    bump = 1e-4
    for is_call in (True, False):
        numeric = (bs_price(S + bump, K, T, r, q, sigma, is_call) - bs_price(S - bump, K, T, r, q, sigma, is_call)) / (2 * bump)
        np.testing.assert_allclose(bs_delta(S, K, T, r, q, sigma, is_call), numeric, rtol=1e-7, atol=1e-9)


def test_vega_is_the_derivative_in_volatility():
    S, K, T, r, q, sigma = 100.0, np.array([90.0, 110.0]), 0.5, 0.01, 0.0, 0.3
    numeric = (bs_price(S, K, T, r, q, sigma + 1e-5, True) - bs_price(S, K, T, r, q, sigma - 1e-5, True)) / 2e-5
    np.testing.assert_allclose(bs_vega(S, K, T, r, q, sigma), numeric, rtol=1e-6)


@pytest.mark.parametrize("is_call", [True, False])
def test_implied_volatility_inverts_the_price_across_strikes_and_maturities(is_call):
    S, r, q = 2000.0, 0.03, 0.02
    K = np.array([1600.0, 1800.0, 2000.0, 2200.0, 2400.0])[:, None]
    T = np.array([10.0, 30.0, 90.0, 180.0])[None, :] / 365.0
    sigma = np.array([0.35, 0.25, 0.18, 0.15, 0.14])[:, None] * np.ones_like(T)
    price = bs_price(S, K, T, r, q, sigma, is_call)
    recovered = implied_volatility(price, S, K, T, r, q, is_call)
    intrinsic = np.maximum((S * np.exp(-q * T) - K * np.exp(-r * T)) * (1 if is_call else -1), 0.0)
    informative = price - intrinsic > 1e-4 * S  # a price that is all intrinsic value carries no volatility
    np.testing.assert_allclose(recovered[informative], sigma[informative], atol=1e-7)
    assert informative.sum() >= 14


def test_implied_volatility_of_the_golden_prices_is_065():
    for is_call, price in ((True, 30.156619040994123), (False, 40.102883639099424)):
        iv = implied_volatility(price, GOLDEN["S"], GOLDEN["K"], GOLDEN["T"], GOLDEN["r"], GOLDEN["q"], is_call)
        assert iv == pytest.approx(0.65, abs=1e-9)


def test_implied_volatility_is_nan_below_intrinsic_value():
    intrinsic = 100.0 - 80.0 * np.exp(-0.05 * 0.5)
    assert np.isnan(implied_volatility(intrinsic - 1.0, 100.0, 80.0, 0.5, 0.05, 0.0, True))


def test_call_elasticity_exceeds_one_and_put_elasticity_is_below_minus_one():
    S, r, q = 100.0, 0.03, 0.02
    K = np.linspace(80.0, 120.0, 17)[:, None]
    T = np.array([7.0, 30.0, 90.0, 180.0])[None, :] / 365.0
    call = bs_elasticity(S, K, T, r, q, 0.2, True)
    put = bs_elasticity(S, K, T, r, q, 0.2, False)
    finite = np.isfinite(call) & np.isfinite(put)
    assert finite.sum() > 50
    assert (call[finite] > 1.0).all()
    assert (put[finite] < -1.0).all()


def test_elasticity_with_observed_price_is_delta_times_spot_over_mid():
    S, K, T, r, q, sigma, mid = 100.0, 105.0, 60 / 365, 0.02, 0.0, 0.22, 1.7
    d1 = (np.log(S / K) + (r - q + 0.5 * sigma**2) * T) / (sigma * np.sqrt(T))
    assert bs_elasticity(S, K, T, r, q, sigma, True, price=mid) == pytest.approx(norm.cdf(d1) * S / mid, rel=1e-12)
    assert bs_elasticity(S, K, T, r, q, sigma, False, price=mid) == pytest.approx((norm.cdf(d1) - 1.0) * S / mid, rel=1e-12)
