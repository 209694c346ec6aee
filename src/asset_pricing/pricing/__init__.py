"""Pricing tests of test assets: time-series alphas, GRS, and the two-pass cross-section.

Modules, in the order a test runs:

- ``panel``: excess returns rx = R − rf, monthly factors, and the balanced panel (the months where every
  series of a test has a value; the rule for missing months).
- ``time_series``: per-portfolio regressions rx_t = α + β'f_t + ε_t with Newey–West (1987) t-statistics,
  the Gibbons–Ross–Shanken (1989) F-test of α = 0, and the robust J-test of ``linearmodels``.
- ``cross_section``: He–Kelly–Manela (2017) two-pass regressions: full-sample betas, monthly
  cross-sectional regressions on [1, β] (Fama–MacBeth 1973), and GMM standard errors that account for
  the estimated betas (Cochrane 2005, ch. 12).
- ``stage``: the only module with file I/O (``build_pricing``, ``pricing_targets``, ``pricing_inputs``).

Returns are monthly simple fractions throughout; annualized values are 12 × monthly.
"""
