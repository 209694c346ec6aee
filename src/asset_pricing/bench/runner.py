"""The benchmark: options at OptionMetrics scale, growth, side-by-side ratios, volmanaged, ``doit``.

Steps (each measurement a fresh child process, :mod:`asset_pricing.bench.measure`):

1. Options at full scale: a synthetic panel of ``panel_quotes`` raw quotes (planted defects) is generated
   into a workspace (timed once, apart); the machine's floor on the same files (read the raw quotes +
   one lexsort of all of them, :func:`~asset_pricing.bench.workloads.machine_floor`); then
   ``filter_options`` + ``build_option_portfolios`` (all ten filters, 54 CJS + 18 HKM written) — wall
   time and peak RSS, judged as multiples: of the floor, and generation of step 1. Also: a cProfile of
   the step and where its time goes (each filter, smile fit, next-day match, kernel weights,
   compounding), and the same with OPTIONS_ENGINE=dask in its own workspace, its files compared.
2. Growth: the same on trailing windows of the panel holding about ``growth_quotes`` raw quotes (the
   most recent years, so each window holds the densest year: memory is set by one year, time by all);
   and one dense year (``dense_year_quotes`` standard quotes plus SPXW rows in 2018, strikes every
   point) through the same stages: its peak memory.
3. Side by side on the same filtered quotes: the portfolio stage against the naive reference implementation as
   written (:mod:`asset_pricing.bench.reference`), with a check that both give the same kernel weights
   before the floor on its candidates; the Level-3 smile filter against a per-group loop on
   the quotes that reach filter 9.
4. Volatility-managed: ``volmanaged_assets`` synthetic stocks over ~30 years → ``build_volmanaged``.
5. ``doit`` end to end on the embedded default from empty folders.
6. WRDS: one replica year of OptionMetrics quotes pulled from a local PostgreSQL copy of WRDS, against a
   plain ``COPY … TO STDOUT`` of the same rows (:mod:`asset_pricing.bench.wrds_step`).

The benchmark is hermetic: every child sees every setting at its default (a ``.env`` does not leak in)
except the overrides recorded with each measurement, and DATA_DIR/OUTPUT_DIR inside a workspace
(DATA_DIR/benchmarks/<size>, deleted at the end unless ``keep_data``). Results go to
OUTPUT_DIR/benchmarks/results.json and results.md. A missed target is reported, never raised.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

import settings
from asset_pricing import io
from asset_pricing.bench.measure import Call, Measurement, measure, run_child
from asset_pricing.bench.report import render_markdown
from asset_pricing.bench.wrds_step import run_step as _step_6_wrds
from asset_pricing.bench.wrds_step import wrds_targets
from asset_pricing.paths import ProjectPaths

log = logging.getLogger(__name__)

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
STEPS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
PACKAGES: tuple[str, ...] = ("numpy", "pandas", "pyarrow", "scipy", "statsmodels", "arch", "dask", "distributed", "doit")
BYTES_PER_QUOTE_ON_DISK = 60  # raw + truth + filtered parquet, with room to spare (measured ~25)
FILTER_STAGE = Call("asset_pricing.options.stage_quotes:filter_options", "stage")
PORTFOLIO_STAGE = Call("asset_pricing.options.stage_portfolios:build_option_portfolios", "stage")


@dataclass(frozen=True)
class BenchSize:
    """What a benchmark size runs (``full`` is OptionMetrics scale; ``tiny`` keeps the command tested)."""

    name: str
    panel_quotes: int
    options_start: str
    options_end: str
    growth_quotes: tuple[int, ...]
    reference_every_nth_day: int
    volmanaged_assets: int
    volmanaged_start: str
    volmanaged_end: str
    volmanaged_train_end: str
    run_doit: bool
    run_dask: bool
    repeats: int
    evaluate_targets: bool
    dense_year_quotes: int = 0  # standard quotes of the dense year (0: not measured); SPXW rows come on top
    dense_year_start: str = "2018-01-01"
    dense_year_end: str = "2018-11-30"


SIZES: dict[str, BenchSize] = {
    "tiny": BenchSize("tiny", 20_000, "2007-11-01", "2008-02-29", (10_000,), 1, 20, "2014-12-01", "2018-11-30", "2016-12-31",
                      run_doit=False, run_dask=False, repeats=1, evaluate_targets=False,
                      dense_year_quotes=20_000),
    "small": BenchSize("small", 1_000_000, "1996-01-01", "2018-11-30", (125_000, 250_000, 500_000), 1, 100, "1988-12-01", "2018-11-30",
                       "2003-12-31", run_doit=True, run_dask=True, repeats=3, evaluate_targets=False,
                       dense_year_quotes=500_000),
    "full": BenchSize("full", 20_000_000, "1996-01-01", "2018-11-30", (2_500_000, 5_000_000, 10_000_000), 1, 500, "1988-12-01",
                      "2018-11-30", "2003-12-31", run_doit=True, run_dask=True, repeats=3, evaluate_targets=True,
                      dense_year_quotes=6_600_000),
}


@dataclass(frozen=True)
class Target:
    """A benchmark target (2-core, 24 GB machine), the measured value and whether it is met."""

    name: str
    value: float
    limit: float
    comparison: str  # "<=" or ">="
    unit: str
    basis: str

    @property
    def met(self) -> bool:
        return bool(self.value <= self.limit) if self.comparison == "<=" else bool(self.value >= self.limit)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass
class BenchContext:
    """Folders and environments of one benchmark run."""

    size: BenchSize
    workspace: Path
    repeats: int
    measurements: dict[str, Measurement] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def runs_dir(self) -> Path:
        return self.workspace / "runs"

    def environment(self, folder: str, **overrides: str) -> dict[str, str]:
        """The child environment: every setting at its default, DATA_DIR/OUTPUT_DIR under ``folder``, then ``overrides``."""
        env = {key: value for key, value in os.environ.items() if key not in {s.name for s in settings.SETTINGS}}
        env.update({s.name: s.default for s in settings.SETTINGS})
        env.update(DATA_DIR=str(self.workspace / folder / "data"), OUTPUT_DIR=str(self.workspace / folder / "output"))
        env.update(overrides)
        return env

    def options_overrides(self, **extra: str) -> dict[str, str]:
        return {"OPTIONS_START": self.size.options_start, "OPTIONS_END": self.size.options_end,
                "SYNTHETIC_QUOTES": str(self.size.panel_quotes), **extra}

    def measure(self, name: str, description: str, calls: list[Call], env: dict[str, str], overrides: dict[str, str], *,
                repeats: int | None = None, **kwargs: Any) -> Measurement:
        result = measure(name, description, calls, env, self.runs_dir, repeats=repeats or self.repeats, settings=overrides, **kwargs)
        self.measurements[name] = result
        return result


# --------------------------------------------------------------------------------------------------
# Machine and versions
# --------------------------------------------------------------------------------------------------
def machine_description() -> dict[str, Any]:
    """CPU model, cores, memory, OS and Python of this machine."""
    cpu = platform.processor() or ""
    memory_gb = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), cpu)
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8")
        kilobytes = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal"))
        memory_gb = round(kilobytes / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "memory_gib": memory_gb, "os": platform.platform(), "python": sys.version.split()[0]}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the measured code runs on, and the project's git commit."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=settings.PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=settings.PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.strip()
        versions["asset_pricing (git)"] = commit + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        versions["asset_pricing (git)"] = "unknown"
    return versions


# --------------------------------------------------------------------------------------------------
# Panel helpers
# --------------------------------------------------------------------------------------------------
def raw_quotes_per_day(raw_dir: Path) -> pd.Series:
    """Raw quotes per date of the synthetic panel in ``raw_dir`` (reads only the ``date`` columns)."""
    dates = [pq.read_table(path, columns=["date"]).column("date").to_numpy() for path in sorted(raw_dir.glob("quotes_*.parquet"))]
    return pd.Series(np.concatenate(dates)).value_counts().sort_index()


def trailing_window_start(per_day: pd.Series, quotes: int) -> tuple[pd.Timestamp, int]:
    """First day of the shortest window ending on the last day that holds at least ``quotes`` raw quotes, and its count."""
    from_end = per_day.iloc[::-1].cumsum()
    reached = from_end[from_end >= quotes]
    first = reached.index[0] if len(reached) else from_end.index[-1]
    return pd.Timestamp(first), int(from_end.loc[first])


def check_disk_space(folder: Path, needed_bytes: int) -> None:
    """Raise :class:`~asset_pricing.io.DataValidationError` when ``folder`` lacks ``needed_bytes`` free."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise io.DataValidationError(
            f"{folder}: the benchmark needs about {needed_bytes / 1e9:.1f} GB free, found {free / 1e9:.1f} GB (set DATA_DIR elsewhere or use --size small)."
        )


