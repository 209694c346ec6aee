"""Synthetic OptionMetrics-format S&P 500 option panel on the real index closes (docs/methods.md §6).

Deterministic from a seed, vectorized with numpy, generated one calendar year at a time (bounded memory).

Market
    The real S&P 500 closes of the embedded data (``load_prices()["SP500"]``); the risk-free rate of the
    embedded Fama–French RF series, y = (1 + RF_month)^12 − 1 for every day of that month (RF_month is
    the one-month T-bill bought at the start of the month, so it is known on each of its days); a
    constant continuous dividend yield q (``DIVIDEND_YIELD``).

    Two rates, as in OptionMetrics: ``rf_annual`` = y is the T-bill rate at which the portfolios' cash
    accrues (docs/methods.md §5), and ``r`` = log1p(y) + s is the continuously compounded rate at which options are
    priced (Black–Scholes, parity, arbitrage bounds), with a constant spread s = ``pricing_rate_spread``
    (40 bp). SPX options embed a rate above T-bills: the box-spread (put–call parity) rate exceeds
    Treasury yields by about 40 bp on average (van Binsbergen, Diamond and Grotteria 2022, "Risk-free
    interest rates", JFE 143(1), 1–29), and OptionMetrics' zero curve is LIBOR/Eurodollar based, some
    30–50 bp above T-bills outside crises. Pricing with the T-bill rate itself (≈ 0 in 2009–2015) puts
    the parity-implied rate of about 40% of the noisy call–put pairs of those years below zero (filter 8).

Contracts
    Expirations on the third Friday of every month, listed up to ``monthly_horizon_days`` ahead, and of
    the quarterly months (Mar, Jun, Sep, Dec) further out, up to ``quarterly_horizon_days`` (τ from 1
    to ~370 days). Strikes on a 5-point grid within ±35% of the index, a 25-point grid beyond, over
    moneyness K/S ∈ [0.5, 1.5]. Every strike has a call and a put; ``optionid`` is a function of
    (exdate, strike, type), so it is stable across days.

Size
    The contract-days of that universe are sampled to about ``target_quotes`` rows with a coupled
    ("threshold") design: each (exdate, strike) has one number u ∈ [0, 1), and is quoted on day t when
    u < c·g(m_t, τ_t)·h(K), where

    - g = 1 where real SPX quotes are dense and the CJS portfolios need them (|m − 1| ≤ 0.14, i.e. the
      reach of the moneyness kernel around 0.90–1.10, and τ ≤ 120 days, the reach of the 90-day target),
      decaying beyond (Gaussian in m with scale 0.05, exponential in τ with scale 45 days) to a floor of
      0.03 that keeps the wings (m ≈ 0.5–1.5, τ to ~370) in the panel;
    - h(K) = 1000/K scales the share of quoted strikes with the index level, so the quoted strikes near
      the money are about as far apart in moneyness (≈ 5/(1000·c)) in 1996 (S ≈ 600) as in 2018
      (S ≈ 2800): a portfolio's kernel (bandwidth 0.0125) sees about the same number of quotes every year;
    - u = frac(k·α + o) with k = K/5 the strike's index on the 5-point grid, α = (5 + √5)/10 and o a
      hash of (exdate, seed): a golden-ratio (Kronecker) sequence, so the quoted strikes of an expiry are
      evenly spaced instead of randomly clumped: at a quoted share p the gaps take at most three values
      (the three-gap theorem; here consecutive Fibonacci-like numbers around 1/p, at most ≈ 1.8/p grid
      steps, where independent uniforms leave gaps of several times 1/p), on the 5-point and on the
      25-point grid alike (5α mod 1 is the golden ratio too);
    - c is the value at which the rows counted on every 5th trading day match the target. Where c·g·h ≥
      1 every listed strike is quoted. The default 5 million quotes give c ≈ 0.94: near the money every
      strike up to K ≈ 940 and, above, a strike every ≈ 0.53% of moneyness (about 13 quotes per CJS
      portfolio-day after the filters).

    A quoted contract stays quoted from one day to the next (as on a real exchange): u and h are fixed
    per contract, g is 1 in the dense region and only rises as τ falls towards it.

Implied volatility surface (per contract-day)
    ln σ = ln σ̄(τ, t) + ℓ(τ, t) + m(τ)·L_t − ½(sd_L·m(τ))² + W·tanh((s·e^{k_t − ½sd_k²}·x + c·x²)/W) + ε,
    x = ln(K/S_t),
    σ̄²(τ, t) = VP · [θ + (v_t − θ)(1 − e^{−κT})/(κT)]      (the ATM level before the leverage term),
    s = s₃₀·(30/τ)^p·(σ_ref/σ̄)^a,   c = c₃₀·(30/τ)^p·(σ_ref/σ̄)^b,   ℓ = R·s·Λ·tanh(gap_t/Λ),
    v_t = EWMA (decay λ) of the real daily squared log returns ×252, down days weighted 1.2 and up days
    0.8 (asymmetric news, as in GJR-GARCH), θ the long-run mean of v over the whole embedded history (a
    constant of the calibration), VP the variance premium, κ the speed of mean reversion (term
    structure), gap_t = ln S_t − EWMA(ln S) (half-life 10 days), W the wing cap, L_t and k_t the
    surface shocks below (m(τ) their maturity loading).

    Smile: the skew s < 0 and the curvature c > 0 are steeper at short maturities and, in log terms, at
    low levels (a = 0.75, b = 1, σ_ref = 0.2): the 30-day σ(0.9 S)/σ_ATM is about 1.54, 1.47, 1.38, 1.27
    and 1.18 and σ(1.1 S)/σ_ATM about 0.72, 0.75, 0.78, 0.83 and 0.88 at ATM levels of 11%, 13%, 16.5%, 25%
    and 40% (real SPX on 17 July 2013, VIX 13.8: 1.36 and 0.81, CBOE data quoted by M. Moran on
    spvixviews.com; version 5's s₃₀ = −2.2, c₃₀ = 3 gave 1.42 and 0.79 at 13%: version 6 trades that day's
    smile for the published option returns, see the table). A smile constant in log terms (generator version 1) priced 30-day 10%-out-of-the-
    money puts at 0.1–0.4 index points in calm years (real: about 0.5–1), and many had zero bids.

    Leverage effect: with R > 1 (the skew stickiness ratio: 1 for sticky strike, 2 for local
    volatility) the ATM level falls by more than the skew when the index rises (d ln σ_ATM / d ln S ≈
    R·s for moves inside ±Λ), so a fixed strike's IV falls as the index rises, as on real SPX
    (d ln σ_K / d ln S ≈ (R − 1)·s < 0); the variance forecast adds to both (down days weigh more). A
    smile that only moved with moneyness would do the opposite. The tanh lets the response stay about
    linear up to gaps of ±15% and saturate beyond Λ = 30% (version 6; 5% in version 5, when a crash month's
    IV rose mostly through the variance forecast v_t, too little and too late: see the table). Measured
    on the model σ (30 days, default seed, daily changes over 1996–2018): d ln σ_ATM / d ln S ≈ −3.5 at
    fixed moneyness and, at a fixed strike, −0.84 (K = 0.9 S), −1.07 (K = S), −1.56 (K = 1.1 S) (version
    5 by the same measure: −2.85; −0.38, −0.83, −1.42): every fixed strike's IV falls as the index rises.

    Level (version 6, default seed, model σ at x = 0 and τ = 30, with the shocks): the 30-day ATM IV
    averages 20.5% over 1996–2012 (version 5: 20.8% by the same measure; forward 21-day realized volatility
    17.9%, the VIX about 22% — the VIX, a variance-swap rate, sits 1–2 points above ATM IV); by year it
    tracks the VIX (2005–2006: 12% vs 12.8%; 2002: 25.4% vs 27.3%; 2008: 30.7% vs 32.7%; October 2008 54%,
    the VIX averaged about 60%; version 5: 48%) but stays high longer after crises (2009: 39.2% vs 31.5%)
    and is low in 1996–1997 (12–15% vs 16–22%).

    Surface shocks: everything above moves with the index (its path, its squared returns, its trend
    gap); real IV surfaces also move when the index does not. Daily changes of the VIX have an sd of
    about 6% in log terms and index returns explain only about half to two thirds of their variance; two
    factors with different persistence, and a smirk whose slope moves apart from its level, are needed to
    fit S&P 500 options (Christoffersen, Heston and Jacobs 2009, "The shape and term structure of the
    index option smirk", Management Science 55(12)). Two shocks, independent of the index and of each
    other, each a stationary Gaussian AR(1) on trading days (sd and half-life; :func:`ar1_path`) drawn
    from its own random stream of the seed (so they leave every other draw of the panel as it was):

    - a level shock L_t that moves every strike's ln σ by m(τ)·L_t, m(τ) = g(τ)/g(30) with g(τ) =
      (1 − e^{−kT})/(kT) and k the shock's decay rate (ln 2 / half-life): the average of the shock over
      the option's life, as in σ̄² (1 at 30 days, 0.58 at 90 with a 20-day half-life, 0.43 with 10);
    - a skew shock k_t that scales the skew s by e^{k_t} (steeper and flatter smiles at the same level).

    The −½sd² terms make E[e^{…}] = 1: the shocks add risk, not a premium (a long option still gains
    from the shocks' variance through its convexity in σ, the premium of vol-of-vol that Black–Scholes
    prices at zero; the calibration below includes it).

    Quote noise ε ~ N(0, quote_noise²) is shared by the call and the put of a strike (parity ties them)
    and mostly persistent, as on real quotes (a strike's IV sits off a smooth smile for days, not one day
    at a time): ε = quote_noise·(√ρ·z_K + √(1 − ρ)·z_{K,t}) with z_K fixed per (exdate, strike), z_{K,t}
    new every day and ρ = ``persistent_noise_share``.

Quotes
    Black–Scholes–Merton prices with the dividend yield (:mod:`asset_pricing.options.bsm`); quoted
    spread 0.10 + 4% of the price (±25% log noise, persistent per contract in the share ρ of its
    variance like the IV noise; capped at 8); bid rounded down and offer up to the tick (0.05 below 3,
    0.10 above) with the mid kept at or above the model price; the vendor's implied
    volatility is the IV of the mid (Newton from the model σ, bisection where Newton fails, NaN where no σ
    fits); delta at that IV; volume and open interest over-dispersed Poisson, highest near the money and
    at short maturities.

Planted defects (ground truth in ``truth_YYYY.parquet``)
    A share ``defect_share`` of the rows for each kind, each aimed at one filter (docs/methods.md §3.2) and planted
    only where no earlier filter would remove the row anyway (7 < τ < 180, 0.83 < m < 1.17, …), at most
    one defect per (date, exdate, strike): duplicates (1), same terms at another price with an IV away
    from the slice median (2), zero bid (3), IV out of range (5), mid below intrinsic value (7; the
    vendor's IV is left stale), put price raised so the parity rate is negative (8; the vendor's IV is
    that of the raised mid, as OptionMetrics computes it, and stays inside 6–95%), smile outliers
    repriced at 1.45–1.6 times (calls) or 0.55–0.65 times (puts) the IV, directions that raise the parity
    rate so filter 8 cannot take them (9), call price raised so the parity rate is 10–25 points above the
    pricing rate r (10; IV left stale; never in an expiry that has a smile outlier, whose fit would pull
    the put leg). A share ``missing_share`` of contract-days has no quote (``missing_quote``, row −1 in
    the truth table).

Quirks (:class:`ContractQuirks`; docs/methods.md §3.3, §6.4)
    The panel carries what a WRDS pull of secid 108105 carries, drawn from a random stream of its own
    (seed, year, :data:`QUIRK_STREAM`), so every standard quote and planted defect is the one the panel
    without quirks has:

    - contract columns ``symbol`` (``SPX 080322C1350000``: root, stored exdate as YYMMDD, C/P,
      strike_price), ``root`` (SPX, SPXW), ``am_settlement`` (1, 0), ``ss_flag`` ("0") and
      ``expiry_indicator`` (NULL for the standard expirations, ``w`` for weeklies);
    - standard (AM-settled) expirations stored as the Saturday after the third Friday before the
      February 2015 expiration, the Friday from then on; each quote is priced to the last trading day
      on or before the stored date (:func:`asset_pricing.options.schema.expiry_trading_days`), as the
      filter stage counts τ, so a Good Friday expiration (2000-04, 2003-04, 2008-03, 2014-04) ends on
      the Thursday and has no quote that day;
    - PM-settled SPXW weeklies from 2005-10-28: every Friday that is not a third Friday (the Thursday
      when the Friday is a holiday), listed up to 35 days ahead, strikes sampled like the standard ones
      (own low-discrepancy phase) at ``weekly_density`` times their intensity; and from 2015-02 SPXW on
      the third Fridays for a share ``pm_monthly_share`` of the standard (exdate, strike)s quoted that
      day: same (date, exdate, cp_flag, strike) as a standard quote, at another price (own quote noise and
      spread), ``expiry_indicator`` blank as for the standard contract (the hard case: only root and
      am_settlement tell them apart). SPXW rows are priced on the same surface, carry no planted
      defect, have optionids above :data:`WEEKLY_OPTIONID_OFFSET` and come on top of
      ``target_quotes`` (about 11% of the default panel's rows);
    - NULL vendor IVs (:func:`null_implied_volatility`): τ ≤ 1 day, deep in-the-money quotes (K/S
      beyond ±15%) whose time value is below half the quoted spread, and a random 1% — about 11% of the
      default panel's rows; never on a (date, exdate, strike) with a planted defect.

Parameters and where their values come from (generator version 6)
    =============================  ==========  ========================================================
    parameter                      value       source
    =============================  ==========  ========================================================
    variance_premium VP            1.15        this fit (version 6, below): the level of the put means
                                               (the at-the-money put 0.975–1.025 means, 0.05–0.07 above
                                               the published ones, and the out-of-the-money call means);
                                               the S&P 500 variance risk premium: implied variance
                                               exceeds expected realized variance (Carr and Wu 2009, RFS
                                               22(3); Bollerslev, Tauchen and Zhou 2009, RFS 22(11));
                                               delta-hedged S&P 500 options lose on average (Bakshi and
                                               Kapadia 2003, RFS 16(2)); 1.25 in versions 3–4 gave the
                                               puts almost twice the published premium, 1.20 in version 5
    ewma_lambda λ                  0.99        this fit (half-life 69 trading days; 0.985 in versions
                                               3–4: with the surface shocks it left the at-the-money
                                               put betas 0.11 above the published ones on some seeds);
                                               RiskMetrics' 0.94 (version 2) made the IV jump with the
                                               square of each crash day (October 2008 ATM 76%; VIX
                                               about 60%) and the short out-of-the-money puts' betas
                                               0.3 too high
    down/up_news_weight            1.2 / 0.8   asymmetric response to bad news (Glosten, Jagannathan and
                                               Runkle 1993); 1.2/0.8 this fit (1.4/0.6 before)
    mean_reversion_per_year κ      3.0         term structure of ATM IV; within the estimates of
                                               S&P 500 stochastic-volatility models (about 1–5 a year,
                                               e.g. Bakshi, Cao and Chen 1997; Eraker 2004); version 2
    skew_30d s₃₀, curvature_30d    −2.6, 2.0   this fit (version 6): the slope of the mean returns
                                               across moneyness (a steeper skew makes the out-of-the-
                                               money puts dearer and calls cheaper: with −2.2 the
                                               0.900 put and 1.100 call means sat 0.2–0.3 below the
                                               published ones); c₃₀ keeps the in-the-money call means
                                               falling with moneyness (3.0 in version 5, 4.0 before;
                                               2.5 with s₃₀ = −2.6 left a tie at 0.900/0.925 on one
                                               seed, 1.5 made the 1.100 call mean rise). About the 30-
                                               day smile ratios of real SPX (Smile, above; −2.2, 3.0
                                               from version 2 fit them closer)
    maturity_exponent p            0.4         ATM skew decays with maturity as about τ^(−0.4…−0.5)
                                               (Gatheral 2006, "The Volatility Surface", ch. 5);
                                               version 2
    reference_volatility σ_ref     0.2         level at which s = s₃₀ and c = c₃₀; version 2
    skew/curvature_level_exponent  0.75 / 1.0  steeper skew in calm markets (Smile, above); version 2
    min_skew_days                  7           shortest maturity whose skew still steepens; version 2
    wing_cap W                     1.2         a wing IV at most e^1.2 = 3.3 times the ATM level
    leverage_ratio R               1.5         this fit (version 6; 2.0 in versions 3–5): between
                                               sticky strike (1) and the local-volatility stickiness
                                               (2; Bergomi 2016, "Stochastic Volatility Modeling", ch.
                                               2, skew stickiness ratio); with the wider cap below, R
                                               sets the out-of-the-money call and put means (R = 2
                                               with Λ = 0.3 put the 1.100 call 0.3 below the published
                                               mean, R = 1.27 put it 0.2–0.3 above)
    leverage_halflife_days         10          trend of ln S the gap is measured against; version 2
    leverage_cap Λ                 0.30        this fit (version 6; 0.05 in version 5, 0.08 before):
                                               the out-of-the-money call series' R² and residual sd
                                               (with a 5% cap they gained in crash months, Sep–Oct
                                               2008 +13%/+14% while the market fell 9%/17%, published
                                               +6%/−3%: R² 0.27 vs 0.46 at 1.100); the response stays
                                               about linear in crashes (October 2008 ATM IV 54%)
    level_shock_sd sd_L            0.05        this fit (version 5): residual sd of the out-of-the-money
                                               series (below); daily innovation sd 0.05·√(1 − φ²) =
                                               0.018 and monthly change sd 0.062 in log IV at 30
                                               days, below the part of log-VIX changes the index does
                                               not explain (daily sd about 6%, R² on index returns
                                               about 0.5–0.7: about 0.035–0.045 a day), since the
                                               EWMA and trend terms move with squared returns too
    level_shock_halflife_days      10          a fast factor (Christoffersen, Heston and Jacobs 2009:
                                               S&P 500 option prices need a fast- and a slow-reverting
                                               variance factor; the slow one is the EWMA v_t here)
    skew_shock_sd sd_k             0.3         this fit (version 5): the skew varies by about ±30%
                                               (one sd) around s at a given level, e.g. a 30-day
                                               σ(0.9 S)/σ_ATM of 1.29–1.51 at an ATM of 15%; the
                                               smirk's slope moves apart from its level
                                               (Christoffersen, Heston and Jacobs 2009)
    skew_shock_halflife_days       20          this fit (version 5); a longer half-life (60) made the
                                               put 0.900 mean depend on the seed by ±0.15% a month
    quote_noise, persistent share  0.01, 0.75  version 2 (Quote noise, above)
    pricing_rate_spread            0.004       van Binsbergen, Diamond and Grotteria (2022) (Market)
    dividend_yield q               0.02        setting DIVIDEND_YIELD; the S&P 500's yield averaged
                                               about 1.9% over 1996–2018
    defect_share, missing_share    0.002, 0.01 settings SYNTHETIC_DEFECT_SHARE, SYNTHETIC_MISSING_SHARE
    target_quotes                  5,000,000   setting SYNTHETIC_QUOTES: about 13.8 quotes per CJS
                                               portfolio-day after the filters; real OptionMetrics SPX
                                               has about 19 million raw quotes over 1996–2019 (the
                                               benchmark's size), so the default is about a quarter of
                                               the real density. Counts the standard contracts only
    saturday_expiration_before     2015-02-01  CBOE ("Ask the Institute", 7 October 2013): SPX expires
                                               on the Saturday after the third Friday until the February
                                               2015 expiration, on the Friday from then on
    weekly_start                   2005-10-28  CBOE listed its first SPX Weeklys in October 2005
    weekly_horizon_days            35          this panel's choice: the next four or five Fridays (early
                                               SPX Weeklys were listed a week ahead, later ones weeks
                                               further)
    weekly_density                 0.25        run-time budget, not the market: real SPXW quotes
                                               outnumber standard SPX quotes in OptionMetrics after
                                               about 2012; a quarter of the standard density shows the
                                               quirk with 11% more rows
    pm_monthly_start, _share       2015-02-01, PM-settled third-Friday contracts quoted beside the AM-
                                   0.1         settled ones once both expire on the Friday (CBOE, above);
                                               the share is this panel's choice (enough shared terms
                                               for the filters' tests)
    null_iv_max_days               1           OptionMetrics leaves the IV blank where it cannot be
                                               computed (IvyDB US File and Data Reference Manual, ch. 3,
                                               "Missing Values": mid below intrinsic value, a search that
                                               does not converge); the last day's vega is too small
    null_iv_deep_moneyness,        0.15, 0.5   this fit: deep in-the-money quotes whose time value is
    null_iv_time_value_spreads                 within half a spread, where the vendor's rate and dividend
                                               put the mid below intrinsic; with the 1% below, 11% of
                                               the default panel's rows have a NULL IV (a WRDS pull of
                                               SPX: 7–12%)
    null_iv_share                  0.01        a small random share (non-converging searches elsewhere)
    =============================  ==========  ========================================================

Calibration to the published series (generator version 6)
    The parameters marked "this fit" were chosen so that the default build's 18 HKM series look like
    the ones He, Kelly and Manela (2017) published (built by Constantinides, Jackwerth and Savov 2013
    from real quotes), compared on the months both cover, 1996-01 … 2012-01, where the synthetic panel
    follows the same real S&P 500 path (excess returns over the published file's ``rf``, OLS on its
    ``mkt_rf``; ``docs/methods.md`` §6.3 has the tables, for the default seed and two others). The
    monthly returns compound only the daily returns whose formation day and earning day lie in the same
    month, as the published series do (their loading on the first trading day's index return is 0).

    Version 6 (VP 1.20 → 1.15, s₃₀ −2.2 → −2.6, c₃₀ 3 → 2, R 2 → 1.5, Λ 0.05 → 0.30), on each of the
    seeds 20130901, 7 and 42: every one of the 18 series has its mean within 0.14% a month of the
    published one, its residual sd on ``mkt_rf`` within 16%, its R² within 0.04, its beta within 0.05 and
    its monthly sd within 12%; no NaN month in any of the 54 CJS and 18 HKM series; mean returns fall
    with moneyness for calls and for puts, the put mean is above the call mean at every level, call
    skewness rises with moneyness and every put series is left-skewed. The closest of these is the
    in-the-money call ordering (0.900 above 0.925 by 0.003–0.010% a month; published 0.017). Version 5
    under the same convention: out-of-the-money call R² 0.27 vs 0.46 at 1.100 (residual sd 30% too
    high, beta 0.07 low), from the crash months (Leverage effect, above).

    Version 5 (VP 1.25 → 1.20, c₃₀ 4 → 3, λ 0.985 → 0.99, the two surface shocks) brought the put and
    out-of-the-money call means to the published ones up to a common 0.3–0.4% a month, which the
    monthly convention above explains (the first trading day's index return, +0.27% a month on average
    over 1996–2012). Version 2 (λ = 0.94, VP = 1.1, R = 1.5, Λ = 0.08, news 1.4/0.6) gave put betas
    1.36 → 1.02 and put means that rose with moneyness.

Clean world (:meth:`SyntheticPanelSpec.clean_world`): flat σ, no noise, no defects, no missing quotes,
no tick rounding (mid = Black–Scholes price at the pricing rate r exactly, IV = σ) — the "Black–Scholes
world" in which leverage-adjusted option portfolios must have a market beta of one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri

from asset_pricing.options.bsm import bs_delta, bs_price, implied_volatility
from asset_pricing.options.schema import (
    CONTRACT_FLAG_COLUMNS, CP_DTYPE, DATA_SOURCE_LABELS, RAW_QUOTE_COLUMNS, STANDARD_SS_FLAG, STRIKE_SCALE, day_numbers,
    expiry_trading_days, frame_of_columns,
)

import settings

log = logging.getLogger(__name__)

SYNTHETIC_LABEL = DATA_SOURCE_LABELS["synthetic"]
TRADING_DAYS_PER_YEAR = 252
DEFECT_TARGET_STEP: dict[str, int] = {
    "duplicate": 1,
    "different_price": 2,
    "zero_bid": 3,
    "iv_out_of_range": 5,
    "below_intrinsic": 7,
    "parity_negative_rate": 8,
    "smile_outlier": 9,
    "parity_outlier": 10,
}
MISSING_QUOTE = "missing_quote"
DEFECT_DTYPE = pd.CategoricalDtype(categories=[*DEFECT_TARGET_STEP, MISSING_QUOTE])
TRUTH_COLUMNS: tuple[str, ...] = ("row", "date", "optionid", "defect", "target_step")
GENERATOR_VERSION = 6  # bump when the algorithm changes, so the pull stage regenerates stale files
QUOTE_FILE_COLUMNS: tuple[str, ...] = RAW_QUOTE_COLUMNS + CONTRACT_FLAG_COLUMNS  # a year's quote file, in this order
STANDARD_ROOT, WEEKLY_ROOT = "SPX", "SPXW"
WEEKLY_EXPIRY, NO_EXPIRY_INDICATOR = "w", None
WEEKLY_OPTIONID_OFFSET = 10**12  # SPXW optionids: the formula of contract_optionid plus this (never a standard id)
QUIRK_STREAM = 0x5158  # the PM-settled rows and NULL IVs draw from their own random stream (the standard panel's draws are unchanged)
WEEKLY_SAMPLING_SALT, PM_MONTHLY_SALT, WEEKLY_NOISE_SALT = 0x27D4EB2F165667C5, 0x165667B19E3779F9, 0x61C8864680B583EB
_ESTIMATE_STRIDE_DAYS = 5
SPREAD_NOISE = 0.25  # sd of the log deviation of a quoted spread from 0.10 + 4% of the price
STRIKE_SEQUENCE_STEP = (5.0 + np.sqrt(5.0)) / 10.0  # α of the Kronecker sequence; α and 5α mod 1 are golden
# salts that decorrelate the contracts' persistent draws (IV noise, call and put spreads) from the sampling
IV_NOISE_SALT, CALL_SPREAD_SALT, PUT_SPREAD_SALT = 0x2545F4914F6CDD1D, 0x369DEA0F31A53F85, 0x1B873593CC9E2D51
SURFACE_SHOCK_SALT = 0x5851F42D4C957F2D  # the stream of the surface's level and skew shocks (one draw per trading day)
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class VolatilitySurface:
    """Parameters of the implied-volatility surface (see the module docstring for the formula)."""

    variance_premium: float = 1.15
    ewma_lambda: float = 0.99
    down_news_weight: float = 1.2
    up_news_weight: float = 0.8
    mean_reversion_per_year: float = 3.0
    skew_30d: float = -2.6
    curvature_30d: float = 2.0
    maturity_exponent: float = 0.4
    reference_volatility: float = 0.2
    skew_level_exponent: float = 0.75
    curvature_level_exponent: float = 1.0
    min_skew_days: float = 7.0
    wing_cap: float = 1.2
    leverage_ratio: float = 1.5
    leverage_halflife_days: float = 10.0
    leverage_cap: float = 0.30
    quote_noise: float = 0.01
    persistent_noise_share: float = 0.75
    level_shock_sd: float = 0.05
    level_shock_halflife_days: float = 10.0
    skew_shock_sd: float = 0.3
    skew_shock_halflife_days: float = 20.0
    flat_volatility: float | None = None


@dataclass(frozen=True)
class ContractGrid:
    """Listed expirations and strikes, and the sampling weight g(m, τ)·h(K) of contract-days (module docstring)."""

    near_step: float = 5.0
    far_step: float = 25.0
    near_band: float = 0.35
    moneyness_range: tuple[float, float] = (0.5, 1.5)
    monthly_horizon_days: int = 240
    quarterly_horizon_days: int = 370
    core_moneyness: float = 0.14
    moneyness_decay: float = 0.05
    core_tau_days: float = 120.0
    tau_decay_days: float = 45.0
    weight_floor: float = 0.03
    reference_strike: float = 1000.0


@dataclass(frozen=True)
class ContractQuirks:
    """OptionMetrics' quirks the panel carries (module docstring, "Quirks"); ``enabled`` = False in the clean world.

    The Saturday storage of standard expirations applies in every mode (it is how the vendor stores the
    date, not a defect); ``enabled`` switches the PM-settled SPXW rows and the NULL implied volatilities.
    """

    enabled: bool = True
    saturday_expiration_before: str = "2015-02-01"
    weekly_start: str = "2005-10-28"
    weekly_horizon_days: int = 35
    weekly_density: float = 0.25
    pm_monthly_start: str = "2015-02-01"
    pm_monthly_share: float = 0.1
    null_iv_max_days: int = 1
    null_iv_deep_moneyness: float = 0.15
    null_iv_time_value_spreads: float = 0.5
    null_iv_share: float = 0.01


@dataclass(frozen=True)
class SyntheticPanelSpec:
    """Everything that determines the synthetic panel; equal specs give identical panels."""

    start: pd.Timestamp
    end: pd.Timestamp
    target_quotes: int = 5_000_000  # setting SYNTHETIC_QUOTES
    seed: int = 20130901
    dividend_yield: float = 0.02
    pricing_rate_spread: float = 0.004  # r = log1p(rf_annual) + this (continuous; module docstring, "Market")
    secid: int = 108105
    defect_share: float = 0.002
    missing_share: float = 0.01
    tick_rounding: bool = True
    surface: VolatilitySurface = field(default_factory=VolatilitySurface)
    grid: ContractGrid = field(default_factory=ContractGrid)
    quirks: ContractQuirks = field(default_factory=ContractQuirks)

    @classmethod
    def from_settings(cls, cfg: dict[str, Any]) -> "SyntheticPanelSpec":
        """The spec of the settings OPTIONS_START/END, SYNTHETIC_*, DIVIDEND_YIELD, OPTIONS_SECID."""
        return cls(
            start=pd.Timestamp(cfg["OPTIONS_START"]),
            end=pd.Timestamp(cfg["OPTIONS_END"]),
            target_quotes=int(cfg["SYNTHETIC_QUOTES"]),
            seed=int(cfg["SYNTHETIC_SEED"]),
            dividend_yield=float(cfg["DIVIDEND_YIELD"]),
            secid=int(cfg["OPTIONS_SECID"]),
            defect_share=float(cfg["SYNTHETIC_DEFECT_SHARE"]),
            missing_share=float(cfg["SYNTHETIC_MISSING_SHARE"]),
        )

    def clean_world(self, sigma: float = 0.2) -> "SyntheticPanelSpec":
        """Black–Scholes world: flat σ, no quote noise, no defects, no missing quotes, no tick rounding, no
        SPXW rows or NULL IVs (standard expirations keep their Saturday storage before 2015-02)."""
        flat = replace(self.surface, flat_volatility=float(sigma), quote_noise=0.0)
        return replace(self, surface=flat, defect_share=0.0, missing_share=0.0, tick_rounding=False, quirks=replace(self.quirks, enabled=False))

    @property
    def years(self) -> list[int]:
        return list(range(self.start.year, self.end.year + 1))

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (the pull stage compares it to decide whether files are current)."""
        return {
            "generator_version": GENERATOR_VERSION,
            "start": f"{self.start:%Y-%m-%d}",
            "end": f"{self.end:%Y-%m-%d}",
            "target_quotes": self.target_quotes,
            "seed": self.seed,
            "dividend_yield": self.dividend_yield,
            "pricing_rate_spread": self.pricing_rate_spread,
            "secid": self.secid,
            "defect_share": self.defect_share,
            "missing_share": self.missing_share,
            "tick_rounding": self.tick_rounding,
            "surface": vars(self.surface),
            "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.grid).items()},
            "quirks": vars(self.quirks),
        }


