"""Project settings, read from ``.env`` at the project root with python-decouple.

Every setting is declared once below with its type, default and a one-line doc. Values come from, in
order of precedence: the process environment, the ``.env`` file next to this module (found by absolute
path, never by searching upward from the working directory), and the declared default.

Use::

    import settings
    settings.TRAIN_END          # typed value (pandas.Timestamp), read fresh on each access
    settings.get("MIN_DAYS")    # same, by name
    settings.load()             # dict of every setting, cross-checked
    settings.describe()         # rows of (name, shown value, source, doc) for ``doit settings``

A bad value raises :class:`SettingsError` whose message is one line naming the setting, the value and
what is accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from decouple import RepositoryEmpty, RepositoryEnv

PROJECT_ROOT: Path = Path(__file__).resolve().parent
ENV_FILE: Path = PROJECT_ROOT / ".env"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names setting, value and what is accepted."""


@dataclass(frozen=True)
class Setting:
    """Declaration of one setting: name, type (``kind``), default as written in ``.env``, one-line doc."""

    name: str
    kind: str
    default: str
    doc: str
    choices: tuple[str, ...] = ()
    secret: bool = False
    group: str = "general"


EMBEDDED_TICKERS = (
    "AAPL AMD BAC BBY CVX GE HD JNJ JPM KO LLY MRK MSFT PEP PFE PG RRC UNH WMT XOM".split()
)
MAG7_TICKERS = "AAPL MSFT AMZN GOOGL META NVDA TSLA".split()

SETTINGS: tuple[Setting, ...] = (
    # --- folders --------------------------------------------------------------------------------
    Setting("DATA_DIR", "path", "data", "Data folder: raw/ (pulled, never cleaned), interim/, processed/, manual/.", group="paths"),
    Setting("OUTPUT_DIR", "path", "_output", "Output folder: tables/, figures/, reports/ (HTML).", group="paths"),
    # --- equities and risk-free rate ----------------------------------------------------------
    Setting("EQUITY_SOURCE", "choice", "embedded", "Daily prices: embedded (skfolio, offline) | yahoo (yfinance) | files (data/manual/prices.csv|parquet).", ("embedded", "yahoo", "files"), group="equity"),
    Setting("TICKERS", "list", "", "Comma-separated tickers; empty = the source's universe (embedded: its 20 stocks; yahoo: MAG7; files: every column).", group="equity"),
    Setting("MARKET_TICKER", "str", "", "Market index column; empty = source default (embedded: SP500; yahoo: ^GSPC; files: MARKET).", group="equity"),
    Setting("START_DATE", "date", "1990-01-01", "First day of the equity sample.", group="equity"),
    Setting("END_DATE", "date", "2018-11-30", "Last day of the equity sample (the embedded risk-free rate ends 2018-11).", group="equity"),
    Setting("TRAIN_END", "date", "2005-12-31", "Last day of the training window; evaluation starts the next month.", group="equity"),
    Setting("RF_SOURCE", "choice", "embedded", "Monthly risk-free rate: embedded (Fama-French RF in arch) | fred (TB3MS/100/12) | files (data/manual/rf.csv|parquet).", ("embedded", "fred", "files"), group="equity"),
    Setting("MIN_DAYS", "int", "10", "Fewest valid daily returns for a month's realized variance (else NaN).", group="equity"),
    # --- volatility-managed study -------------------------------------------------------------
    Setting("VARIANCE_MODEL", "choice", "realized", "Variance signal: realized (monthly sample variance) | ewma | garch (GARCH(1,1), fit on training only).", ("realized", "ewma", "garch"), group="volmanaged"),
    Setting("EWMA_LAMBDA", "float", "0.94", "Daily decay of the EWMA variance (RiskMetrics 0.94).", group="volmanaged"),
    Setting("CALIBRATION", "choice", "train", "Exposure scalar k: train (fixed on training window) | expanding (months <= t-1 only).", ("train", "expanding"), group="volmanaged"),
    Setting("SCALING_TARGET", "choice", "mean_exposure", "k targets: mean_exposure (average exposure 1 in training) | match_volatility (Moreira-Muir).", ("mean_exposure", "match_volatility"), group="volmanaged"),
    Setting("MAX_LEVERAGE", "optional_float", "", "Cap on exposure (e.g. 3); empty = uncapped.", group="volmanaged"),
    Setting("COST_BPS", "float_list", "0,10,25,50", "One-way trading costs in bps per unit of exposure change, for net alphas.", group="volmanaged"),
    # --- option study ---------------------------------------------------------------------------
    Setting("OPTIONS_SOURCE", "choice", "synthetic", "Option quotes: synthetic (simulated on real S&P 500 closes) | wrds (OptionMetrics) | files (data/manual/options/).", ("synthetic", "wrds", "files"), group="options"),
    Setting("OPTIONS_START", "date", "1996-01-01", "First day of the option sample.", group="options"),
    Setting("OPTIONS_END", "date", "2018-11-30", "Last day of the option sample.", group="options"),
    Setting("OPTIONS_SECID", "int", "108105", "OptionMetrics secid of the underlying (108105 = S&P 500 index).", group="options"),
    Setting("OPTIONS_CONTRACTS", "choice", "standard", "Contracts of the secid the CJS filters keep: standard (AM-settled SPX, standard monthly expiration, as CJS 2013) | all (also PM-settled SPXW weeklies, end-of-month).", ("standard", "all"), group="options"),
    Setting("DIVIDEND_YIELD", "float", "0.02", "Continuous dividend yield q of the index (synthetic panel; WRDS fallback).", group="options"),
    Setting("SYNTHETIC_SEED", "int", "20130901", "Random seed of the synthetic option panel.", group="options"),
    Setting("SYNTHETIC_QUOTES", "int", "5000000", "Approximate number of raw standard (AM-settled SPX) quotes in the synthetic panel, SPXW rows not counted (default: about 13 quotes per CJS portfolio-day; benchmark: 20000000).", group="options"),
    Setting("SYNTHETIC_DEFECT_SHARE", "float", "0.002", "Share of synthetic quotes planted with each kind of defect.", group="options"),
    Setting("SYNTHETIC_MISSING_SHARE", "float", "0.01", "Share of synthetic contract-days whose quote is missing.", group="options"),
    Setting("MAX_FILL_SHARE", "float", "1.0", "Opt-in: a portfolio-day whose filled (model-priced) weight exceeds this is NaN; 1.0 keeps every day, as CJS do.", group="options"),
    Setting("OPTION_MONTHS", "choice", "first_to_last", "Days a monthly option return compounds: first_to_last (from the first to the last trading day's close, as the published CJS/HKM series; the turn-of-month day belongs to no month) | calendar (every daily return in the month it is earned).", ("first_to_last", "calendar"), group="options"),
    Setting("ALLOW_PARTIAL_MONTHS", "bool", "false", "Compound the valid days of a month with a NaN day instead of a NaN month.", group="options"),
    Setting("OPTIONS_ENGINE", "choice", "pandas", "Engine for the option stages: pandas (one machine) | dask (year partitions on a cluster).", ("pandas", "dask"), group="options"),
    Setting("DASK_SCHEDULER_ADDRESS", "str", "", "Address of an existing dask scheduler; empty = start a local cluster.", group="options"),
    # --- pricing tests ----------------------------------------------------------------------------
    Setting("PRICING_NW_LAGS", "str", "auto", "Newey-West lag of the pricing tests' time-series alphas and J-tests: auto (floor(4 (T/100)^(2/9)), Newey-West 1994) or a whole number.", group="pricing"),
    Setting("PRICING_GMM_LAGS", "int", "0", "Bartlett lags in the GMM standard errors of the prices of risk (0 = no lags, as He-Kelly-Manela 2017).", group="pricing"),
    # --- credentials ----------------------------------------------------------------------------
    Setting("WRDS_USERNAME", "str", "", "WRDS user name for OPTIONS_SOURCE=wrds (password via ~/.pgpass).", group="credentials"),
    Setting("WRDS_HOST", "str", "wrds-pgdata.wharton.upenn.edu", "WRDS PostgreSQL host for OPTIONS_SOURCE=wrds (WRDS's own; another host serves a copy of its tables).", group="credentials"),
    Setting("WRDS_PORT", "int", "9737", "WRDS PostgreSQL port (WRDS's own: 9737).", group="credentials"),
)