# --------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------
def _step_1_options(ctx: BenchContext, baseline: Path | None) -> None:
    overrides = ctx.options_overrides()
    env = ctx.environment("options", **overrides)
    ctx.measure("options_generate", "Synthetic panel generation (pull_options, planted defects), timed apart", [Call("asset_pricing.sources.option_pull:pull_options", "stage")],
                env, overrides, repeats=1)
    per_day = raw_quotes_per_day(Path(env["DATA_DIR"]) / "raw" / "options" / "synthetic")
    ctx.figures["raw_quotes"] = int(per_day.sum())
    ctx.measure("options_floor", "The machine's floor of step 1 on the same files: read the raw quotes (the columns the filters read) "
                "+ one lexsort of all of them by (date, cp_flag, exdate, strike_price)", [Call("asset_pricing.bench.workloads:machine_floor")],
                env, overrides)
    description = "Step 1: raw panel on disk -> ten filters + 54 CJS + 18 HKM written (filter_options + build_option_portfolios)"
    if baseline is None:
        ctx.measure("options_full", description, [FILTER_STAGE, PORTFOLIO_STAGE], env, overrides)
        return
    # Before/after in the same run: the baseline checkout and this code alternate, each in its own workspace.
    baseline_env = ctx.environment("baseline", **overrides)
    baseline_raw = Path(baseline_env["DATA_DIR"]) / "raw"
    baseline_raw.parent.mkdir(parents=True, exist_ok=True)
    if not baseline_raw.exists():
        baseline_raw.symlink_to(Path(env["DATA_DIR"]) / "raw", target_is_directory=True)
    current = Measurement("options_full", description, settings=overrides)
    before = Measurement("options_full_baseline", f"{description}, baseline code at {baseline}", settings=overrides)
    for attempt in range(ctx.repeats):
        before.runs.append(run_child([FILTER_STAGE, PORTFOLIO_STAGE], baseline_env, ctx.runs_dir, f"baseline-{attempt}",
                                     pythonpath=[baseline / "src", baseline]))
        current.runs.append(run_child([FILTER_STAGE, PORTFOLIO_STAGE], env, ctx.runs_dir, f"current-{attempt}"))
        log.info("bench options_full run %d/%d: baseline %.2f s (%.0f MiB), this code %.2f s (%.0f MiB)", attempt + 1, ctx.repeats,
                 before.runs[-1].seconds, before.runs[-1].peak_rss_mb, current.runs[-1].seconds, current.runs[-1].peak_rss_mb)
    ctx.measurements.update({current.name: current, before.name: before})
    same = run_child([Call("asset_pricing.bench.workloads:compare_option_outputs", kwargs={"other_data_dir": baseline_env["DATA_DIR"]})],
                     env, ctx.runs_dir, "compare-baseline").extra
    ctx.figures["baseline_outputs"] = same


