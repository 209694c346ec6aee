"""Black–Scholes–Merton beyond the golden case: vega with a dividend yield, implied volatility of price
vectors and of deep in-the-money calls (Black and Scholes 1973, Merton 1973)."""

from __future__ import annotations

import numpy as np
import pytest

from asset_pricing.options.bsm import bs_price, bs_vega, implied_volatility


def test_vega_with_a_dividend_yield_is_the_derivative_in_volatility():
    S, K, T, r, q, sigma = 100.0, np.array([90.0, 110.0]), 2.0, 0.01, 0.04, 0.3
    numeric = (bs_price(S, K, T, r, q, sigma + 1e-5, False) - bs_price(S, K, T, r, q, sigma - 1e-5, False)) / 2e-5
    np.testing.assert_allclose(bs_vega(S, K, T, r, q, sigma), numeric, rtol=1e-6)


def test_implied_volatility_of_a_price_vector_with_scalar_terms():
    sigma = np.array([0.15, 0.3, 0.6])
    prices = bs_price(100.0, 95.0, 0.5, 0.02, 0.01, sigma, True)
    np.testing.assert_allclose(implied_volatility(prices, 100.0, 95.0, 0.5, 0.02, 0.01, True), sigma, atol=1e-8)


def test_implied_volatility_of_a_deep_in_the_money_call():
    # its price (81.1) is far above any put price at the same terms (at most 19.4 = K e^{-rT}), so the call's
    # own price range decides validity
    price = bs_price(100.0, 20.0, 1.0, 0.03, 0.0, 0.9, True)
    assert price > 20.0 * np.exp(-0.03)
    assert implied_volatility(price, 100.0, 20.0, 1.0, 0.03, 0.0, True) == pytest.approx(0.9, abs=1e-6)


def test_implied_volatility_of_one_price_against_several_strikes_has_their_shape():
    price = bs_price(100.0, 100.0, 0.25, 0.02, 0.0, 0.2, False)
    implied = implied_volatility(price, 100.0, np.array([90.0, 100.0, 110.0]), 0.25, 0.02, 0.0, False)
    assert implied.shape == (3,)
    assert implied[1] == pytest.approx(0.2, abs=1e-8)
