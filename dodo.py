"""The research, as a task graph (`doit list` prints it; `doit` runs it; `doit settings` shows the settings).

    pull_equity, pull_rf ─► prepare ─► volmanaged ──────────────────┐
    pull_options ─► filter_options ─► option_portfolios ────────────┤
    option_portfolios, pull_published ─► option_published_comparison┤
    prepare, option_portfolios, pull_published ─► pricing ──────────┴─► reports (HTML)

Each task names the files it reads (file_dep) and writes (targets) and the settings it uses, so a change
to a file, to the code of its stage or to one of its settings in `.env` reruns exactly what it affects.
Raw pulls in data/raw are never removed by `doit clean`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable

from doit.exceptions import TaskFailed
from doit.tools import config_changed

import settings
from asset_pricing.bench import SIZES as BENCH_SIZES
from asset_pricing.bench import benchmark_targets, run_benchmarks
from asset_pricing.bench.measure import BenchmarkError
from asset_pricing.io import DataValidationError
from asset_pricing.options.stage_portfolios import SETTINGS_READ as OPTION_PORTFOLIO_SETTINGS
from asset_pricing.options.stage_portfolios import (
    build_option_portfolios, compare_with_published_series, month_cut_target, option_portfolio_inputs, option_portfolio_targets,
    published_comparison_inputs, published_comparison_target,
)
from asset_pricing.options.stage_quotes import filter_options, filter_options_file_dep, filter_options_targets
from asset_pricing.paths import project_paths
from asset_pricing.prepare.stage import prepare_equity, prepare_targets
from asset_pricing.pricing.stage import SETTINGS_READ as PRICING_SETTINGS
from asset_pricing.pricing.stage import build_pricing, pricing_inputs, pricing_targets
from asset_pricing.reports.build import ReportError, build_report, notebook_info, write_index
from asset_pricing.reports.methods_page import METHODS_HTML, MethodsPageError, write_methods_page
from asset_pricing.sources.option_pull import SETTINGS_READ as OPTION_PULL_SETTINGS
from asset_pricing.sources.option_pull import pull_options, pull_options_targets
from asset_pricing.sources.published import packaged_file, pull_published, raw_published_path
from asset_pricing.sources.pull import pull_equity, pull_rf, raw_prices_path, raw_rf_path
from asset_pricing.volmanaged.stage import SETTINGS_READ as VOLMANAGED_SETTINGS
from asset_pricing.volmanaged.stage import build_volmanaged, volmanaged_inputs, volmanaged_targets

try:
    CFG = settings.load()
except settings.SettingsError as exc:  # one clear line instead of a traceback
    sys.exit(f"error: {exc}")

P = project_paths()
ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "src" / "asset_pricing"
P.data_dir.mkdir(parents=True, exist_ok=True)  # holds doit's state file

DOIT_CONFIG = {
    "default_tasks": ["pull_equity", "pull_rf", "pull_published", "prepare", "volmanaged", "pull_options", "filter_options", "option_portfolios", "option_published_comparison", "pricing", "reports"],
    "dep_file": str(P.data_dir / ".doit-state.sqlite3"),
    "backend": "sqlite3",
    "verbosity": 2,
    "sort": "definition",
}

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)


def _code(*parts: str) -> list[Path]:
    """Source files of the package parts a task runs (so a code change reruns the task)."""
    files: list[Path] = [PACKAGE / "io.py", PACKAGE / "paths.py", ROOT / "settings.py"]
    for part in parts:
        target = PACKAGE / part
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


def _settings(*names: str) -> Callable[..., bool]:
    """Up-to-date check on the values of the named settings."""
    return config_changed({name: str(CFG[name]) for name in names})


def _run(stage: Callable[..., Any]) -> Callable[[], TaskFailed | None]:
    """Run a stage function with the current paths and settings; a data or settings error is one line."""

    def action() -> TaskFailed | None:
        try:
            stage(P, CFG)
        except (DataValidationError, settings.SettingsError, ConnectionError, FileNotFoundError, ReportError, MethodsPageError,
                BenchmarkError) as exc:
            return TaskFailed(str(exc))
        return None

    return action


def _print_settings() -> None:
    width = max(len(name) for name, *_ in settings.describe())
    print(f"settings file: {settings.ENV_FILE} ({'found' if settings.ENV_FILE.is_file() else 'not found: defaults'})")
    for name, value, source, doc in settings.describe():
        print(f"{name:<{width}}  {value!s:<24} [{source}]  {doc}")


# ---------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------
def task_settings():
    """Print the effective settings and where each comes from (default, .env, environment)."""
    return {"actions": [_print_settings], "uptodate": [False], "verbosity": 2}


# ---------------------------------------------------------------------------------------------------
# 1. Pull: raw data, immutable (no `clean`)
# ---------------------------------------------------------------------------------------------------
EQUITY_PULL_SETTINGS = ("EQUITY_SOURCE", "TICKERS", "MARKET_TICKER", "START_DATE", "END_DATE")
RF_PULL_SETTINGS = ("RF_SOURCE", "START_DATE", "END_DATE")


def task_pull_equity():
    """Pull daily adjusted closes (embedded skfolio data, Yahoo Finance or your files) into data/raw/equity."""
    manual = sorted(P.manual.glob("prices.*")) if CFG["EQUITY_SOURCE"] == "files" else []
    return {
        "actions": [_run(pull_equity)],
        "file_dep": manual + _code("sources"),
        "targets": [raw_prices_path(P, CFG["EQUITY_SOURCE"])],
        "uptodate": [_settings(*EQUITY_PULL_SETTINGS)],
    }


def task_pull_rf():
    """Pull the monthly risk-free rate (embedded Fama-French RF, FRED TB3MS or your file) into data/raw/rf."""
    manual = sorted(P.manual.glob("rf.*")) if CFG["RF_SOURCE"] == "files" else []
    return {
        "actions": [_run(pull_rf)],
        "file_dep": manual + _code("sources"),
        "targets": [raw_rf_path(P, CFG["RF_SOURCE"])],
        "uptodate": [_settings(*RF_PULL_SETTINGS)],
    }


def task_pull_published():
    """Copy He-Kelly-Manela's published option portfolios and factors (real, shipped with the package) into data/raw/published."""
    return {
        "actions": [_run(pull_published)],
        "file_dep": [packaged_file()] + _code("sources/published.py"),
        "targets": [raw_published_path(P), raw_published_path(P).with_suffix(".json")],
    }