_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
_SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "API_KEY")


def _parse_date(raw: str) -> pd.Timestamp:
    ts = pd.Timestamp(raw)
    if pd.isna(ts) or ts.tz is not None:
        raise ValueError
    return ts.normalize()


def _parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.replace(";", ",").split(",") if item.strip()]


def _parse_float_list(raw: str) -> list[float]:
    return [float(item) for item in _parse_list(raw)]


def _parse_optional_float(raw: str) -> float | None:
    return None if raw.strip().lower() in ("", "none") else float(raw)


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "str": (str.strip, "any text"),
    "int": (int, "a whole number"),
    "float": (float, "a number"),
    "bool": (_parse_bool, "true or false"),
    "date": (_parse_date, "a date like 2005-12-31"),
    "list": (_parse_list, "a comma-separated list"),
    "float_list": (_parse_float_list, "a comma-separated list of numbers, e.g. 0,10,25"),
    "optional_float": (_parse_optional_float, "a number, or empty for none"),
    "path": (_parse_path, "a folder path (relative paths are relative to the project root)"),
}


def _repository() -> RepositoryEnv | RepositoryEmpty:
    return RepositoryEnv(str(ENV_FILE)) if ENV_FILE.is_file() else RepositoryEmpty()


def _raw(setting: Setting, repo: RepositoryEnv | RepositoryEmpty) -> tuple[str, str]:
    """The raw text of a setting and where it came from ('environment', '.env' or 'default')."""
    if setting.name in os.environ:
        return os.environ[setting.name], "environment"
    if setting.name in repo:
        return repo[setting.name], ".env"
    return setting.default, "default"


