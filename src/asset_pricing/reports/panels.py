"""When a figure panel is worth drawing: a panel whose every value reads the same is replaced by a sentence.

A heatmap or bar panel of 27 cells that all read "0.0%" tells the reader one fact in a large picture;
the reports say that fact in words instead. "Reads the same" is decided on the values as the panel
would print them (its format), so rounding noise below the shown precision does not make a panel.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def uniform_display(values: Iterable[float], fmt: str) -> str | None:
    """The one printed value when every value prints the same with format spec ``fmt`` (e.g. ``".1%"``),
    else None. Missing values print as "no value"; an empty input is None."""
    shown = {format(float(value), fmt) if np.isfinite(value) else "no value" for value in values}
    return shown.pop() if len(shown) == 1 else None


def uniform_sentence(title: str, shown: str, zero_sentence: str | None = None, unit: str = "series") -> str:
    """One sentence for a panel that is one value: ``zero_sentence`` when that value is zero (e.g. "No day
    without quotes on this build."), else "<Title>: <value> for every <unit> on this build."."""
    if zero_sentence is not None and _is_zero(shown):
        return zero_sentence
    return f"{title[:1].upper()}{title[1:]}: {shown} for every {unit} on this build."


def _is_zero(shown: str) -> bool:
    digits = shown.replace("%", "").replace("−", "-").strip()
    try:
        return float(digits) == 0.0
    except ValueError:
        return False