# ---------------------------------------------------------------------------------------------------
# 2. Prepare: daily returns, monthly realized variance, monthly risk-free rate
# ---------------------------------------------------------------------------------------------------
PREPARE_SETTINGS = (*EQUITY_PULL_SETTINGS, "RF_SOURCE", "MIN_DAYS")


def task_prepare():
    """Prepare daily returns, the market's monthly realized variance and monthly rf into data/interim."""
    return {
        "actions": [_run(prepare_equity)],
        "file_dep": [raw_prices_path(P, CFG["EQUITY_SOURCE"]), raw_rf_path(P, CFG["RF_SOURCE"])] + _code("prepare"),
        "targets": prepare_targets(P),
        "uptodate": [_settings(*PREPARE_SETTINGS)],
        "clean": True,
    }


# ---------------------------------------------------------------------------------------------------
# 3a. Volatility-managed portfolios: common volatility vs one-factor, out of sample, after costs
# ---------------------------------------------------------------------------------------------------
def task_volmanaged():
    """Build common-volatility and one-factor volatility-managed portfolios and evaluate them out of sample."""
    return {
        "actions": [_run(build_volmanaged)],
        "file_dep": volmanaged_inputs(P) + _code("volmanaged", "prepare/equity.py", "stats"),
        "targets": volmanaged_targets(P),
        "uptodate": [_settings(*VOLMANAGED_SETTINGS)],
        "clean": True,
    }


# ---------------------------------------------------------------------------------------------------
# 3b. S&P 500 option portfolios: quotes → CJS Level 1-3 filters → 54 CJS and 18 HKM portfolios
# ---------------------------------------------------------------------------------------------------
FILTER_SETTINGS = ("OPTIONS_SOURCE", "OPTIONS_START", "OPTIONS_END", "DIVIDEND_YIELD", "OPTIONS_CONTRACTS")


def task_pull_options():
    """Pull option quotes year by year (synthetic panel on the real S&P 500 path, WRDS OptionMetrics or your files)."""
    manual = sorted((P.manual / "options").glob("*.*")) if CFG["OPTIONS_SOURCE"] == "files" else []
    return {
        "actions": [_run(pull_options)],
        "file_dep": manual + _code("sources", "options/schema.py", "options/bsm.py"),
        "targets": pull_options_targets(P, CFG),
        "uptodate": [_settings(*OPTION_PULL_SETTINGS)],
    }


def task_filter_options():
    """Apply the CJS Level 1-3 quote filters (Table B.1) year by year; write filtered quotes and the filter table."""
    return {
        "actions": [_run(filter_options)],
        "file_dep": filter_options_file_dep(P, CFG) + _code("options/filters.py", "options/smile.py", "options/schema.py", "options/stage_quotes.py"),
        "targets": filter_options_targets(P, CFG),
        "uptodate": [_settings(*FILTER_SETTINGS)],
        "clean": True,
    }


def task_option_portfolios():
    """Build the 54 CJS leverage-adjusted call/put portfolios and the 18 HKM portfolios (daily and monthly)."""
    return {
        "actions": [_run(build_option_portfolios)],
        "file_dep": option_portfolio_inputs(P, CFG) + _code("options/portfolios.py", "options/stage_portfolios.py", "options/bsm.py", "options/smile.py"),
        "targets": option_portfolio_targets(P),
        "uptodate": [_settings(*OPTION_PORTFOLIO_SETTINGS)],
        "clean": True,
    }