def _convert(setting: Setting, raw: str, source: str) -> Any:
    where = "" if source == "default" else f" (from {source})"
    if setting.kind == "choice":
        value = raw.strip().lower()
        if value not in setting.choices:
            raise SettingsError(
                f"Setting {setting.name}={raw!r}{where} is invalid: accepted values are {' | '.join(setting.choices)}."
            )
        return value
    parser, accepted = _PARSERS[setting.kind]
    try:
        value = parser(raw)
    except (ValueError, TypeError):
        raise SettingsError(f"Setting {setting.name}={raw!r}{where} is invalid: expected {accepted}.") from None
    return value


def get(name: str) -> Any:
    """The typed value of one setting, read fresh from the environment and ``.env``."""
    if name not in _BY_NAME:
        raise SettingsError(f"Unknown setting {name!r}: see .env.example for the settings this project reads.")
    setting = _BY_NAME[name]
    raw, source = _raw(setting, _repository())
    value = _convert(setting, raw, source)
    _check_one(name, value, raw, source)
    return value


def _check_one(name: str, value: Any, raw: str, source: str) -> None:
    """Range checks that concern a single setting."""
    where = "" if source == "default" else f" (from {source})"
    if name == "MIN_DAYS" and value < 2:
        raise SettingsError(f"Setting MIN_DAYS={raw!r}{where} is invalid: a variance needs at least 2 days.")
    if name == "EWMA_LAMBDA" and not 0.0 < value < 1.0:
        raise SettingsError(f"Setting EWMA_LAMBDA={raw!r}{where} is invalid: expected a number strictly between 0 and 1.")
    if name == "MAX_LEVERAGE" and value is not None and not value > 0:
        raise SettingsError(f"Setting MAX_LEVERAGE={raw!r}{where} is invalid: expected a positive number, or empty for none.")
    if name == "MAX_FILL_SHARE" and not 0.0 <= value <= 1.0:
        raise SettingsError(f"Setting MAX_FILL_SHARE={raw!r}{where} is invalid: expected a share between 0 and 1.")
    if name in ("SYNTHETIC_DEFECT_SHARE", "SYNTHETIC_MISSING_SHARE") and not 0.0 <= value < 0.1:
        raise SettingsError(f"Setting {name}={raw!r}{where} is invalid: expected a share between 0 and 0.1.")
    if name == "PRICING_NW_LAGS" and value.lower() != "auto" and not value.isdigit():
        raise SettingsError(f"Setting PRICING_NW_LAGS={raw!r}{where} is invalid: expected auto or a whole number >= 0.")
    if name == "PRICING_GMM_LAGS" and value < 0:
        raise SettingsError(f"Setting PRICING_GMM_LAGS={raw!r}{where} is invalid: expected a whole number >= 0.")
    if name == "SYNTHETIC_QUOTES" and value < 1000:
        raise SettingsError(f"Setting SYNTHETIC_QUOTES={raw!r}{where} is invalid: expected at least 1000 quotes.")


def load() -> dict[str, Any]:
    """Every setting, typed and cross-checked (dates in order, training window inside the sample)."""
    values = {s.name: get(s.name) for s in SETTINGS}
    if values["START_DATE"] >= values["END_DATE"]:
        raise SettingsError(
            f"Settings START_DATE={values['START_DATE']:%Y-%m-%d} and END_DATE={values['END_DATE']:%Y-%m-%d} are invalid: START_DATE must come first."
        )
    if not values["START_DATE"] < values["TRAIN_END"] < values["END_DATE"]:
        raise SettingsError(
            f"Setting TRAIN_END={values['TRAIN_END']:%Y-%m-%d} is invalid: it must fall inside the sample "
            f"START_DATE={values['START_DATE']:%Y-%m-%d} .. END_DATE={values['END_DATE']:%Y-%m-%d}."
        )
    if values["OPTIONS_START"] >= values["OPTIONS_END"]:
        raise SettingsError(
            f"Settings OPTIONS_START={values['OPTIONS_START']:%Y-%m-%d} and OPTIONS_END={values['OPTIONS_END']:%Y-%m-%d} are invalid: OPTIONS_START must come first."
        )
    return values


def is_secret(setting: Setting) -> bool:
    return setting.secret or any(word in setting.name for word in _SECRET_WORDS)


def describe() -> list[tuple[str, str, str, str]]:
    """Rows (name, shown value, source, doc) of the effective settings, secrets hidden."""
    repo = _repository()
    rows = []
    for setting in SETTINGS:
        raw, source = _raw(setting, repo)
        shown = "****" if is_secret(setting) and raw else raw
        rows.append((setting.name, shown, source, setting.doc))
    return rows


def subset(*names: str) -> dict[str, str]:
    """Raw text of the named settings, for doit's ``config_changed`` up-to-date checks."""
    return {name: str(get(name)) for name in names}


def __getattr__(name: str) -> Any:  # PEP 562: settings.TRAIN_END reads the current value
    if name in _BY_NAME:
        return get(name)
    raise AttributeError(f"module 'settings' has no attribute {name!r}")
