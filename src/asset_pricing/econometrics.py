"""Econometric rules shared by the studies (a leaf module: imports nothing from the stages)."""

from __future__ import annotations

import math


def newey_west_lags(n_obs: int) -> int:
    """Newey–West (1994) rule of thumb for the Bartlett lag: L = ⌊4 (T/100)^{2/9}⌋ for T observations.

    E.g. T = 155 → 4, T = 310 → 5 (docs/methods.md §2.6, §7.1).
    """
    return int(math.floor(4.0 * (n_obs / 100.0) ** (2.0 / 9.0)))