def task_option_published_comparison():
    """Put this build's 18 HKM series beside He-Kelly-Manela's published ones (mean, sd, beta, residual risk; which days a month holds)."""
    return {
        "actions": [_run(compare_with_published_series)],
        "file_dep": published_comparison_inputs(P) + _code("options/published.py", "options/stage_portfolios.py"),
        "targets": [published_comparison_target(P), month_cut_target(P)],
        "clean": True,
    }


# ---------------------------------------------------------------------------------------------------
# 3c. Pricing tests of the option portfolios: CAPM and capital-factor alphas, GRS, HKM's two-pass
#     cross-section, on HKM's published series (real) and on this build's portfolios
# ---------------------------------------------------------------------------------------------------
def task_pricing():
    """Price the option portfolios: time-series alphas and GRS, He-Kelly-Manela two-pass cross-section (market; capital + market)."""
    return {
        "actions": [_run(build_pricing)],
        "file_dep": pricing_inputs(P) + _code("pricing", "prepare/equity.py", "options/portfolios.py", "options/stage_portfolios.py", "sources/published.py"),
        "targets": pricing_targets(P),
        "uptodate": [_settings(*PRICING_SETTINGS)],
        "clean": True,
    }


# ---------------------------------------------------------------------------------------------------
# 4. Reports: execute the notebooks into _output/reports/*.html, plus an index
# ---------------------------------------------------------------------------------------------------
STAGE_OUTPUTS: dict[str, tuple[list[Path], tuple[str, ...]]] = {
    # stage name used in a notebook's metadata "uses" -> (its output files, the settings it reads)
    "prepare": (prepare_targets(P), PREPARE_SETTINGS),
    "volmanaged": (volmanaged_targets(P), tuple(VOLMANAGED_SETTINGS)),
    "option_quotes": (filter_options_targets(P, CFG), FILTER_SETTINGS),
    "option_portfolios": (option_portfolio_targets(P), tuple(OPTION_PORTFOLIO_SETTINGS)),
    "option_published_comparison": ([published_comparison_target(P), month_cut_target(P)], ()),
    "pricing": (pricing_targets(P), tuple(PRICING_SETTINGS)),
}
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
METHODS_PAGE = ROOT / "docs" / "methods.md"


def task_reports():
    """Execute every notebook in notebooks/ and export it to _output/reports/<name>.html, with the methods page and an index."""
    entries = []
    for notebook in NOTEBOOKS:
        info = notebook_info(notebook)
        uses = [STAGE_OUTPUTS[stage] for stage in info.uses if stage in STAGE_OUTPUTS]
        entry = P.reports / f"{notebook.stem}.json"
        entries.append(entry)
        yield {
            "name": notebook.stem,
            "doc": info.title,
            "actions": [_run(lambda paths, cfg, nb=notebook: build_report(nb, paths))],
            "file_dep": [notebook] + [f for files, _ in uses for f in files] + [f for f in _code("reports", "stats") if f.name != "methods_page.py"],
            "targets": [P.reports / f"{notebook.stem}.html", entry],
            "uptodate": [_settings(*sorted({s for _, names in uses for s in names}))],
            "clean": True,
        }
    yield {
        "name": "methods",
        "doc": "The methods page docs/methods.md rendered to HTML beside the reports (formulas as MathML, offline).",
        "actions": [_run(lambda paths, cfg: write_methods_page(METHODS_PAGE, paths))],
        "file_dep": [METHODS_PAGE, PACKAGE / "reports" / "methods_page.py"],
        "targets": [P.reports / METHODS_HTML],
        "clean": True,
    }
    yield {
        "name": "index",
        "doc": "Index of the reports: a link to the methods page; title, description, data source, window, build time.",
        "actions": [_run(lambda paths, cfg: write_index(paths, entries))],
        "file_dep": entries + [P.reports / METHODS_HTML, PACKAGE / "reports" / "build.py"],
        "targets": [P.reports / "index.html"],
        "clean": True,
    }


# ---------------------------------------------------------------------------------------------------
# 5. Benchmark (not part of the default run): `doit bench` or `doit bench --size small`
# ---------------------------------------------------------------------------------------------------
def _bench(size: str) -> TaskFailed | None:
    return _run(lambda paths, cfg: run_benchmarks(paths, cfg, size))()


def task_bench():
    """Benchmark at OptionMetrics scale (~20M quotes, 500 stocks, doit end to end) → _output/benchmarks/results.md."""
    return {
        "actions": [_bench],
        "params": [{"name": "size", "long": "size", "default": "full", "choices": [(s, "") for s in sorted(BENCH_SIZES)],
                    "help": "full (OptionMetrics scale, ~10 min) | small (1M quotes) | tiny (smoke test)"}],
        "targets": benchmark_targets(P),
        "uptodate": [False],
        "verbosity": 2,
    }