def _step_3_side_by_side(ctx: BenchContext) -> None:
    overrides = ctx.options_overrides()
    env = ctx.environment("options", **overrides)
    ctx.measure("portfolio_stage", "Project portfolio stage: filtered files -> 54 CJS + 18 HKM written", [PORTFOLIO_STAGE], env, overrides)
    every = ctx.size.reference_every_nth_day
    ctx.measure("portfolio_naive_reference", "Naive reference implementation: filtered files -> CJS/HKM monthly in memory",
                [Call("asset_pricing.bench.workloads:naive_portfolio_reference", kwargs={"every_nth_day": every})], env, overrides, repeats=1)
    level_two = str(ctx.workspace / "options" / "level_two_smile_input.parquet")
    run_child([Call("asset_pricing.bench.workloads:write_level_two_panel", kwargs={"path": level_two})], env, ctx.runs_dir, "level-two-panel")
    ctx.measure("smile_filter_project", "Project filter 9 on the quotes reaching it (batched fits, in memory; figure: the first of 3 computations in the process)",
                [Call("asset_pricing.bench.workloads:smile_filter_project", kwargs={"path": level_two})], env, overrides)
    ctx.measure("smile_filter_reference", "Filter 9 with a per-group loop (groupby-apply of np.polyfit per slice)",
                [Call("asset_pricing.bench.workloads:smile_filter_reference", kwargs={"path": level_two})], env, overrides, repeats=1)


