"""Report 04 helpers: labels, tables in display units, and the words, which must say real or synthetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asset_pricing.reports import pricing_report as report

SYNTHETIC = "synthetic option quotes"
REAL = "He-Kelly-Manela (2017) published option portfolios (real quotes, built by CJS 2013)"


def cross_row(**values) -> pd.Series:
    row = {
        "test_assets": "hkm18", "factors": "capital_market", "first_month": pd.Timestamp("1996-01-31"),
        "last_month": pd.Timestamp("2012-12-31"), "months": 204, "assets": 18,
        "lambda_intercept": -0.01, "lambda_market": 0.005, "lambda_capital": 0.2,
        "t_fm_intercept": -2.5, "t_fm_market": 1.0, "t_fm_capital": 5.0,
        "t_gmm_intercept": -1.0, "t_gmm_market": 0.5, "t_gmm_capital": 0.8,
        "r2": 0.9, "mape": 0.0012, "months_missing_return": 0, "grs_f": 3.0, "grs_p": 0.00001, "j_p": 0.2, "mean_market": 0.006, "mean_capital": 0.001,
        "data_source": SYNTHETIC, "note": "",
    }
    row.update(values)
    return pd.Series(row)


def test_portfolio_labels_give_type_moneyness_and_maturity():
    labels = report.portfolio_labels(["hkm_C_900", "hkm_P_1025", "cjs_P_1100_90"])
    assert list(labels["label"]) == ["C90", "P102.5", "P110"]
    assert list(labels["moneyness"]) == [0.9, 1.025, 1.1]
    assert np.isnan(labels["maturity"].iloc[0]) and labels["maturity"].iloc[2] == 90


def test_paragraph_says_synthetic_and_reads_the_t_statistics_right():
    text = report.describe_cross_section(cross_row())
    assert text.startswith("**this build's 18 HKM portfolios (synthetic option quotes), capital + market (HKM)**")
    assert "capital factor's price of risk is 20.00 % per month" in text
    assert "significant by Fama–MacBeth (t = 5.00) but not significant once the estimated betas are accounted for (GMM t = 0.80)" in text
    assert "R²" in text and "0.12 % per month" in text and "say nothing about real option prices" in text
    assert "dropped" not in text
    dropped = report.describe_cross_section(cross_row(months=46, months_missing_return=229))
    assert "(46 months, 1996-01 … 2012-12; 229 months with a missing return in some portfolio dropped)" in dropped
    real = report.describe_cross_section(cross_row(test_assets="published_hkm18", data_source=REAL))
    assert "(real quotes)" in real and "synthetic" not in real


def test_grs_paragraph_states_the_verdict_and_the_missing_case():
    assert "GRS F = 3.00 (p < 0.0001) rejects at 5 %" in report.describe_grs(cross_row())
    assert "not a traded return" in report.describe_grs(cross_row())
    missing = report.describe_grs(cross_row(grs_f=np.nan, note="GRS test undefined with 48 months for 54 assets"))
    assert "GRS not computed — GRS test undefined with 48 months" in missing


def test_tables_show_percent_per_month_and_real_or_synthetic():
    cross = pd.DataFrame([cross_row(), cross_row(test_assets="published_hkm18", factors="market", lambda_capital=np.nan, data_source=REAL)])
    lambdas = report.lambda_table(cross)
    assert lambdas["λ capital (%/mo)"].iloc[0] == pytest.approx(20.0)
    assert list(lambdas["data"]) == ["synthetic", "real"]
    fit = report.fit_table(cross)
    assert fit["MAPE (%/mo)"].iloc[0] == pytest.approx(0.12) and fit["window"].iloc[0] == "1996-01 … 2012-12"


def test_alpha_paragraph_gives_the_range_by_moneyness_and_the_count_significant():
    ids = ["hkm_C_900", "hkm_C_1100", "hkm_P_900", "hkm_P_1100"]
    ts = pd.DataFrame({"test_assets": "hkm18", "factors": "market", "portfolio_id": ids, "months": 275,
                       "alpha_annual": [-0.01, -0.05, 0.08, 0.0], "alpha_t_nw": [-0.5, -2.5, 3.0, 0.1], "data_source": SYNTHETIC})
    text = report.describe_alphas(ts, "hkm18")
    assert "calls from -5.0 % (C110) to -1.0 % a year (C90), 1 of 2 significant" in text
    assert "puts from 0.0 % (P110) to 8.0 % a year (P90), 1 of 2 significant" in text
    assert "(synthetic option quotes)" in text


def test_the_heading_says_how_the_option_months_are_cut_from_the_build_file():
    from asset_pricing.options.stage_portfolios import option_portfolio_targets
    from asset_pricing.paths import project_paths

    paths = project_paths()  # a temporary DATA_DIR (conftest)
    assert report.build_option_months(paths) == ""  # no build yet
    hkm_file = option_portfolio_targets(paths)[2]
    hkm_file.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"portfolio_id": ["hkm_C_900"], "date": [pd.Timestamp("2000-01-31")], "return": [0.01]})
    frame.attrs.update(data_source=SYNTHETIC, option_months="calendar")
    frame.to_parquet(hkm_file)
    assert report.build_option_months(paths) == "calendar"
    cut, calendar, unknown = (report.month_cut_sentence(m) for m in ("first_to_last", "calendar", ""))
    assert "first to its last trading day" in unknown and "0.27 %" in unknown and "This build" not in unknown
    assert cut.endswith("so their alphas compare with the published ones.") and "OPTION_MONTHS=first_to_last" in cut
    assert "OPTION_MONTHS=calendar" in calendar and "do not compare with the published ones" in calendar
