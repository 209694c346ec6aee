"""Volatility-managed portfolios (Moreira and Muir 2017; DeMiguel, Martín-Utrera and Uppal 2024; docs/methods.md §2).

Modules, in the order the study runs:

- ``returns``: monthly compounded asset returns and excess returns.
- ``variance``: the variance signal per month — ``realized`` (sample variance of the month's daily
  returns), ``ewma`` (RiskMetrics) or ``garch`` (GARCH(1,1) via ``arch``, fit on training only).
- ``signals``: 1/σ² signals, the scale k (``train`` | ``expanding``; ``mean_exposure`` |
  ``match_volatility``), the ``MAX_LEVERAGE`` cap and the one-month lag.
- ``strategies``: equal-weight, common-volatility and one-factor strategy returns, weights, turnover.
- ``pipeline``: the pure end-to-end construction from the prepared tables.
- ``evaluation``: performance, Moreira–Muir regressions, costs, Sharpe-ratio difference tests.
- ``plots``: wealth, drawdowns, exposures.
- ``stage``: the only module with file I/O (``build_volmanaged``, ``volmanaged_targets``, loaders).
"""