def _profile_step_1(ctx: BenchContext) -> None:
    env = ctx.environment("options", **ctx.options_overrides())
    run = run_child([Call("asset_pricing.bench.workloads:profile_option_stages", kwargs={"top": 25})], env, ctx.runs_dir, "profile")
    ctx.figures["profile_seconds"] = run.seconds
    ctx.figures["profile_cumulative"] = run.extra["profile_cumulative"]
    ctx.figures["profile_internal"] = run.extra["profile_internal"]
    ctx.figures["breakdown"] = run.extra["breakdown"]


def _linked_workspace(ctx: BenchContext, folder: str, overrides: dict[str, str]) -> dict[str, str]:
    """Environment of a workspace ``folder`` whose raw panel is the step-1 panel (a symlink), for outputs kept apart."""
    env = ctx.environment(folder, **overrides)
    raw = Path(env["DATA_DIR"]) / "raw"
    raw.parent.mkdir(parents=True, exist_ok=True)
    if not raw.exists():
        raw.symlink_to(ctx.workspace / "options" / "data" / "raw", target_is_directory=True)
    return env


def _dask_engine(ctx: BenchContext) -> None:
    """Step 1 with OPTIONS_ENGINE=dask in its own workspace, and its outputs compared with the pandas engine's."""
    overrides = ctx.options_overrides(OPTIONS_ENGINE="dask")
    env = _linked_workspace(ctx, "dask", overrides)
    ctx.measure("options_full_dask", "Step 1 with OPTIONS_ENGINE=dask (LocalCluster, one worker process per core)",
                [FILTER_STAGE, PORTFOLIO_STAGE], env, overrides, rss_includes_children=True)
    ctx.figures["dask_outputs"] = run_child(
        [Call("asset_pricing.bench.workloads:compare_option_outputs", kwargs={"other_data_dir": env["DATA_DIR"]})],
        ctx.environment("options", **ctx.options_overrides()), ctx.runs_dir, "compare-dask").extra


def _step_2_growth(ctx: BenchContext) -> None:
    per_day = raw_quotes_per_day(ctx.workspace / "options" / "data" / "raw" / "options" / "synthetic")
    rows = []
    for quotes in ctx.size.growth_quotes:
        start, count = trailing_window_start(per_day, quotes)
        overrides = ctx.options_overrides(OPTIONS_START=f"{start:%Y-%m-%d}")
        name = f"options_growth_{quotes}"
        ctx.measure(name, f"Step 2: as step 1 on the trailing window from {start:%Y-%m-%d} ({count:,} raw quotes)",
                    [FILTER_STAGE, PORTFOLIO_STAGE], ctx.environment("options", **overrides), overrides)
        rows.append({"measurement": name, "target_quotes": quotes, "raw_quotes": count, "window_start": f"{start:%Y-%m-%d}"})
    if "options_full" in ctx.measurements:
        rows.append({"measurement": "options_full", "target_quotes": ctx.size.panel_quotes, "raw_quotes": ctx.figures["raw_quotes"],
                     "window_start": ctx.size.options_start})
    ctx.figures["growth"] = rows


