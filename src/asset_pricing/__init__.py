"""asset_pricing: a reproducible pipeline for empirical asset pricing.

Stages (sub-packages): ``sources`` (pull raw data), ``prepare`` (returns, realized variances),
``volmanaged`` (volatility-managed portfolios), ``options`` (OptionMetrics-format quotes, CJS filters,
CJS/HKM portfolios), ``reports`` (normality tests, plots, notebook → HTML).
"""

import logging

__version__ = "0.1.0"

logging.getLogger("asset_pricing").addHandler(logging.NullHandler())
