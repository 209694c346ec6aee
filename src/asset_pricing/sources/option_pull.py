"""Pull the raw S&P 500 option panel of OPTIONS_SOURCE into DATA_DIR/raw/options/<source>/.

``synthetic`` (default, offline): the simulated OptionMetrics-format panel of
:mod:`asset_pricing.sources.synthetic_options` on the real S&P 500 closes; ``wrds``: OptionMetrics via
:mod:`asset_pricing.sources.wrds_options`; ``files``: the user's panel in data/manual/options/
(:mod:`asset_pricing.sources.option_files`). Each writes quotes_YYYY.parquet (one file per calendar
year of OPTIONS_START … OPTIONS_END) and underlying.parquet; the synthetic source also writes
truth_YYYY.parquet (its planted defects) and generator.json. Files already on disk are never deleted:
WRDS and user-file years already pulled are skipped (an interrupted pull resumes); synthetic years are
regenerated only when the generator's settings changed (recorded in generator.json).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from asset_pricing.io import DataValidationError, write_parquet, write_text
from asset_pricing.paths import ProjectPaths, option_years, raw_options_dir, raw_quote_path
from asset_pricing.sources.synthetic_options import PanelInputs, SyntheticPanelSpec, generate_panel_year, panel_inputs, synthetic_underlying

log = logging.getLogger(__name__)

SETTINGS_READ: tuple[str, ...] = (
    "OPTIONS_SOURCE", "OPTIONS_START", "OPTIONS_END", "OPTIONS_SECID", "DIVIDEND_YIELD", "SYNTHETIC_SEED",
    "SYNTHETIC_QUOTES", "SYNTHETIC_DEFECT_SHARE", "SYNTHETIC_MISSING_SHARE", "WRDS_USERNAME",
)
GENERATOR_MANIFEST = "generator.json"


def pull_options_targets(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Raw files of the pull: quotes_YYYY (and truth_YYYY for synthetic) per year, underlying.parquet."""
    source = cfg["OPTIONS_SOURCE"]
    folder = raw_options_dir(paths, source)
    targets = [raw_quote_path(paths, source, year) for year in option_years(cfg)]
    if source == "synthetic":
        targets += [folder / f"truth_{year}.parquet" for year in option_years(cfg)]
    return targets + [folder / "underlying.parquet"]


def pull_options(paths: ProjectPaths, cfg: dict[str, Any]) -> list[Path]:
    """Pull the raw option panel of OPTIONS_SOURCE (synthetic | wrds | files) into DATA_DIR/raw/options/<source>/."""
    source = cfg["OPTIONS_SOURCE"]
    folder = raw_options_dir(paths, source)
    if source == "synthetic":
        pull_synthetic_options(folder, SyntheticPanelSpec.from_settings(cfg))
    elif source == "wrds":
        from asset_pricing.sources.wrds_options import pull_wrds_options

        pull_wrds_options(folder, cfg)
    elif source == "files":
        from asset_pricing.sources.option_files import pull_option_files

        pull_option_files(paths.manual / "options", folder, cfg)
    else:  # settings restrict the choices; guard against a caller's dict
        raise DataValidationError(f"OPTIONS_SOURCE={source!r} is not one of synthetic | wrds | files.")
    return pull_options_targets(paths, cfg)


def generation_workers() -> int:
    """Processes generating synthetic years at once: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# glibc mallopt parameters (malloc.h) and the values the generating processes use
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
KEPT_MEMORY_SETTINGS: tuple[tuple[int, int], ...] = ((M_MMAP_THRESHOLD, 2**30), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, 2**28))


def keep_freed_memory() -> bool:
    """Initializer of a generating process: glibc's malloc keeps freed memory for the next arrays.

    A year's generation allocates and frees hundreds of arrays of millions of rows. By default glibc
    maps each large array afresh (mmap) and returns it on free, so every array pays its page faults
    again (on a virtual machine a third of the process's time at 20M quotes). Here large blocks come
    from the heap (mmap threshold 1 GiB), freed memory stays with the process (trim threshold 2 GiB) and
    the heap grows 256 MiB at a time. Only the short-lived worker processes of :func:`pull_synthetic_options`
    run it; it changes no value. Returns False where the C library has no ``mallopt`` (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([mallopt(parameter, value) == 1 for parameter, value in KEPT_MEMORY_SETTINGS])


def write_synthetic_year(year: int, folder: Path, inputs: PanelInputs, spec: SyntheticPanelSpec) -> list[Path]:
    """Generate one synthetic year and write quotes_YYYY.parquet and truth_YYYY.parquet (a task of :func:`pull_synthetic_options`)."""
    panel_year = generate_panel_year(year, inputs, spec)
    return [write_parquet(panel_year.quotes, folder / f"quotes_{year}.parquet", index=False),
            write_parquet(panel_year.truth, folder / f"truth_{year}.parquet", index=False)]


def pull_synthetic_options(folder: Path, spec: SyntheticPanelSpec) -> list[Path]:
    """Generate the synthetic panel year by year into ``folder`` (quotes, truth, underlying, generator.json).

    Years whose files exist and were made with the same spec are skipped; when the spec changed every
    year of the window is regenerated (files are replaced atomically, never deleted).
    """
    manifest_path = folder / GENERATOR_MANIFEST
    description = spec.describe()
    current = manifest_path.is_file() and json.loads(manifest_path.read_text(encoding="utf-8")) == description
    wanted = [
        year for year in spec.years
        if not (current and (folder / f"quotes_{year}.parquet").is_file() and (folder / f"truth_{year}.parquet").is_file())
    ]
    underlying_path = folder / "underlying.parquet"
    if not wanted and underlying_path.is_file():
        log.info("synthetic option panel in %s is current (%d years)", folder, len(spec.years))
        return sorted(folder.glob("quotes_*.parquet"))
    inputs = panel_inputs(spec)
    log.info("synthetic panel: %d years, sampling intensity %.4g for about %d quotes", len(wanted), inputs.intensity, spec.target_quotes)
    workers = min(generation_workers(), len(wanted))
    written: list[Path] = []
    progress = {"total": len(wanted), "desc": "synthetic option quotes", "unit": "year"}
    if workers > 1:  # the years are independent (each from its own random stream): one process per core
        # the latest (largest) years first, so the last ones to finish are small and the processes end together
        latest_first = sorted(wanted, reverse=True)
        by_year = {}
        with ProcessPoolExecutor(workers, initializer=keep_freed_memory) as pool:
            for year, paths in tqdm(zip(latest_first, pool.map(write_synthetic_year, latest_first, repeat(folder), repeat(inputs), repeat(spec))),
                                    **progress):
                by_year[year] = paths
        written = [path for year in wanted for path in by_year[year]]
    else:
        for year in tqdm(wanted, **progress):
            written += write_synthetic_year(year, folder, inputs, spec)
    written.append(write_parquet(synthetic_underlying(inputs.market), underlying_path))
    write_text(json.dumps(description, indent=2), manifest_path)
    return written