def _step_2_dense_year(ctx: BenchContext) -> None:
    """One year as dense as a recent SPX year (:func:`~asset_pricing.bench.workloads.write_dense_year`) through step 1."""
    size = ctx.size
    overrides = {"OPTIONS_START": size.dense_year_start, "OPTIONS_END": size.dense_year_end}
    env = ctx.environment("dense", **overrides)
    generated = run_child([Call("asset_pricing.bench.workloads:write_dense_year", kwargs={"target_quotes": size.dense_year_quotes})],
                          env, ctx.runs_dir, "dense-year-generate")
    ctx.figures["dense_year"] = {**generated.extra, "generation_seconds": generated.seconds, "generation_peak_rss_mb": generated.peak_rss_mb}
    ctx.measure("options_dense_year", f"Step 2: one dense year {size.dense_year_start} … {size.dense_year_end} "
                f"({generated.extra['raw_quotes']:,} raw quotes) -> ten filters + 54 CJS + 18 HKM written",
                [FILTER_STAGE, PORTFOLIO_STAGE], env, overrides, repeats=1)


def _step_4_volmanaged(ctx: BenchContext) -> None:
    overrides = {"START_DATE": ctx.size.volmanaged_start, "END_DATE": ctx.size.volmanaged_end, "TRAIN_END": ctx.size.volmanaged_train_end}
    env = ctx.environment("volmanaged", **overrides)
    inputs = run_child([Call("asset_pricing.bench.workloads:write_volmanaged_inputs", kwargs={"n_assets": ctx.size.volmanaged_assets})],
                       env, ctx.runs_dir, "volmanaged-inputs")
    ctx.figures["volmanaged_inputs"] = inputs.extra
    ctx.measure("volmanaged", f"Step 4: {ctx.size.volmanaged_assets} synthetic assets x {inputs.extra['years']} years -> all outputs (build_volmanaged)",
                [Call("asset_pricing.volmanaged.stage:build_volmanaged", "stage")], env, overrides)


def _step_5_doit(ctx: BenchContext) -> None:
    folder = ctx.workspace / "doit"
    kwargs = {"data_dir": str(folder / "data"), "output_dir": str(folder / "output")}
    ctx.measure("doit_end_to_end", "Step 5: doit (default tasks) on the embedded default from an empty data/ (peak RSS: largest process)",
                [Call("asset_pricing.bench.workloads:doit_end_to_end", kwargs=kwargs)], ctx.environment("doit"), {}, rss_includes_children=True)