@dataclass(frozen=True)
class SyntheticYear:
    """One calendar year of raw quotes (OptionMetrics columns, file order) and its planted-defect truth."""

    year: int
    quotes: pd.DataFrame
    truth: pd.DataFrame


# ---------------------------------------------------------------------------------------------------
# Market inputs
# ---------------------------------------------------------------------------------------------------
def daily_rf_annual(dates: pd.DatetimeIndex, rf_monthly: pd.DataFrame) -> pd.Series:
    """Effective annual rate y = (1 + RF_month)^12 − 1 of each day's calendar month (docs/methods.md §5).

    Raises ``SettingsError`` naming OPTIONS_START/OPTIONS_END when a day's month has no rate.
    """
    annual = (1.0 + rf_monthly["rf_month"]) ** 12 - 1.0
    by_month = pd.Series(annual.to_numpy(), index=rf_monthly.index.to_period("M"))
    values = by_month.reindex(dates.to_period("M")).to_numpy()
    if np.isnan(values).any():
        first = dates[np.isnan(values)][0]
        raise settings.SettingsError(
            f"Settings OPTIONS_START/OPTIONS_END reach {first:%Y-%m}, outside the embedded risk-free rate "
            f"({rf_monthly.index[0]:%Y-%m} … {rf_monthly.index[-1]:%Y-%m}): shorten the option window."
        )
    return pd.Series(values, index=dates, name="rf_annual")


