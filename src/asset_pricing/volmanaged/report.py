"""Text and table helpers of the volatility-managed report (notebook 02): no math, only presentation."""

from __future__ import annotations

from typing import Any

import pandas as pd

PERCENT_COLUMNS = ("cagr", "ann_mean_excess", "ann_vol", "max_drawdown", "alpha_ann", "alpha_net_ann", "residual_vol_ann")
RATIO_COLUMNS = (
    "sharpe", "sharpe_net", "beta", "beta_t_nw", "alpha_t_nw", "alpha_net_t_nw", "appraisal_ratio", "r2",
    "avg_exposure", "max_exposure", "mean_turnover", "sharpe_diff_ann", "sharpe_diff_z_memmel",
)
P_VALUE_COLUMNS = ("sharpe_diff_p_memmel", "sharpe_diff_p_bootstrap", "shapiro_p", "jarque_bera_p", "dagostino_p")


def construction_markdown(cfg: dict[str, Any], calibration: pd.DataFrame) -> str:
    """One Markdown line with the study's settings and the assets left out for lack of calibration data."""
    cap = "none" if cfg["MAX_LEVERAGE"] is None else f"{cfg['MAX_LEVERAGE']:g}"
    assets = calibration.loc[calibration["role"] == "onefactor"]
    excluded = ", ".join(map(str, assets.index[assets["excluded"].astype(bool)])) or "none"
    costs = ", ".join(f"{cost:g}" for cost in cfg["COST_BPS"])
    return (
        f"**Construction:** VARIANCE_MODEL={cfg['VARIANCE_MODEL']}, CALIBRATION={cfg['CALIBRATION']}, "
        f"SCALING_TARGET={cfg['SCALING_TARGET']}, MAX_LEVERAGE={cap}, MIN_DAYS={cfg['MIN_DAYS']}; "
        f"{len(assets)} assets (excluded for lack of training data: {excluded}); costs {costs} bps per unit traded."
    )


def table_formats(table: pd.DataFrame) -> dict[str, str]:
    """Format strings for ``DataFrame.style.format``: percent, two decimals or p-values, by column name."""
    formats = {}
    for column in table.columns:
        if column in PERCENT_COLUMNS:
            formats[column] = "{:.2%}"
        elif column in RATIO_COLUMNS:
            formats[column] = "{:.2f}"
        elif column in P_VALUE_COLUMNS:
            formats[column] = "{:.3g}"
        elif column in ("first_month", "last_month"):
            formats[column] = "{:%Y-%m}"
        elif column in ("break_even_bps",):
            formats[column] = "{:.0f}"
    return formats


def styled(table: pd.DataFrame):  # -> pandas Styler (import-free annotation keeps jinja2 optional)
    """``table.style`` with :func:`table_formats` and NaN shown as an en dash."""
    return table.style.format(table_formats(table), na_rep="–")