# --------------------------------------------------------------------------------------------------
# Derived figures and targets
# --------------------------------------------------------------------------------------------------
def derive_figures(ctx: BenchContext) -> list[Target]:
    """Ratios, growth rates and the targets from the measurements."""
    m, figures, targets = ctx.measurements, ctx.figures, []
    if "options_full" in m:
        full = m["options_full"]
        figures["options_full_filter_median_seconds"] = float(np.median([r.call_seconds[0] for r in full.runs]))
        figures["options_full_portfolio_median_seconds"] = float(np.median([r.call_seconds[1] for r in full.runs]))
        if "options_floor" in m:
            floor = m["options_floor"]
            figures["floor_read_median_seconds"] = float(np.median([r.extra["read_seconds"] for r in floor.runs]))
            figures["floor_sort_median_seconds"] = float(np.median([r.extra["sort_seconds"] for r in floor.runs]))
            figures["floor_multiple"] = full.median_seconds / floor.median_seconds
            targets.append(Target("step 1: options full scale, wall time as a multiple of the machine's floor (read + one lexsort)",
                                  figures["floor_multiple"], 3.0, "<=", "x", "median of runs / median of floor runs"))
        targets.append(Target("step 1: options full scale, peak RSS", full.median_rss_mb / 1024, 1.0, "<=", "GiB", "median of runs"))
        if "options_generate" in m:
            figures["generation_multiple"] = m["options_generate"].median_seconds / full.median_seconds
            targets.append(Target("step 1: generating the panel, as a multiple of step 1", figures["generation_multiple"], 2.0, "<=", "x",
                                  "one run / median of step-1 runs"))
    if "options_full_baseline" in m:
        base = m["options_full_baseline"]
        figures["baseline_filter_median_seconds"] = float(np.median([r.call_seconds[0] for r in base.runs]))
        figures["baseline_portfolio_median_seconds"] = float(np.median([r.call_seconds[1] for r in base.runs]))
    if "portfolio_naive_reference" in m and "portfolio_stage" in m:
        ref = m["portfolio_naive_reference"]
        scale = ref.extra["quotes_full"] / ref.extra["quotes"]
        figures["portfolio_reference_full_seconds"] = ref.median_seconds * scale
        figures["portfolio_reference_extrapolated"] = scale > 1
        ratio = figures["portfolio_reference_full_seconds"] / m["portfolio_stage"].median_seconds
        figures["portfolio_ratio"] = ratio
        targets.append(Target("step 3: portfolio stage vs the naive reference", ratio, 25.0, ">=", "x", "reference / median of project runs"))
        targets.append(Target("step 3: same kernel weights on the naive candidates (max abs difference)",
                              ref.extra["kernel_max_abs_difference"], 1e-12, "<=", "", "all portfolio-days compared"))
    if "smile_filter_reference" in m and "smile_filter_project" in m:
        project = m["smile_filter_project"]
        warm = [seconds for run in project.runs for seconds in run.extra.get("warm_seconds", [])] or project.seconds
        figures["smile_project_warm_median_seconds"] = float(np.median(warm))
        figures["smile_project_warm_best_seconds"] = float(np.min(warm))
        figures["smile_ratio_cold"] = m["smile_filter_reference"].median_seconds / project.median_seconds
        figures["smile_ratio"] = m["smile_filter_reference"].median_seconds / figures["smile_project_warm_median_seconds"]
        targets.append(Target("step 3: Level-3 smile filter vs per-group loop", figures["smile_ratio"], 30.0, ">=", "x",
                              "reference / median of the project's warm repetitions"))
    growth = figures.get("growth", [])
    if len(growth) > 1:
        for row in growth:
            run = m[row["measurement"]]
            row.update(median_seconds=run.median_seconds, best_seconds=run.best_seconds, median_rss_mb=run.median_rss_mb,
                       seconds_per_million=run.median_seconds / row["raw_quotes"] * 1e6)
        millions = np.array([row["raw_quotes"] for row in growth]) / 1e6
        seconds = np.array([row["median_seconds"] for row in growth])
        slope, intercept = np.polyfit(millions, seconds, 1)
        r2 = 1.0 - float(np.sum((seconds - intercept - slope * millions) ** 2) / np.sum((seconds - seconds.mean()) ** 2))
        memory = [row["median_rss_mb"] for row in growth]
        figures.update(growth_seconds_per_million=float(slope), growth_fixed_seconds=float(intercept), growth_r2=r2,
                       growth_memory_spread=max(memory) / min(memory) - 1)
        targets += [Target("step 2: near-linear time (R² of the line t = a + b·quotes through the medians)", r2, 0.98, ">=", "R²", "medians"),
                    Target("step 2: flat memory (largest / smallest median peak RSS - 1)", figures["growth_memory_spread"], 0.25, "<=", "share", "medians")]
    if "options_dense_year" in m:
        targets.append(Target(f"step 2: one dense year ({figures['dense_year']['raw_quotes'] / 1e6:.1f}M raw quotes), peak RSS",
                              m["options_dense_year"].median_rss_mb / 1024, 2.0, "<=", "GiB", "one run"))
    if "baseline_outputs" in figures:
        targets.append(Target("step 1: the same outputs as the baseline code (files differing)", len(figures["baseline_outputs"]["files_differing"]), 0,
                              "<=", "files", f"{figures['baseline_outputs']['files_compared']} parquet files compared"))
    if "dask_outputs" in figures:
        differing = len(figures["dask_outputs"]["files_differing"])
        targets.append(Target("step 1: OPTIONS_ENGINE=dask writes the same outputs (files differing)", differing, 0, "<=", "files",
                              f"{figures['dask_outputs']['files_compared']} parquet files compared"))
    if "volmanaged" in m:
        inputs = figures["volmanaged_inputs"]
        targets.append(Target(f"step 4: volmanaged {inputs['assets']} assets x {inputs['years']:.0f} years", m["volmanaged"].median_seconds, 3.0,
                              "<=", "s", "median of runs"))
    if "doit_end_to_end" in m:
        targets.append(Target("step 5: doit end to end from an empty data/", m["doit_end_to_end"].median_seconds, 180.0, "<=", "s", "median of runs"))
    targets += wrds_targets(ctx)
    return targets


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------
def benchmark_targets(paths: ProjectPaths) -> list[Path]:
    """Files written by :func:`run_benchmarks` (doit ``targets``)."""
    folder = paths.output_dir / "benchmarks"
    return [folder / RESULTS_JSON, folder / RESULTS_MD]