def synthetic_market(
    spec: SyntheticPanelSpec, closes: pd.Series | None = None, rf_monthly: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, float]:
    """Per trading day of the window: close, rf_annual, r, q, variance (annualized EWMA), trend_gap,
    level_shock and skew_shock (:func:`surface_shocks`).

    rf_annual = y is the T-bill effective annual rate (cash accrual, docs/methods.md §5); r = log1p(y) +
    ``spec.pricing_rate_spread`` is the continuous rate the options are priced with (module docstring).
    ``closes`` defaults to the embedded S&P 500 index and ``rf_monthly`` to the embedded RF series; the
    EWMA variance, the trend and the surface shocks use the whole close history before the window as
    warm-up (so a day's values do not depend on the window). Also returns
    the long-run annualized variance θ (mean of the EWMA's weighted 252·r² over the whole history).
    """
    if closes is None or rf_monthly is None:
        from asset_pricing.sources.embedded import EMBEDDED_MARKET, load_prices, load_rf_monthly

        closes = load_prices()[EMBEDDED_MARKET] if closes is None else closes
        rf_monthly = load_rf_monthly() if rf_monthly is None else rf_monthly
    closes = closes.dropna().astype(float)
    log_close = np.log(closes)
    log_return = log_close.diff().fillna(0.0)
    squared_return = log_return.pow(2) * TRADING_DAYS_PER_YEAR
    surface = spec.surface
    news = squared_return * np.where(log_return < 0, surface.down_news_weight, surface.up_news_weight)
    news.iloc[0] = squared_return.iloc[1:21].mean()  # the recursion starts from the first month's variance
    variance = news.ewm(alpha=1.0 - surface.ewma_lambda, adjust=False).mean()
    trend = log_close.ewm(halflife=surface.leverage_halflife_days, adjust=False).mean()
    in_window = (closes.index >= spec.start) & (closes.index <= spec.end)
    dates = pd.DatetimeIndex(closes.index[in_window], name="date")
    if len(dates) == 0:
        raise settings.SettingsError(
            f"Settings OPTIONS_START={spec.start:%Y-%m-%d}/OPTIONS_END={spec.end:%Y-%m-%d} select no day of the "
            f"embedded S&P 500 closes ({closes.index[0]:%Y-%m-%d} … {closes.index[-1]:%Y-%m-%d})."
        )
    rf_annual = daily_rf_annual(dates, rf_monthly)
    level_shock, skew_shock = surface_shocks(len(closes), surface, spec.seed)
    market = pd.DataFrame(
        {
            "close": closes[in_window].to_numpy(),
            "rf_annual": rf_annual.to_numpy(),
            "r": np.log1p(rf_annual.to_numpy()) + spec.pricing_rate_spread,
            "q": spec.dividend_yield,
            "variance": variance[in_window].to_numpy(),
            "trend_gap": (log_close - trend)[in_window].to_numpy(),
            "level_shock": level_shock[in_window],
            "skew_shock": skew_shock[in_window],
        },
        index=dates,
    )
    return market, float(news.iloc[1:].mean())


