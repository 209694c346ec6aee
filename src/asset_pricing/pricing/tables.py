"""One pricing test → rows of the three output tables (pure: frames in, frames out).

A test is a set of test assets (``published_hkm18``, ``hkm18``, ``cjs54``) priced by a factor set
(``market``: the market excess return; ``capital_market``: HKM's intermediary capital risk factor and the
market, He, Kelly and Manela 2017). :func:`price_test` builds the balanced panel
(:mod:`~asset_pricing.pricing.panel`), runs the time-series tests and the two-pass cross-section, and
returns the rows. The cross-section row also gives each factor's mean over the test's months
(``mean_market``, ``mean_capital``): for a traded excess return such as the market, the model says λ
equals that mean (Cochrane 2005, §12.2).

A test that cannot run on its panel (no common month with a factor, too few months) is never a silent
number: its cross-section row keeps the months it has, leaves the statistics it cannot compute empty and
says why in ``note``; GRS and the J-test are left empty (with the reason in ``note``) when T < N + K + 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from asset_pricing.pricing.cross_section import INTERCEPT, two_pass
from asset_pricing.pricing.panel import BalancedPanel, PricingInputError, balanced_panel
from asset_pricing.pricing.time_series import grs_test, j_test, resolve_lags, time_series_regressions

log = logging.getLogger(__name__)

FACTOR_SETS: dict[str, tuple[str, ...]] = {"market": ("market",), "capital_market": ("capital", "market")}
FACTOR_NAMES: tuple[str, ...] = ("market", "capital")
TEST_ASSETS: tuple[str, ...] = ("published_hkm18", "hkm18", "cjs54")

TIME_SERIES_COLUMNS: tuple[str, ...] = (
    "test_assets", "factors", "portfolio_id", "months", "alpha", "alpha_t_nw", "beta_market", "beta_capital", "r2",
    "alpha_annual", "alpha_se_nw", "nw_lags", "data_source",
)
CROSS_SECTION_COLUMNS: tuple[str, ...] = (
    "test_assets", "factors", "first_month", "last_month", "months", "assets",
    "lambda_intercept", "lambda_market", "lambda_capital",
    "t_fm_intercept", "t_fm_market", "t_fm_capital", "t_gmm_intercept", "t_gmm_market", "t_gmm_capital",
    "r2", "mape", "grs_f", "grs_p", "j_stat", "j_p", "nw_lags", "gmm_lags",
    "months_without_factor", "months_missing_return", "mean_market", "mean_capital", "data_source", "note",
)
FITTED_COLUMNS: tuple[str, ...] = (
    "test_assets", "factors", "portfolio_id", "months", "mean_excess", "predicted", "pricing_error",
    "beta_market", "beta_capital", "data_source",
)


@dataclass(frozen=True)
class TestAssets:
    """A set of test assets with the series that price it.

    ``returns``: monthly total returns (month end × portfolio); ``rf``: monthly risk-free rate;
    ``factors``: columns ``market`` (excess return) and ``capital`` (HKM's factor), month ends;
    ``data_source``: where the returns come from (e.g. "synthetic option quotes").
    """

    __test__ = False  # not a pytest class

    name: str
    returns: pd.DataFrame
    rf: pd.Series
    factors: pd.DataFrame
    data_source: str


@dataclass(frozen=True)
class PricingRows:
    """The rows of one test in the three tables."""

    time_series: pd.DataFrame
    cross_section: pd.DataFrame
    fitted: pd.DataFrame


def _empty_rows(test: TestAssets, factor_set: str, note: str, panel: BalancedPanel | None = None, gmm_lags: int | None = None) -> PricingRows:
    row = {column: np.nan for column in CROSS_SECTION_COLUMNS}
    row.update(test_assets=test.name, factors=factor_set, data_source=test.data_source, note=note,
               assets=test.returns.shape[1], months=0 if panel is None else panel.months, gmm_lags=gmm_lags)
    if panel is not None and panel.months:
        row.update(first_month=panel.excess.index[0], last_month=panel.excess.index[-1],
                   months_without_factor=len(panel.without_factor), months_missing_return=len(panel.missing_return))
    return PricingRows(
        time_series=pd.DataFrame(columns=list(TIME_SERIES_COLUMNS)),
        cross_section=pd.DataFrame([row], columns=list(CROSS_SECTION_COLUMNS)),
        fitted=pd.DataFrame(columns=list(FITTED_COLUMNS)),
    )


def price_test(test: TestAssets, factor_set: str, nw_lags: str | int = "auto", gmm_lags: int = 0) -> PricingRows:
    """Time-series and two-pass cross-sectional tests of ``test`` on the factors of ``factor_set``.

    Parameters
    ----------
    test : the test assets and their rf and factors.
    factor_set : a key of :data:`FACTOR_SETS`.
    nw_lags : Newey–West lag of the time-series alphas and the J-test ("auto" = ⌊4(T/100)^{2/9}⌋).
    gmm_lags : Bartlett lags of the spectral density in the GMM standard errors of λ (0 = none, as HKM).

    Returns
    -------
    :class:`PricingRows`: one time-series row per portfolio, one cross-section row, one fitted row per
    portfolio (mean excess return, Xλ, pricing error). Monthly fractions.
    """
    name = f"{test.name} × {factor_set}"
    factor_names = list(FACTOR_SETS[factor_set])
    try:
        panel = balanced_panel(test.returns, test.rf, test.factors[factor_names], name)
    except PricingInputError as exc:
        log.warning("%s not run: %s", name, exc)
        return _empty_rows(test, factor_set, str(exc), gmm_lags=gmm_lags)
    log.info("%s", panel.summary())
    try:
        lags = resolve_lags(nw_lags, panel.months)
        time_series = time_series_regressions(panel.excess, panel.factors, lags, name)
        cross = two_pass(panel.excess, panel.factors, gmm_lags, name)
    except PricingInputError as exc:
        log.warning("%s not run: %s", name, exc)
        return _empty_rows(test, factor_set, str(exc), panel, gmm_lags)

    notes = []
    try:
        grs = grs_test(panel.excess, panel.factors, name)
        j_stat = j_test(panel.excess, panel.factors, lags, name)
    except PricingInputError as exc:
        log.warning("%s: GRS and J-test left empty: %s", name, exc)
        notes.append(str(exc).rstrip("."))
        grs = pd.Series({"grs_f": np.nan, "grs_p": np.nan})
        j_stat = pd.Series({"j_stat": np.nan, "j_p": np.nan})
    if len(panel.missing_return):
        notes.append(f"{len(panel.missing_return)} month(s) with a missing return dropped (balanced panel)")

    labels = {"test_assets": test.name, "factors": factor_set}
    time_series = time_series.reset_index().assign(**labels, data_source=test.data_source)
    fitted = pd.DataFrame({
        "portfolio_id": cross.mean_excess.index, "months": panel.months, "mean_excess": cross.mean_excess.to_numpy(),
        "predicted": cross.predicted.to_numpy(), "pricing_error": cross.pricing_errors.to_numpy(),
        **{f"beta_{factor}": cross.betas[factor].to_numpy() for factor in factor_names},
    }).assign(**labels, data_source=test.data_source)
    row = {
        **labels, "first_month": panel.excess.index[0], "last_month": panel.excess.index[-1], "months": panel.months,
        "assets": panel.excess.shape[1], "r2": cross.r2, "mape": cross.mape, "grs_f": grs["grs_f"], "grs_p": grs["grs_p"],
        "j_stat": j_stat["j_stat"], "j_p": j_stat["j_p"], "nw_lags": lags, "gmm_lags": gmm_lags,
        "months_without_factor": len(panel.without_factor), "months_missing_return": len(panel.missing_return),
        **{f"mean_{factor}": panel.factors[factor].mean() for factor in factor_names},
        "data_source": test.data_source, "note": "; ".join(notes),
    }
    for key in (INTERCEPT, *factor_names):
        row[f"lambda_{key}"] = cross.lambdas[key]
        row[f"t_fm_{key}"] = cross.t_fm[key]
        row[f"t_gmm_{key}"] = cross.t_gmm[key]
    return PricingRows(
        time_series=time_series.reindex(columns=list(TIME_SERIES_COLUMNS)),
        cross_section=pd.DataFrame([row]).reindex(columns=list(CROSS_SECTION_COLUMNS)),
        fitted=fitted.reindex(columns=list(FITTED_COLUMNS)),
    )


def price_all(tests: list[TestAssets], nw_lags: str | int = "auto", gmm_lags: int = 0) -> PricingRows:
    """:func:`price_test` for every test set and factor set (:data:`FACTOR_SETS`), rows stacked in that order."""
    rows = [price_test(test, factor_set, nw_lags, gmm_lags) for test in tests for factor_set in FACTOR_SETS]

    def stack(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
        frames = [frame for frame in frames if len(frame)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))

    return PricingRows(
        time_series=stack([r.time_series for r in rows], TIME_SERIES_COLUMNS),
        cross_section=stack([r.cross_section for r in rows], CROSS_SECTION_COLUMNS),
        fitted=stack([r.fitted for r in rows], FITTED_COLUMNS),
    )