def run_benchmarks(
    paths: ProjectPaths, cfg: dict[str, Any] | None = None, size: str = "full", *, repeats: int | None = None,
    steps: tuple[int, ...] = STEPS, baseline: Path | None = None, keep_data: bool = False,
) -> list[Path]:
    """Run the benchmark of ``size`` (tiny | small | full) and write OUTPUT_DIR/benchmarks/results.json and results.md.

    Parameters
    ----------
    paths : project folders; the workspace is DATA_DIR/benchmarks/<size>, results go to OUTPUT_DIR/benchmarks.
    cfg : the project's settings (unused by the measurements, which are hermetic; accepted so the
        function has the stage signature ``fn(paths, cfg)``).
    size : ``full`` (OptionMetrics scale, ~10 minutes), ``small`` (1 million quotes) or ``tiny`` (smoke test).
    repeats : runs per short measurement (default: the size's, 3 at full scale).
    steps : which of the steps 1–5 to run.
    baseline : root of another checkout of this project (e.g. the commit before an optimization): step 1
        then alternates runs of that code and of this one and checks that their outputs are identical.
    keep_data : keep the workspace (panels of several GB at full scale) instead of deleting it.
    """
    if size not in SIZES:
        raise settings.SettingsError(f"benchmark size {size!r} is invalid: accepted values are {' | '.join(SIZES)}.")
    spec = SIZES[size]
    ctx = BenchContext(spec, paths.data_dir / "benchmarks" / spec.name, repeats or spec.repeats)
    if ctx.workspace.exists():
        shutil.rmtree(ctx.workspace)
    check_disk_space(ctx.workspace, spec.panel_quotes * BYTES_PER_QUOTE_ON_DISK * (2 if baseline else 1))
    started = datetime.now(timezone.utc)
    log.info("benchmark %s: workspace %s, %d run(s) per short measurement, steps %s", size, ctx.workspace, ctx.repeats, steps)
    try:
        if {1, 2, 3} & set(steps):
            _step_1_options(ctx, baseline)
        if 3 in steps:
            _step_3_side_by_side(ctx)
        if 1 in steps:
            _profile_step_1(ctx)
            if spec.run_dask:
                _dask_engine(ctx)
        if 2 in steps:
            _step_2_growth(ctx)
            if spec.dense_year_quotes:
                _step_2_dense_year(ctx)
        if 4 in steps:
            _step_4_volmanaged(ctx)
        if 5 in steps and spec.run_doit:
            _step_5_doit(ctx)
        elif 5 in steps:
            ctx.notes.append(f"Step 5 (doit end to end) is skipped at size {size}.")
        if 6 in steps:
            _step_6_wrds(ctx)
    finally:
        if not keep_data:
            shutil.rmtree(ctx.workspace, ignore_errors=True)
    targets = derive_figures(ctx)
    results = {
        "created": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "size": asdict(spec),
        "repeats": ctx.repeats,
        "targets_evaluated": spec.evaluate_targets,
        "machine": machine_description(),
        "versions": package_versions(),
        "measurements": {name: measurement.summary() for name, measurement in ctx.measurements.items()},
        "figures": ctx.figures,
        "targets": [target.as_dict() for target in targets],
        "notes": ctx.notes,
    }
    out_json, out_md = benchmark_targets(paths)
    written = [io.write_text(json.dumps(results, indent=2, default=str), out_json), io.write_text(render_markdown(results), out_md)]
    for target in targets:
        log.info("target %-90s %s %.4g (limit %s %g)", target.name, "met" if target.met else "NOT MET", target.value, target.comparison, target.limit)
    return written