def ar1_path(innovations: FloatArray, sd: float, halflife_days: float) -> FloatArray:
    """Stationary Gaussian AR(1) path from standard normal ``innovations`` (one per trading day).

    x_0 = sd·z_0, x_t = φ·x_{t−1} + sd·√(1 − φ²)·z_t with φ = 2^(−1/halflife_days): every x_t has sd
    ``sd`` and a shock loses half its size in ``halflife_days`` trading days.
    """
    z = np.asarray(innovations, dtype=np.float64)
    if len(z) == 0 or sd == 0:
        return np.zeros(len(z))
    phi = 2.0 ** (-1.0 / halflife_days)
    start = sd * z[0]
    rest = lfilter([sd * np.sqrt(1.0 - phi**2)], [1.0, -phi], z[1:], zi=[phi * start])[0]
    return np.concatenate([[start], rest])


def surface_shocks(n_days: int, surface: VolatilitySurface, seed: int) -> tuple[FloatArray, FloatArray]:
    """The surface's level and skew shocks on ``n_days`` trading days (module docstring, "Implied volatility
    surface"): two independent stationary AR(1) paths (:func:`ar1_path`), unrelated to the index, drawn
    from their own random stream of ``seed`` (so adding them leaves every other draw of the panel as it was)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SURFACE_SHOCK_SALT]))
    z = rng.standard_normal((2, n_days))
    return (
        ar1_path(z[0], surface.level_shock_sd, surface.level_shock_halflife_days),
        ar1_path(z[1], surface.skew_shock_sd, surface.skew_shock_halflife_days),
    )


def level_shock_loading(tau_days: FloatArray, halflife_days: float) -> FloatArray:
    """Loading of a τ-day IV on the level shock, 1 at 30 days: m(τ) = g(τ)/g(30), g(τ) = (1 − e^{−kT})/(kT),
    T = τ/365 and k = ln 2 · 252 / ``halflife_days`` (per year) — the average over the option's life of a
    shock that decays at rate k, as in the term structure σ̄² of a mean-reverting variance."""
    k = np.log(2.0) * TRADING_DAYS_PER_YEAR / halflife_days

    def average(tau: FloatArray) -> FloatArray:
        kT = k * np.asarray(tau, dtype=np.float64) / 365.0
        return -np.expm1(-kT) / kT

    return average(np.maximum(tau_days, 1.0)) / average(np.array(30.0))


def synthetic_underlying(market: pd.DataFrame) -> pd.DataFrame:
    """The underlying table of the contract (close, rf_annual, r, q by date) from :func:`synthetic_market`.

    As in OptionMetrics, ``r`` (the continuous pricing rate) is not log1p(rf_annual): it carries the
    pricing-rate spread over the T-bill rate ``rf_annual``.
    """
    underlying = market[["close", "rf_annual", "r", "q"]].copy()
    underlying.attrs["data_source"] = SYNTHETIC_LABEL
    return underlying


# ---------------------------------------------------------------------------------------------------
# Contracts and sampling
# ---------------------------------------------------------------------------------------------------
def expiration_calendar(first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """Third Fridays of every month from ``first`` to ``last`` (columns exdate, quarterly)."""
    months = pd.date_range(first.to_period("M").to_timestamp(), last, freq="MS")
    first_friday = months + pd.to_timedelta((4 - months.dayofweek) % 7, unit="D")
    third_friday = first_friday + pd.Timedelta(days=14)
    return pd.DataFrame({"exdate": third_friday, "quarterly": np.isin(third_friday.month, (3, 6, 9, 12))})


def _ragged_arange(counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenation of arange(n) for every n in ``counts``, without a Python loop."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def listed_contract_days(day_days: NDArray[np.int64], closes: FloatArray, expirations: pd.DataFrame, grid: ContractGrid) -> dict[str, NDArray]:
    """Every listed (day, exdate, strike) of the universe: arrays day (position), exdate_days, strike, tau.

    An expiration is listed while 1 ≤ τ ≤ its horizon; strikes are multiples of ``near_step`` with
    moneyness in ``moneyness_range`` and, beyond ±``near_band`` from the money, multiples of ``far_step``.
    """
    exdate_days = day_numbers(expirations["exdate"])
    horizon = np.where(expirations["quarterly"].to_numpy(), grid.quarterly_horizon_days, grid.monthly_horizon_days)
    tau_matrix = exdate_days[None, :] - day_days[:, None]
    day_of_pair, expiry_of_pair = np.nonzero((tau_matrix >= 1) & (tau_matrix <= horizon[None, :]))
    low, high = grid.moneyness_range
    first_index = np.ceil(low * closes / grid.near_step).astype(np.int64)
    strikes_per_day = np.floor(high * closes / grid.near_step).astype(np.int64) - first_index + 1
    counts = strikes_per_day[day_of_pair]
    pair = np.repeat(np.arange(len(day_of_pair)), counts)
    day = day_of_pair[pair]
    strike = grid.near_step * (first_index[day] + _ragged_arange(counts)).astype(np.float64)
    on_grid = (np.abs(strike / closes[day] - 1.0) <= grid.near_band) | (np.mod(strike, grid.far_step) == 0)
    day, strike, pair = day[on_grid], strike[on_grid], pair[on_grid]
    contract_exdate = exdate_days[expiry_of_pair[pair]]
    return {"day": day, "exdate_days": contract_exdate, "strike": strike, "tau": contract_exdate - day_days[day]}


def sampling_weight(moneyness: FloatArray, tau_days: NDArray[np.int64], strike: FloatArray, grid: ContractGrid) -> FloatArray:
    """Sampling weight g(m, τ)·h(K) of a contract-day (module docstring, "Size").

    g ∈ [floor, 1] is 1 within ±core_moneyness of the money and τ ≤ core_tau_days, with a Gaussian
    (scale moneyness_decay) and an exponential (scale tau_decay_days) decay beyond; h(K) =
    reference_strike / K keeps the quoted strikes' spacing in moneyness about the same at every index level.
    """
    excess_m = np.maximum(np.abs(moneyness - 1.0) - grid.core_moneyness, 0.0) / grid.moneyness_decay
    excess_tau = np.maximum(tau_days - grid.core_tau_days, 0.0) / grid.tau_decay_days
    g = grid.weight_floor + (1.0 - grid.weight_floor) * np.exp(-0.5 * excess_m**2 - excess_tau)
    return g * (grid.reference_strike / strike)


def strike_sequence_position(exdate_days: NDArray[np.int64], strike: FloatArray, seed: int, grid: ContractGrid) -> FloatArray:
    """u = frac(k·α + o) ∈ [0, 1) per (exdate, strike): a Kronecker (golden-ratio) low-discrepancy sequence.

    k = K / near_step is the strike's index on the grid, α = :data:`STRIKE_SEQUENCE_STEP` = (5 + √5)/10
    and o = :func:`contract_uniform` of (exdate, seed), so each expiry has its own phase. Strikes with
    u < p form an evenly spaced subset of share p (three-gap theorem: at most three gap lengths, the
    largest ≈ 1.8/p); 5α mod 1 = (√5 − 1)/2, so the 25-point strikes (k multiple of 5) are evenly thinned
    as well.
    """
    index = np.round(np.asarray(strike) / grid.near_step)
    phase = contract_uniform(exdate_days, np.zeros(np.shape(exdate_days)), seed)
    return np.mod(index * STRIKE_SEQUENCE_STEP + phase, 1.0)


def contract_normal(exdate_days: NDArray[np.int64], strike: FloatArray, seed: int, salt: int) -> FloatArray:
    """A standard normal per (exdate, strike), fixed over the contract's life (a persistent draw; ``salt``
    makes independent draws for different uses)."""
    uniform = contract_uniform(exdate_days, strike, seed ^ salt)
    return ndtri(np.clip(uniform, 2.0**-53, 1.0 - 2.0**-53))


def contract_uniform(exdate_days: NDArray[np.int64], strike: FloatArray, seed: int) -> FloatArray:
    """A uniform in [0, 1) per (exdate, strike) from a splitmix64 hash of the key and the random seed."""
    with np.errstate(over="ignore"):
        seed_mix = np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        key = (exdate_days.astype(np.uint64) * np.uint64(100_003) + np.round(strike * 8).astype(np.uint64)) ^ seed_mix
        z = key + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def contract_optionid(exdate_days: NDArray[np.int64], strike: FloatArray, is_call: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Stable contract id: ((exdate day number · 10^6 + strike·10) · 2 + is_put)."""
    return ((exdate_days.astype(np.int64) * 1_000_000 + np.round(strike * 10).astype(np.int64)) * 2 + (~is_call)).astype(np.int64)


def sampling_intensity(market: pd.DataFrame, expirations: pd.DataFrame, spec: SyntheticPanelSpec) -> float:
    """The c for which the panel has about ``target_quotes`` rows, counted on every 5th trading day.

    A contract-day is quoted when u < c·w (w = g·h of :func:`sampling_weight`), i.e. when u/w < c, so c
    is the k-th smallest u/w of the sampled contract-days with k = target / (5 · 2 (call, put) · (1 −
    missing_share) · (1 + 2·defect_share)). Counting with the contracts' own u (not their expectation)
    makes the size close to the target.
    """
    sample = market.iloc[::_ESTIMATE_STRIDE_DAYS]
    universe = listed_contract_days(day_numbers(sample.index), sample["close"].to_numpy(), expirations, spec.grid)
    moneyness = universe["strike"] / sample["close"].to_numpy()[universe["day"]]
    weight = sampling_weight(moneyness, universe["tau"], universe["strike"], spec.grid)
    ratio = strike_sequence_position(universe["exdate_days"], universe["strike"], spec.seed, spec.grid) / weight
    rows_per_contract_day = _ESTIMATE_STRIDE_DAYS * 2.0 * (1.0 - spec.missing_share) * (1.0 + 2.0 * spec.defect_share)
    needed = int(round(spec.target_quotes / rows_per_contract_day))
    if needed >= len(ratio):
        raise settings.SettingsError(
            f"Setting SYNTHETIC_QUOTES={spec.target_quotes} is invalid: the synthetic universe of "
            f"{spec.start:%Y-%m}…{spec.end:%Y-%m} holds only about {rows_per_contract_day * len(ratio):,.0f} quotes; ask for fewer."
        )
    return float(np.partition(ratio, needed)[needed])


# ---------------------------------------------------------------------------------------------------
# Surface and quotes
# ---------------------------------------------------------------------------------------------------
def implied_volatility_surface(
    log_moneyness: FloatArray, tau_days: FloatArray, variance: FloatArray, trend_gap: FloatArray,
    long_run_variance: float, surface: VolatilitySurface, level_shock: FloatArray | float = 0.0, skew_shock: FloatArray | float = 0.0,
) -> FloatArray:
    """Model σ(x, τ, t) of the module docstring (before quote noise); flat when ``flat_volatility`` is set.

    ``level_shock`` (L_t) and ``skew_shock`` (k_t) are the day's surface shocks of :func:`surface_shocks`
    (0: none): ln σ gains L_t·m(τ) − ½(sd_L·m(τ))² (:func:`level_shock_loading`; E[e^{…}] = 1) and the
    skew term s·x becomes s·e^{k_t − ½sd_k²}·x (E[e^{k_t − ½sd_k²}] = 1).
    """
    if surface.flat_volatility is not None:
        return np.full(np.shape(log_moneyness), surface.flat_volatility)
    T = tau_days / 365.0
    decay = surface.mean_reversion_per_year * T
    horizon_variance = long_run_variance + (variance - long_run_variance) * (1.0 - np.exp(-decay)) / decay
    base_log_atm = 0.5 * np.log(surface.variance_premium * horizon_variance)
    maturity_scale = (30.0 / np.maximum(tau_days, surface.min_skew_days)) ** surface.maturity_exponent
    level_scale = surface.reference_volatility / np.exp(base_log_atm)
    skew = surface.skew_30d * maturity_scale * level_scale**surface.skew_level_exponent
    curvature = surface.curvature_30d * maturity_scale * level_scale**surface.curvature_level_exponent
    leverage = surface.leverage_ratio * skew * surface.leverage_cap * np.tanh(trend_gap / surface.leverage_cap)
    loading = level_shock_loading(tau_days, surface.level_shock_halflife_days)
    # minus half the variance: e^(level term) has mean 1, so the shock adds risk, not a premium
    level = level_shock * loading - 0.5 * (surface.level_shock_sd * loading) ** 2
    log_atm = base_log_atm + leverage + level
    shape = skew * np.exp(skew_shock - 0.5 * surface.skew_shock_sd**2) * log_moneyness + curvature * log_moneyness**2
    return np.exp(log_atm + surface.wing_cap * np.tanh(shape / surface.wing_cap))


def tick_size(price: FloatArray) -> FloatArray:
    """CBOE SPX tick: 0.05 below 3 index points, 0.10 from 3 up."""
    return np.where(price < 3.0, 0.05, 0.10)


def floor_to_tick(price: FloatArray) -> FloatArray:
    tick = tick_size(price)
    return np.round(np.floor(price / tick + 1e-9) * tick, 2)


def ceil_to_tick(price: FloatArray) -> FloatArray:
    tick = tick_size(price)
    return np.round(np.ceil(price / tick - 1e-9) * tick, 2)


def quoted_spread(price: FloatArray, noise: FloatArray | None = None) -> FloatArray:
    """Bid–offer spread 0.10 + 0.04·price, capped to [0.10, 8], times exp(noise) when given."""
    spread = np.clip(0.10 + 0.04 * price, 0.10, 8.0)
    return spread if noise is None else np.clip(spread * np.exp(noise), 0.10, 8.0)


def bid_offer(price: FloatArray, spread: FloatArray, tick_rounding: bool) -> tuple[FloatArray, FloatArray]:
    """Bid and offer around a model price.

    With tick rounding: bid = floor_tick(price − spread/2) ≥ 0, offer = ceil_tick(2·price − bid), so the
    mid is never below the model price (and so never below the no-arbitrage lower bound); far
    out-of-the-money options get a zero bid as on real SPX. Without: price ∓ min(spread, price)/2 exactly.
    """
    if not tick_rounding:
        half = 0.5 * np.minimum(spread, price)
        return price - half, price + half
    bid = np.maximum(floor_to_tick(price - 0.5 * spread), 0.0)
    offer = np.maximum(ceil_to_tick(2.0 * price - bid), np.round(bid + tick_size(bid), 2))
    return bid, offer


class _PricingInputs:
    """The parts of d1, d2 and the discounted spot and strike that do not depend on σ, computed once for
    the Newton steps of :func:`mid_implied_volatility` (each step then evaluates the same expressions on
    the same values as :func:`~asset_pricing.options.bsm.bs_price` and ``bs_vega``)."""

    def __init__(self, S: FloatArray, K: FloatArray, T: FloatArray, r: FloatArray, q: FloatArray, is_call: NDArray[np.bool_]) -> None:
        self.T = T
        self.sqrt_t = np.sqrt(T)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_moneyness = np.log(S / K)
        self.carry = r - q
        self.disc_s = S * np.exp(-q * T)
        self.disc_k = K * np.exp(-r * T)
        self.calls, self.puts = np.flatnonzero(is_call), np.flatnonzero(~is_call)


def _price_and_vega(inputs: _PricingInputs, sigma: FloatArray, *, vega: bool = True) -> tuple[FloatArray, FloatArray | None]:
    """``bs_price`` and ``bs_vega`` (:mod:`asset_pricing.options.bsm`) from one d1, d2, and each row's own branch only.

    The same expressions on the same values as those functions, so the same bits; half the normal CDFs
    (a call row needs N(d1), N(d2), a put row N(−d1), N(−d2)) and one d1 for both.
    """
    vol_sqrt_t = sigma * inputs.sqrt_t
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (inputs.log_moneyness + (inputs.carry + 0.5 * sigma**2) * inputs.T) / vol_sqrt_t
    d2 = d1 - vol_sqrt_t
    disc_s, disc_k, calls, puts = inputs.disc_s, inputs.disc_k, inputs.calls, inputs.puts
    price = np.empty_like(d1)
    price[calls] = disc_s[calls] * ndtr(d1[calls]) - disc_k[calls] * ndtr(d2[calls])
    price[puts] = disc_k[puts] * ndtr(-d2[puts]) - disc_s[puts] * ndtr(-d1[puts])
    if not vega:
        return price, None
    return price, disc_s * np.exp(-0.5 * d1**2) / np.sqrt(2.0 * np.pi) * inputs.sqrt_t


def mid_implied_volatility(
    mid: FloatArray, S: FloatArray, K: FloatArray, T: FloatArray, r: FloatArray, q: FloatArray, is_call: NDArray[np.bool_], start: FloatArray,
) -> FloatArray:
    """The vendor's IV of a mid price: 4 Newton steps from ``start``, bisection where they do not converge.

    NaN where no σ ∈ [1e-4, 5] reproduces the mid (e.g. a mid below the arbitrage bound).
    """
    inputs = _PricingInputs(S, K, T, r, q, is_call)
    sigma = start.copy()
    for _ in range(4):
        price, vega = _price_and_vega(inputs, sigma)
        gap = mid - price
        step = np.divide(gap, vega, out=np.zeros_like(gap), where=vega > 1e-8)
        sigma = np.clip(sigma + step, 1e-3, 5.0)
    error = np.abs(_price_and_vega(inputs, sigma, vega=False)[0] - mid)
    stuck = ~(error <= 1e-6 * np.maximum(mid, 1.0))
    if stuck.any():
        sigma[stuck] = implied_volatility(mid[stuck], S[stuck], K[stuck], T[stuck], r[stuck], q[stuck], is_call[stuck], tol=1e-8)
    return sigma


def _trading_activity(
    log_moneyness: FloatArray, tau_days: FloatArray, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Volume and open interest: over-dispersed Poisson, highest at the money and short maturities."""
    intensity = 5.0 + 3000.0 * np.exp(-((log_moneyness / 0.06) ** 2)) * np.exp(-tau_days / 75.0)
    volume = rng.poisson(intensity * rng.gamma(0.5, 2.0, size=intensity.shape))
    open_interest = rng.poisson(100.0 + 15.0 * intensity)
    return volume.astype(np.int64), open_interest.astype(np.int64)


# ---------------------------------------------------------------------------------------------------
# One year
# ---------------------------------------------------------------------------------------------------
def stored_expiration_days(exdate_days: NDArray[np.int64], quirks: ContractQuirks) -> NDArray[np.int64]:
    """The exdate OptionMetrics stores for a standard (AM-settled) expiration on the third Friday ``exdate_days``:
    the Saturday after it before ``quirks.saturday_expiration_before`` (February 2015), the Friday from then on."""
    cutoff = day_numbers(pd.DatetimeIndex([quirks.saturday_expiration_before]))[0]
    return exdate_days + (exdate_days < cutoff).astype(np.int64)


def _opprcd_columns(
    secid: int, date: NDArray, exdate_days: NDArray[np.int64], strike: FloatArray, is_call: NDArray[np.bool_],
    bid: FloatArray, offer: FloatArray, volume: NDArray[np.int64], open_interest: NDArray[np.int64],
    vendor_iv: FloatArray, delta: FloatArray, optionid: NDArray[np.int64],
) -> dict[str, Any]:
    """The OptionMetrics ``opprcd`` columns of priced quotes, in file order (docs/methods.md §3.1): exdate
    as stored (integer day numbers), strike × 1000, categorical cp_flag."""
    return {
        "secid": np.full(len(strike), secid, dtype=np.int64),
        "date": date,
        "exdate": (exdate_days * 86_400 * 10**9).astype("datetime64[ns]"),
        "cp_flag": pd.Categorical.from_codes(np.where(is_call, 0, 1), dtype=CP_DTYPE),
        "strike_price": np.round(strike * STRIKE_SCALE).astype(np.int64),
        "best_bid": bid,
        "best_offer": offer,
        "volume": volume,
        "open_interest": open_interest,
        "impl_volatility": vendor_iv,
        "delta": delta,
        "optionid": optionid,
    }


def _clean_year_quotes(
    market: pd.DataFrame, expirations: pd.DataFrame, intensity: float, long_run_variance: float,
    spec: SyntheticPanelSpec, rng: np.random.Generator, calendar_days: NDArray[np.int64] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sampled contract-days of one year's ``market`` days priced as quotes (plus helper columns), and missing ones.

    Contracts are listed and sampled on the third-Friday calendar; each is priced to the last trading
    day on or before its stored exdate (:func:`asset_pricing.options.schema.expiry_trading_days` on
    ``calendar_days``, the whole window's trading days), as the filter stage measures τ.
    """
    day_days = day_numbers(market.index)
    calendar_days = day_days if calendar_days is None else calendar_days
    closes = market["close"].to_numpy()
    universe = listed_contract_days(day_days, closes, expirations, spec.grid)
    moneyness = universe["strike"] / closes[universe["day"]]
    threshold = intensity * sampling_weight(moneyness, universe["tau"], universe["strike"], spec.grid)
    chosen = strike_sequence_position(universe["exdate_days"], universe["strike"], spec.seed, spec.grid) < threshold
    day = universe["day"][chosen]
    exdate_days = universe["exdate_days"][chosen]
    strike = universe["strike"][chosen]
    listed_tau = universe["tau"][chosen].astype(np.float64)
    stored_exdate = stored_expiration_days(exdate_days, spec.quirks)
    expiry_days = expiry_trading_days(stored_exdate, calendar_days)
    tau = np.maximum(expiry_days - day_days[day], 1).astype(np.float64)  # 0 only the day before a Good Friday: dropped later
    log_moneyness = np.log(moneyness[chosen])
    sigma = implied_volatility_surface(
        log_moneyness, tau, market["variance"].to_numpy()[day], market["trend_gap"].to_numpy()[day], long_run_variance, spec.surface,
        market["level_shock"].to_numpy()[day], market["skew_shock"].to_numpy()[day],
    )
    if spec.surface.quote_noise > 0:
        rho = spec.surface.persistent_noise_share
        noise = np.sqrt(rho) * contract_normal(exdate_days, strike, spec.seed, IV_NOISE_SALT) + np.sqrt(1.0 - rho) * rng.standard_normal(len(sigma))
        sigma = sigma * np.exp(spec.surface.quote_noise * noise)

    # one call and one put per (day, exdate, strike)
    n_pairs = len(day)
    day, exdate_days, strike, tau, log_moneyness, sigma, listed_tau, stored_exdate, expiry_days = (
        np.concatenate([a, a]) for a in (day, exdate_days, strike, tau, log_moneyness, sigma, listed_tau, stored_exdate, expiry_days)
    )
    is_call = np.repeat(np.array([True, False]), n_pairs)
    pair = np.concatenate([np.arange(n_pairs), np.arange(n_pairs)])
    quoted = rng.random(len(day)) >= spec.missing_share
    date = market.index.to_numpy()[day]
    optionid = contract_optionid(exdate_days, strike, is_call)
    missing = pd.DataFrame({"date": date[~quoted], "optionid": optionid[~quoted]})
    keep = np.flatnonzero(quoted)
    day, exdate_days, strike, tau, log_moneyness, sigma, is_call, pair, date, optionid, listed_tau, stored_exdate, expiry_days = (
        a[keep] for a in (day, exdate_days, strike, tau, log_moneyness, sigma, is_call, pair, date, optionid, listed_tau, stored_exdate, expiry_days)
    )

    S = closes[day]
    r = market["r"].to_numpy()[day]
    q = market["q"].to_numpy()[day]
    T = tau / 365.0
    price = bs_price(S, strike, T, r, q, sigma, is_call)
    spread_noise = None
    if spec.tick_rounding:  # a contract's spread is wider or narrower than the formula for days at a time
        rho = spec.surface.persistent_noise_share
        persistent = np.where(
            is_call, contract_normal(exdate_days, strike, spec.seed, CALL_SPREAD_SALT), contract_normal(exdate_days, strike, spec.seed, PUT_SPREAD_SALT)
        )
        spread_noise = SPREAD_NOISE * (np.sqrt(rho) * persistent + np.sqrt(1.0 - rho) * rng.standard_normal(len(price)))
    bid, offer = bid_offer(price, quoted_spread(price, spread_noise), spec.tick_rounding)
    if spec.tick_rounding:
        vendor_iv = mid_implied_volatility(0.5 * (bid + offer), S, strike, T, r, q, is_call, sigma)
    else:
        vendor_iv = sigma.copy()
    volume, open_interest = _trading_activity(log_moneyness, listed_tau, rng)
    quotes = frame_of_columns(  # each column its own block: no consolidated copy of the year
        {
            **_opprcd_columns(spec.secid, date, stored_exdate, strike, is_call, bid, offer, volume, open_interest, vendor_iv,
                              bs_delta(S, strike, T, r, q, vendor_iv, is_call), optionid),
            # helper columns (dropped before writing)
            "_close": S, "_r": r, "_q": q, "_T": T, "_tau": listed_tau, "_strike": strike, "_is_call": is_call, "_pair": pair,
            "_exdate_days": stored_exdate, "_expiry_days": expiry_days, "_listed_exdate_days": exdate_days,
        },
        pd.RangeIndex(len(day)),
    )
    return quotes, missing


def _pair_partner(pair: NDArray[np.int64], is_call: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Position of each row's other leg (−1 when the other leg is missing)."""
    n_pairs = int(pair.max()) + 1 if len(pair) else 0
    call_row = np.full(n_pairs, -1, dtype=np.int64)
    put_row = np.full(n_pairs, -1, dtype=np.int64)
    rows = np.arange(len(pair))
    call_row[pair[is_call]] = rows[is_call]
    put_row[pair[~is_call]] = rows[~is_call]
    return np.where(is_call, put_row[pair], call_row[pair])


def _plant_defects(quotes: pd.DataFrame, spec: SyntheticPanelSpec, rng: np.random.Generator) -> tuple[list[pd.DataFrame], NDArray[np.object_]]:
    """Plant every defect kind on ``quotes`` (helper columns needed); returns the frames of the rows (the
    modified quotes, then the planted copies; joined once by the caller) and each row's defect label
    ("" = clean). See the module docstring for the kinds."""
    n = len(quotes)
    labels = np.full(n, "", dtype=object)
    if spec.defect_share <= 0 or n == 0:
        return [_with_columns(quotes, _copy=0)], labels
    S, K, T = quotes["_close"].to_numpy(), quotes["_strike"].to_numpy(), quotes["_T"].to_numpy()
    r, q = quotes["_r"].to_numpy(), quotes["_q"].to_numpy()
    is_call, tau = quotes["_is_call"].to_numpy(), quotes["_tau"].to_numpy()
    bid, offer = quotes["best_bid"].to_numpy().copy(), quotes["best_offer"].to_numpy().copy()
    iv = quotes["impl_volatility"].to_numpy().copy()
    mid = 0.5 * (bid + offer)
    m = K / S
    partner = _pair_partner(quotes["_pair"].to_numpy(), is_call)
    eligible = (tau >= 10) & (tau <= 170) & (m >= 0.83) & (m <= 1.17) & (iv >= 0.08) & (iv <= 0.6) & (bid >= 0.5)
    paired = (partner >= 0) & eligible & eligible[np.maximum(partner, 0)]
    discounted_spot, discounted_strike = S * np.exp(-q * T), K * np.exp(-r * T)
    lower_bound = np.maximum(0.0, np.where(is_call, discounted_spot - discounted_strike, discounted_strike - discounted_spot))
    partner_mid = mid[np.maximum(partner, 0)]
    slice_key = quotes.groupby(["date", "exdate", "cp_flag"], observed=True, sort=False).ngroup().to_numpy()
    in_band = (tau >= 7) & (tau <= 180) & (m >= 0.8) & (m <= 1.2)
    slice_size = np.bincount(slice_key, weights=in_band)[slice_key]
    slice_median = quotes.groupby(slice_key)["impl_volatility"].transform("median").to_numpy()

    # candidate modifications, drawn for every row (the random streams do not depend on which rows are used)
    # and priced only on the rows that can use them
    parity_rate = np.where(is_call, r + rng.uniform(0.10, 0.25, n), -rng.uniform(0.03, 0.15, n))
    target_price = np.where(
        is_call, discounted_spot + partner_mid - K * np.exp(-parity_rate * T), K * np.exp(-parity_rate * T) - discounted_spot + partner_mid
    )
    parity_shift = np.maximum(target_price - mid, 0.05)
    smile_iv = iv * np.where(is_call, rng.uniform(1.45, 1.6, n), rng.uniform(0.55, 0.65, n))
    smile_eligible = paired & (tau >= 30) & (m >= 0.92) & (m <= 1.08) & (slice_size >= 8) & np.where(is_call, iv <= 0.4, iv >= 0.15)
    smile_bid, smile_offer = np.full(n, np.nan), np.full(n, np.nan)
    at = np.flatnonzero(smile_eligible)
    smile_bid[at], smile_offer[at] = bid_offer(bs_price(S[at], K[at], T[at], r[at], q[at], smile_iv[at], is_call[at]), quoted_spread(mid[at]), True)
    # far enough that the copy stays the farther one when the filter's median moves (it sees the slice without
    # the IVs the quirks leave NULL: with a steep smile, a quarter above this median); 1.35–1.6 and 0.55–0.7 before version 6
    away = np.where(iv >= slice_median, rng.uniform(1.8, 2.2, n), rng.uniform(0.4, 0.55, n))
    other_iv = iv * away

    # a negative-parity put is a mispriced quote: its vendor IV is that of its (raised) mid, as OptionMetrics computes it
    negative_rate = paired & ~is_call & (tau >= 14) & (mid + parity_shift <= 0.9 * discounted_strike)
    raised_bid, raised_offer = ceil_to_tick(bid + parity_shift), ceil_to_tick(offer + parity_shift)
    raised_iv = np.full(n, np.nan)
    at = np.flatnonzero(negative_rate)
    raised_iv[at] = mid_implied_volatility(0.5 * (raised_bid[at] + raised_offer[at]), S[at], K[at], T[at], r[at], q[at], is_call[at], iv[at])
    candidates = {
        "duplicate": paired,
        "different_price": paired,
        "zero_bid": paired,
        "iv_out_of_range": paired,
        "below_intrinsic": paired & (lower_bound >= 3.0),
        "parity_negative_rate": negative_rate & (raised_iv >= 0.06) & (raised_iv <= 0.95),
        "smile_outlier": smile_eligible & (smile_bid >= 0.1),
        "parity_outlier": paired & is_call & (tau >= 30) & (m >= 0.9) & (m <= 1.1) & (mid + parity_shift <= 0.95 * discounted_spot),
    }
    # at most one defect per (date, exdate, strike); no parity outlier in a (date, exdate) with a smile
    # outlier, whose fit would pull the parity partner's residual
    pair = quotes["_pair"].to_numpy()
    pair_taken = np.zeros(int(pair.max()) + 1, dtype=bool)
    expiry_key = quotes.groupby(["date", "exdate"], observed=True, sort=False).ngroup().to_numpy()
    expiry_with_smile_outlier = np.zeros(int(expiry_key.max()) + 1, dtype=bool)
    counts = rng.binomial(n, spec.defect_share, size=len(candidates))
    chosen: dict[str, NDArray[np.int64]] = {}
    for (kind, mask), count in zip(candidates.items(), counts):
        free = mask & ~pair_taken[pair]
        if kind == "parity_outlier":
            free &= ~expiry_with_smile_outlier[expiry_key]
        pool = np.flatnonzero(free)
        pick = np.sort(rng.choice(pool, size=min(int(count), len(pool)), replace=False))
        pair_taken[pair[pick]] = True
        if kind == "smile_outlier":
            expiry_with_smile_outlier[expiry_key[pick]] = True
        chosen[kind] = pick
        if len(pick) < count:
            log.warning("synthetic panel: only %d of %d %s defects could be planted", len(pick), count, kind)

    pick = chosen["zero_bid"]
    bid[pick] = 0.0
    pick = chosen["iv_out_of_range"]
    iv[pick] = np.where(rng.random(len(pick)) < 0.5, rng.uniform(0.005, 0.04, len(pick)), rng.uniform(1.2, 3.0, len(pick)))
    pick = chosen["below_intrinsic"]
    target_mid = lower_bound[pick] - rng.uniform(0.25, 2.0, len(pick))
    half = np.maximum(0.5 * (offer[pick] - bid[pick]), 0.1)
    bid[pick] = np.maximum(0.05, floor_to_tick(target_mid - half))
    offer[pick] = np.maximum(floor_to_tick(2.0 * target_mid - bid[pick]), np.round(bid[pick] + tick_size(bid[pick]), 2))
    for kind in ("parity_negative_rate", "parity_outlier"):
        pick = chosen[kind]
        bid[pick], offer[pick] = raised_bid[pick], raised_offer[pick]
    pick = chosen["parity_negative_rate"]
    iv[pick] = raised_iv[pick]
    repriced = np.r_[pick, chosen["smile_outlier"]]
    pick = chosen["smile_outlier"]
    bid[pick], offer[pick], iv[pick] = smile_bid[pick], smile_offer[pick], smile_iv[pick]

    delta = quotes["delta"].to_numpy().copy()
    delta[repriced] = bs_delta(S[repriced], K[repriced], T[repriced], r[repriced], q[repriced], iv[repriced], is_call[repriced])
    modified = _with_columns(quotes, best_bid=bid, best_offer=offer, impl_volatility=iv, delta=delta)
    for kind in ("zero_bid", "iv_out_of_range", "below_intrinsic", "parity_negative_rate", "smile_outlier", "parity_outlier"):
        labels[chosen[kind]] = kind

    duplicates = modified.iloc[chosen["duplicate"]]
    pick = chosen["different_price"]
    other_bid, other_offer = bid_offer(bs_price(S[pick], K[pick], T[pick], r[pick], q[pick], other_iv[pick], is_call[pick]), quoted_spread(mid[pick]), True)
    repriced = _with_columns(
        modified.iloc[pick], best_bid=other_bid, best_offer=other_offer, impl_volatility=other_iv[pick],
        delta=bs_delta(S[pick], K[pick], T[pick], r[pick], q[pick], other_iv[pick], is_call[pick]),
    )
    parts = [_with_columns(modified, _copy=0), _with_columns(duplicates, _copy=1), _with_columns(repriced, _copy=1)]
    labels = np.concatenate([labels, np.full(len(duplicates), "duplicate", dtype=object), np.full(len(repriced), "different_price", dtype=object)])
    return parts, labels


# ---------------------------------------------------------------------------------------------------
# OptionMetrics' quirks: PM-settled SPXW rows, contract flags, NULL implied volatilities
# ---------------------------------------------------------------------------------------------------
def weekly_expiration_calendar(first: pd.Timestamp, last: pd.Timestamp, calendar_days: NDArray[np.int64]) -> pd.DataFrame:
    """Weekly (SPXW) expirations from ``first`` to ``last``: every Friday that is not a third Friday, or the
    trading day before it when the Friday is a holiday inside the trading calendar (columns exdate, quarterly)."""
    fridays = pd.date_range(first, last, freq="W-FRI")
    fridays = fridays[~fridays.day.isin(range(15, 22))]
    friday_days = day_numbers(fridays)
    position = np.searchsorted(calendar_days, friday_days, side="right") - 1
    inside = (position >= 0) & (friday_days <= calendar_days[-1]) if calendar_days.size else np.zeros(len(friday_days), dtype=bool)
    expiry = np.where(inside, calendar_days[position.clip(min=0)] if calendar_days.size else friday_days, friday_days)
    return pd.DataFrame({"exdate": pd.to_datetime(expiry * 86_400 * 10**9), "quarterly": False})


def _weekly_contract_days(
    days: pd.DataFrame, calendar_days: NDArray[np.int64], intensity: float, spec: SyntheticPanelSpec
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(day position, exdate day, strike) of the sampled SPXW weekly contract-days of ``days`` (module docstring, "Quirks")."""
    quirks = spec.quirks
    first_listing = pd.Timestamp(quirks.weekly_start)
    if len(days) == 0 or days.index[-1] < first_listing:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    day_days = day_numbers(days.index)
    closes = days["close"].to_numpy()
    last_expiry = days.index[-1] + pd.Timedelta(days=quirks.weekly_horizon_days + 7)
    weeklies = weekly_expiration_calendar(max(days.index[0], first_listing), last_expiry, calendar_days)
    grid = replace(spec.grid, monthly_horizon_days=quirks.weekly_horizon_days)
    universe = listed_contract_days(day_days, closes, weeklies, grid)
    moneyness = universe["strike"] / closes[universe["day"]]
    threshold = intensity * quirks.weekly_density * sampling_weight(moneyness, universe["tau"], universe["strike"], grid)
    position = strike_sequence_position(universe["exdate_days"], universe["strike"], spec.seed ^ WEEKLY_SAMPLING_SALT, grid)
    chosen = (days.index.to_numpy()[universe["day"]] >= first_listing.to_datetime64()) & (position < threshold)
    return universe["day"][chosen], universe["exdate_days"][chosen], universe["strike"][chosen]


def _pm_monthly_contract_days(
    standard: pd.DataFrame, days: pd.DataFrame, spec: SyntheticPanelSpec
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(day position, exdate day, strike) of PM-settled SPXW contracts on the standard third Fridays from
    ``pm_monthly_start``: a share ``pm_monthly_share`` of the standard (exdate, strike)s quoted that day,
    so they share (date, exdate, cp_flag, strike) with a standard quote."""
    quirks = spec.quirks
    exdate = standard["_exdate_days"].to_numpy()
    strike = standard["_strike"].to_numpy()
    start = day_numbers(pd.DatetimeIndex([quirks.pm_monthly_start]))[0]
    shared = (exdate >= start) & (standard["_copy"].to_numpy() == 0)
    shared &= contract_uniform(exdate, strike, spec.seed ^ PM_MONTHLY_SALT) < quirks.pm_monthly_share
    day_position = np.searchsorted(day_numbers(days.index), day_numbers(standard["date"]))
    keys = pd.DataFrame({"day": day_position[shared], "exdate": exdate[shared], "strike": strike[shared]}).drop_duplicates()
    return keys["day"].to_numpy(np.int64), keys["exdate"].to_numpy(np.int64), keys["strike"].to_numpy(np.float64)


def _pm_settled_quotes(
    days: pd.DataFrame, calendar_days: NDArray[np.int64], standard: pd.DataFrame, intensity: float, long_run_variance: float,
    spec: SyntheticPanelSpec, rng: np.random.Generator,
) -> pd.DataFrame:
    """PM-settled SPXW quotes of one year's ``days`` (weeklies and, from 2015-02, third Fridays), priced on
    the same surface with their own noise and spreads (``rng``: the quirks' stream), with the helper columns
    of the standard quotes. Their exdate is the expiration day itself."""
    weekly = _weekly_contract_days(days, calendar_days, intensity, spec)
    monthly = _pm_monthly_contract_days(standard, days, spec)
    day, exdate_days, strike = (np.concatenate([w, m]) for w, m in zip(weekly, monthly))
    expiry = np.where(np.arange(len(day)) < len(weekly[0]), WEEKLY_EXPIRY, NO_EXPIRY_INDICATOR)
    if len(day) == 0:
        return _with_columns(standard.iloc[:0], _class=np.int8(1), _expiry_indicator=_expiry_indicator_column(np.zeros(0, dtype=bool)))
    day_days = day_numbers(days.index)
    closes = days["close"].to_numpy()
    tau = np.maximum(expiry_trading_days(exdate_days, calendar_days) - day_days[day], 1).astype(np.float64)
    log_moneyness = np.log(strike / closes[day])
    sigma = implied_volatility_surface(
        log_moneyness, tau, days["variance"].to_numpy()[day], days["trend_gap"].to_numpy()[day], long_run_variance, spec.surface,
        days["level_shock"].to_numpy()[day], days["skew_shock"].to_numpy()[day],
    )
    rho = spec.surface.persistent_noise_share
    noise = np.sqrt(rho) * contract_normal(exdate_days, strike, spec.seed, WEEKLY_NOISE_SALT) + np.sqrt(1.0 - rho) * rng.standard_normal(len(day))
    sigma = sigma * np.exp(spec.surface.quote_noise * noise)
    n_pairs = len(day)
    day, exdate_days, strike, tau, log_moneyness, sigma, expiry = (np.concatenate([a, a]) for a in (day, exdate_days, strike, tau, log_moneyness, sigma, expiry))
    is_call = np.repeat(np.array([True, False]), n_pairs)
    S, r, q, T = closes[day], days["r"].to_numpy()[day], days["q"].to_numpy()[day], tau / 365.0
    price = bs_price(S, strike, T, r, q, sigma, is_call)
    bid, offer = bid_offer(price, quoted_spread(price, SPREAD_NOISE * rng.standard_normal(len(price))), True)
    vendor_iv = mid_implied_volatility(0.5 * (bid + offer), S, strike, T, r, q, is_call, sigma)
    volume, open_interest = _trading_activity(log_moneyness, tau, rng)
    return frame_of_columns(
        {
            **_opprcd_columns(spec.secid, days.index.to_numpy()[day], exdate_days, strike, is_call, bid, offer, volume,
                              open_interest, vendor_iv, bs_delta(S, strike, T, r, q, vendor_iv, is_call),
                              contract_optionid(exdate_days, strike, is_call) + WEEKLY_OPTIONID_OFFSET),
            "_close": S, "_r": r, "_q": q, "_T": T, "_tau": tau, "_strike": strike, "_is_call": is_call, "_pair": -1,
            "_exdate_days": exdate_days, "_expiry_days": expiry_trading_days(exdate_days, calendar_days), "_copy": 0,
            "_class": np.int8(1), "_expiry_indicator": _expiry_indicator_column(expiry == WEEKLY_EXPIRY),
        },
        pd.RangeIndex(len(day)),
    )


def _expiry_indicator_column(weekly: NDArray[np.bool_]) -> pd.Categorical:
    """The helper column ``_expiry_indicator``: ``w`` where ``weekly``, else missing, as a categorical.

    Not an object column of None: ``pd.concat`` checks every value of an all-missing object column in
    Python (seconds per million rows).
    """
    return pd.Categorical.from_codes(np.where(weekly, 0, -1).astype(np.int8), categories=[WEEKLY_EXPIRY])


def null_implied_volatility(quotes: pd.DataFrame, quirks: ContractQuirks, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Rows whose vendor IV OptionMetrics would leave NULL (module docstring, "Quirks"; needs the helper columns).

    Very short maturities (τ ≤ ``null_iv_max_days``); deep in-the-money quotes (K/S below 1 −
    ``null_iv_deep_moneyness`` for calls, above 1 + it for puts) whose time value, the mid above the
    no-arbitrage lower bound max(0, ±(S e^{−qT} − K e^{−rT})), is below ``null_iv_time_value_spreads``
    quoted spreads, so that the vendor's own rate and dividend inputs can put the mid below intrinsic
    value; and a random share ``null_iv_share`` of the rest.
    """
    S, K, T = quotes["_close"].to_numpy(), quotes["_strike"].to_numpy(), quotes["_T"].to_numpy()
    r, q, is_call = quotes["_r"].to_numpy(), quotes["_q"].to_numpy(), quotes["_is_call"].to_numpy()
    bid, offer = quotes["best_bid"].to_numpy(), quotes["best_offer"].to_numpy()
    forward_gap = S * np.exp(-q * T) - K * np.exp(-r * T)
    intrinsic = np.maximum(np.where(is_call, forward_gap, -forward_gap), 0.0)
    time_value = 0.5 * (bid + offer) - intrinsic
    short = (quotes["_expiry_days"].to_numpy() - day_numbers(quotes["date"])) <= quirks.null_iv_max_days
    moneyness = K / S
    deep_in_the_money = np.where(is_call, moneyness < 1.0 - quirks.null_iv_deep_moneyness, moneyness > 1.0 + quirks.null_iv_deep_moneyness)
    deep = deep_in_the_money & (intrinsic > 0) & (time_value < quirks.null_iv_time_value_spreads * (offer - bid))
    return short | deep | (rng.random(len(quotes)) < quirks.null_iv_share)


def _contract_flags(quotes: pd.DataFrame) -> dict[str, object]:
    """symbol, root, am_settlement, ss_flag, expiry_indicator of the rows (``_class`` 0 = standard SPX, 1 = SPXW)."""
    weekly = quotes["_class"].to_numpy() == 1
    root = pd.Categorical.from_codes(weekly.astype(np.int8), categories=[STANDARD_ROOT, WEEKLY_ROOT])
    indicator = quotes["_expiry_indicator"].to_numpy() if "_expiry_indicator" in quotes else np.full(len(quotes), None)
    expiry = pd.Categorical(np.where(pd.isna(indicator), None, indicator), categories=[WEEKLY_EXPIRY])
    codes, unique = pd.factorize(quotes["optionid"])
    # codes count up in order of first appearance: a contract's first row is where its code exceeds all before it
    first = np.flatnonzero(codes > np.r_[-1, np.maximum.accumulate(codes)[:-1]]) if len(codes) else np.zeros(0, dtype=np.int64)
    exdate = pd.DatetimeIndex(quotes["exdate"].to_numpy()[first])
    yymmdd = np.strings.zfill(((exdate.year % 100) * 10_000 + exdate.month * 100 + exdate.day).to_numpy().astype(str), 6)
    symbols = np.where(weekly[first], WEEKLY_ROOT, STANDARD_ROOT)  # "{root} {exdate:%y%m%d}{cp}{strike_price}", built column-wise
    for part in (" ", yymmdd, quotes["cp_flag"].iloc[first].astype(str).to_numpy(), quotes["strike_price"].to_numpy()[first].astype(str)):
        symbols = np.strings.add(symbols, part)
    return {
        "symbol": pd.Categorical.from_codes(codes, categories=pd.Index(symbols.tolist(), dtype=object)) if len(quotes) else pd.Categorical([]),
        "root": root,
        "am_settlement": (~weekly).astype(np.int8),
        "ss_flag": pd.Categorical(np.full(len(quotes), STANDARD_SS_FLAG), categories=[STANDARD_SS_FLAG]),
        "expiry_indicator": expiry,
    }


def _with_columns(frame: pd.DataFrame, **columns: Any) -> pd.DataFrame:
    """``frame.assign(**columns)`` without copying the other columns (shared with ``frame``; nothing here writes into them)."""
    out = frame.copy(deep=False)
    for name, values in columns.items():
        out[name] = values
    return out


def _concat_rows(frames: list[pd.DataFrame], columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of ``frames`` one after the other, on a fresh RangeIndex, with ``columns`` (default: the
    columns every frame holds, in the first frame's order): ``pd.concat`` column by column, each column one
    array (``pd.concat`` of frames whose columns are separate blocks joins them block by block, slower).
    One frame comes back as it is when no columns are chosen."""
    if len(frames) == 1 and columns is None:
        return frames[0]
    if columns is None:
        columns = [column for column in frames[0].columns if all(column in frame.columns for frame in frames[1:])]
    joined = {}
    for column in columns:
        parts = [frame[column] for frame in frames]
        if all(isinstance(part.dtype, np.dtype) and part.dtype == parts[0].dtype for part in parts):
            joined[column] = np.concatenate([part.to_numpy() for part in parts])
        else:  # categoricals and mixed dtypes: the same rules as pd.concat
            joined[column] = pd.concat(parts, ignore_index=True)
    return frame_of_columns(joined, pd.RangeIndex(sum(len(frame) for frame in frames)))


def _lexsort_packed(keys: tuple[NDArray[np.integer], ...]) -> NDArray[np.int64]:
    """``np.lexsort(keys)`` (last key primary) of integer keys, as one stable sort of the keys packed into
    one int64 when their ranges fit in 63 bits (the same permutation: both sorts are stable and the
    packed order is the keys' lexicographic order); else ``np.lexsort`` itself."""
    arrays = [np.asarray(key).astype(np.int64) for key in keys]
    if not len(arrays[0]):
        return np.lexsort(keys)
    lows = [int(array.min()) for array in arrays]
    widths = [int(array.max()) - low + 1 for array, low in zip(arrays, lows)]
    if int(np.prod([float(width) for width in widths])) >= 2**62:
        return np.lexsort(keys)
    packed = np.zeros(len(arrays[0]), dtype=np.int64)
    for array, low, width in zip(arrays[::-1], lows[::-1], widths[::-1]):  # primary key first
        packed *= width
        packed += array - low
    return np.argsort(packed, kind="stable")


def _take_rows(frame: pd.DataFrame, rows: NDArray[np.int64], columns: list[str]) -> pd.DataFrame:
    """The ``columns`` of the rows at positions ``rows``, column by column, on a fresh RangeIndex."""
    taken = {}
    for column in columns:
        values = frame[column]
        taken[column] = values.to_numpy()[rows] if isinstance(values.dtype, np.dtype) else values.array.take(rows)
    return frame_of_columns(taken, pd.RangeIndex(len(rows)))


def generate_year(
    year: int, market: pd.DataFrame, expirations: pd.DataFrame, intensity: float, long_run_variance: float, spec: SyntheticPanelSpec,
) -> SyntheticYear:
    """Raw quotes and truth of one calendar year (rows sorted by date, cp_flag, exdate, strike, SPX before
    SPXW; a planted copy right after its original). Deterministic from (seed, year).

    The standard panel draws from the stream (seed, year); the quirks (SPXW rows, NULL IVs) from their own
    stream, so adding them leaves every standard quote and planted defect as it was.
    """
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, year]))
    days = market[market.index.year == year]
    calendar_days = day_numbers(market.index)
    clean, missing = _clean_year_quotes(days, expirations, intensity, long_run_variance, spec, rng, calendar_days)
    parts, labels = _plant_defects(clean, spec, rng)
    parts = [_with_columns(part, _class=np.int8(0), _expiry_indicator=_expiry_indicator_column(np.zeros(len(part), dtype=bool))) for part in parts]
    if spec.quirks.enabled:
        quirk_rng = np.random.default_rng(np.random.SeedSequence([spec.seed, year, QUIRK_STREAM]))
        standard = _concat_rows(parts, columns=["date", "_exdate_days", "_strike", "_copy"])  # what the PM-settled monthlies copy
        weekly = _pm_settled_quotes(days, calendar_days, standard, intensity, long_run_variance, spec, quirk_rng)
        quotes = _concat_rows(parts + [weekly] if len(weekly) else parts)
        labels = np.concatenate([labels, np.full(len(weekly), "", dtype=object)])
        pair = quotes["_pair"].to_numpy()
        defect_pairs = np.unique(pair[(labels != "") & (pair >= 0)])
        nullable = ~np.isin(pair, defect_pairs) | (pair < 0)  # the planted defects keep their IVs (each aims at one filter)
        iv = quotes["impl_volatility"].to_numpy().copy()
        iv[null_implied_volatility(quotes, spec.quirks, quirk_rng) & nullable] = np.nan
        quotes["impl_volatility"] = iv
    else:
        quotes = _concat_rows(parts)
    # no quote on or after its expiration's last trading day (the day before a Good Friday expiration)
    alive = np.flatnonzero(quotes["_expiry_days"].to_numpy() > day_numbers(quotes["date"]))
    order = _lexsort_packed(
        (quotes["_copy"].to_numpy()[alive], quotes["_class"].to_numpy()[alive], quotes["strike_price"].to_numpy()[alive],
         quotes["_exdate_days"].to_numpy()[alive], np.asarray(quotes["cp_flag"].cat.codes)[alive], day_numbers(quotes["date"])[alive])
    )
    rows = alive[order]
    quotes = _take_rows(quotes, rows, [*RAW_QUOTE_COLUMNS, "_class", "_expiry_indicator"])  # one copy, of the columns written
    labels = labels[rows]
    planted = np.flatnonzero(labels != "")
    truth = pd.concat(
        [
            pd.DataFrame({"row": planted.astype(np.int64), "date": quotes["date"].to_numpy()[planted],
                          "optionid": quotes["optionid"].to_numpy()[planted], "defect": labels[planted]}),
            pd.DataFrame({"row": np.full(len(missing), -1, dtype=np.int64), "date": missing["date"].to_numpy(),
                          "optionid": missing["optionid"].to_numpy(), "defect": MISSING_QUOTE}),
        ],
        ignore_index=True,
    )
    truth["target_step"] = truth["defect"].map({**DEFECT_TARGET_STEP, MISSING_QUOTE: 0}).astype(np.int64)
    truth["defect"] = pd.Categorical(truth["defect"], dtype=DEFECT_DTYPE)
    flags = _contract_flags(quotes)
    quotes = frame_of_columns({column: flags[column] if column in flags else quotes[column] for column in QUOTE_FILE_COLUMNS}, quotes.index)
    quotes.attrs["data_source"] = SYNTHETIC_LABEL
    truth.attrs["data_source"] = SYNTHETIC_LABEL
    return SyntheticYear(year, quotes, truth[list(TRUTH_COLUMNS)])


@dataclass(frozen=True)
class PanelInputs:
    """What every year of a panel is generated from (:func:`generate_year`): the market, the expirations, the sampling intensity."""

    market: pd.DataFrame
    long_run_variance: float
    expirations: pd.DataFrame
    intensity: float


def panel_inputs(spec: SyntheticPanelSpec, closes: pd.Series | None = None, rf_monthly: pd.DataFrame | None = None) -> PanelInputs:
    """The :class:`PanelInputs` of ``spec`` (the embedded S&P 500 closes and rates unless given)."""
    market, long_run_variance = synthetic_market(spec, closes, rf_monthly)
    expirations = expiration_calendar(spec.start - pd.Timedelta(days=31), spec.end + pd.Timedelta(days=spec.grid.quarterly_horizon_days + 62))
    return PanelInputs(market, long_run_variance, expirations, sampling_intensity(market, expirations, spec))


def generate_panel_year(year: int, inputs: PanelInputs, spec: SyntheticPanelSpec) -> SyntheticYear:
    """:func:`generate_year` from :class:`PanelInputs` (deterministic from (seed, year): any process gives the same year)."""
    return generate_year(year, inputs.market, inputs.expirations, inputs.intensity, inputs.long_run_variance, spec)


def generate_synthetic_panel(
    spec: SyntheticPanelSpec, years: list[int] | None = None, *, closes: pd.Series | None = None, rf_monthly: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, Iterator[SyntheticYear]]:
    """The underlying table and a lazy iterator of the panel's years (all of ``spec.years`` by default).

    Usage::

        spec = SyntheticPanelSpec.from_settings(settings.load())      # or .clean_world(sigma=0.2)
        underlying, years = generate_synthetic_panel(spec)
        for year in years:
            year.quotes, year.truth   # one calendar year in memory at a time
    """
    inputs = panel_inputs(spec, closes, rf_monthly)
    wanted = spec.years if years is None else [y for y in years if y in spec.years]
    log.info("synthetic panel: %d years, sampling intensity %.4g for about %d quotes", len(wanted), inputs.intensity, spec.target_quotes)

    def year_iterator() -> Iterator[SyntheticYear]:
        for year in wanted:
            yield generate_panel_year(year, inputs, spec)

    return synthetic_underlying(inputs.market), year_iterator()
