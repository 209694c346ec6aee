"""results.md of the benchmark: a readable rendering of results.json (pure function of the results dict)."""

from __future__ import annotations

from typing import Any

from asset_pricing.bench.wrds_step import describe as wrds_step_lines

MIB_PER_GIB = 1024.0


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _seconds(value: float) -> str:
    if value < 0.1:
        return f"{1000 * value:.1f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def _gib(mib: float) -> str:
    return f"{mib / MIB_PER_GIB:.2f} GiB"


def _value(target: dict[str, Any]) -> str:
    value, unit = target["value"], target["unit"]
    if unit == "share":
        return f"{100 * value:.0f}%"
    if unit == "x":
        return f"{value:.1f}x"
    if unit == "":
        return f"{value:.1e}"
    if unit == "R²":
        return f"{value:.4f}"
    if unit == "files":
        return f"{value:.0f}"
    return f"{value:.2f} {unit}"


def _limit(target: dict[str, Any]) -> str:
    limit, unit = target["limit"], target["unit"]
    shown = f"{100 * limit:.0f}%" if unit == "share" else (f"{limit:g}x" if unit == "x" else f"{limit:g} {unit if unit != 'R²' else ''}".strip())
    return f"{target['comparison']} {shown}"


def render_markdown(results: dict[str, Any]) -> str:
    """The benchmark report: machine, versions, measurements, targets, growth, side by side, profile, method."""
    size = results["size"]
    measurements = results["measurements"]
    figures = results["figures"]
    out = [
        f"# Benchmark results ({size['name']})",
        "",
        f"Run {results['created']} → {results['finished']} (UTC); short measurements repeated {results['repeats']} time(s), "
        "each run a fresh child process (wall time of the timed calls, peak RSS from `resource.getrusage(...).ru_maxrss`).",
        "",
        "## Machine and versions",
        "",
        _table(["item", "value"], [[key, value] for key, value in {**results["machine"], **results["versions"]}.items()]),
        "",
        "## Targets",
        "",
    ]
    if not results["targets_evaluated"]:
        out += [f"The targets are set for the `full` size on a 2-core, 24 GB machine; at size `{size['name']}` they are shown for information only.", ""]
    out += [_table(["target", "measured", "limit", "met", "basis"],
                   [[t["name"], _value(t), _limit(t), "yes" if t["met"] else "**no**", t["basis"]] for t in results["targets"]]), ""]

    out += ["## Measurements", "", _table(
        ["measurement", "runs", "best", "median", "worst", "peak RSS best", "peak RSS median", "settings"],
        [[name, m["n_runs"], _seconds(m["best_seconds"]), _seconds(m["median_seconds"]), _seconds(m["worst_seconds"]),
          _gib(m["best_rss_mb"]), _gib(m["median_rss_mb"]), ", ".join(f"{k}={v}" for k, v in m["settings"].items()) or "defaults"]
         for name, m in measurements.items()],
    ), ""]
    out += [f"- **{name}**: {m['description']}." + (" Peak RSS is the largest of the process and its children." if m["rss_includes_children"] else "")
            for name, m in measurements.items()]
    out.append("")
    if "raw_quotes" in figures:
        out += [f"Raw quotes in the panel: {figures['raw_quotes']:,} (SYNTHETIC_QUOTES={size['panel_quotes']:,}, "
                f"{size['options_start']} … {size['options_end']}).", ""]
    if "options_full_filter_median_seconds" in figures:
        out += [f"Step 1 split (medians): filters {_seconds(figures['options_full_filter_median_seconds'])}, "
                f"portfolios {_seconds(figures['options_full_portfolio_median_seconds'])}.", ""]
    if "floor_multiple" in figures:
        out += ["## Step 1 against the machine's floor (this machine's seconds, same run)", "", _table(
            ["figure", "median", "multiple of the floor"],
            [["read the raw quotes (columns the filters read)", _seconds(figures["floor_read_median_seconds"]), ""],
             ["one lexsort of all raw quotes", _seconds(figures["floor_sort_median_seconds"]), ""],
             ["floor = read + lexsort", _seconds(measurements["options_floor"]["median_seconds"]), "1.0x"],
             ["step 1: filters + 54 CJS + 18 HKM written", _seconds(measurements["options_full"]["median_seconds"]), f"{figures['floor_multiple']:.2f}x"],
             ["generating the panel (one run)", _seconds(measurements["options_generate"]["median_seconds"]),
              f"{measurements['options_generate']['median_seconds'] / measurements['options_floor']['median_seconds']:.2f}x "
              f"({figures['generation_multiple']:.2f}x step 1)"]]), ""]
    if figures.get("breakdown"):
        total = figures["profile_seconds"]
        out += [f"## Where step 1's time goes (cProfile cumulative seconds of each part, {_seconds(total)} profiled in all, with profiler overhead)", "",
                _table(["part", "seconds", "share"], [[row["part"], f"{row['seconds']:.2f}", f"{100 * row['share']:.1f}%"] for row in figures["breakdown"]]),
                "", f"The parts do not overlap; the rest ({_seconds(total - sum(row['seconds'] for row in figures['breakdown']))}) is writing the "
                "work files and outputs, the underlying, meta.json and the filter table, and the glue between the parts.", ""]
    if "dense_year" in figures and "options_dense_year" in measurements:
        dense, run = figures["dense_year"], measurements["options_dense_year"]
        out += [f"Dense year (step 2): {dense['raw_quotes']:,} raw quotes in {', '.join(map(str, dense['years']))} (strikes every "
                f"{dense['near_step']:g} point near the money, weeklies at density {dense['weekly_density']:g}; generated in "
                f"{_seconds(dense['generation_seconds'])}): filters + 54 + 18 in {_seconds(run['median_seconds'])}, peak RSS {_gib(run['median_rss_mb'])}.", ""]
    if "dask_outputs" in figures:
        same = figures["dask_outputs"]
        out += [f"OPTIONS_ENGINE=dask against pandas ({same['files_compared']} parquet files, values, dtypes and attrs): "
                + ("identical." if not same["files_differing"] else f"DIFFERENT: {same['files_differing']}."), ""]

    if "options_full_baseline" in measurements:
        before, after = measurements["options_full_baseline"], measurements["options_full"]
        same = figures.get("baseline_outputs", {})
        identical = "identical" if not same.get("files_differing") else f"DIFFERENT: {same.get('files_differing')}"
        out += ["## Before and after (same run, runs alternating)", "", _table(
            ["figure", "before (baseline)", "after (this code)", "speed-up"],
            [["step 1 wall time, median", _seconds(before["median_seconds"]), _seconds(after["median_seconds"]), f"{before['median_seconds'] / after['median_seconds']:.2f}x"],
             ["step 1 wall time, best", _seconds(before["best_seconds"]), _seconds(after["best_seconds"]), f"{before['best_seconds'] / after['best_seconds']:.2f}x"],
             ["filters, median", _seconds(figures["baseline_filter_median_seconds"]), _seconds(figures["options_full_filter_median_seconds"]),
              f"{figures['baseline_filter_median_seconds'] / figures['options_full_filter_median_seconds']:.2f}x"],
             ["portfolios, median", _seconds(figures["baseline_portfolio_median_seconds"]), _seconds(figures["options_full_portfolio_median_seconds"]),
              f"{figures['baseline_portfolio_median_seconds'] / figures['options_full_portfolio_median_seconds']:.2f}x"],
             ["peak RSS, median", _gib(before["median_rss_mb"]), _gib(after["median_rss_mb"]), f"{before['median_rss_mb'] / after['median_rss_mb']:.2f}x"]],
        ), "", f"Outputs of the two versions ({same.get('files_compared', 0)} parquet files): {identical}.", ""]

    if figures.get("growth"):
        out += ["## Growth (step 2)", "",
                "Trailing windows of the same panel (the most recent years, so every window holds the densest year): the stage "
                "holds one year at a time, so peak memory is set by the largest year and time by the number of quotes.", "",
                _table(["window start", "raw quotes", "median", "best", "s per million quotes", "peak RSS median"],
                       [[row["window_start"], f"{row['raw_quotes']:,}", _seconds(row["median_seconds"]), _seconds(row["best_seconds"]),
                         f"{row['seconds_per_million']:.2f}", _gib(row["median_rss_mb"])] for row in sorted(figures["growth"], key=lambda r: r["raw_quotes"])]),
                "",
                f"Least-squares line through the medians: t = {figures['growth_fixed_seconds']:.2f} s + {figures['growth_seconds_per_million']:.3f} s "
                f"per million raw quotes (R² = {figures['growth_r2']:.4f}); the fixed part is the work that does not grow with the panel "
                "(underlying, calendar, meta.json, tables, the first year's whole file when the window starts mid-year). Peak RSS: "
                f"largest / smallest median - 1 = {100 * figures['growth_memory_spread']:.0f}%.", ""]

    if "portfolio_ratio" in figures:
        ref = measurements["portfolio_naive_reference"]["extra"]
        how = (f"timed on every {ref['every_nth_day']}th trading day ({ref['quotes']:,} of {ref['quotes_full']:,} quotes) and **extrapolated "
               "linearly in the number of quotes** to the full panel" if figures["portfolio_reference_extrapolated"]
               else f"run on the full panel ({ref['quotes']:,} filtered quotes, {ref['days']:,} days)")
        out += ["## Side by side (step 3)", "",
                f"- Portfolio stage: the naive reference implementation {how}: {_seconds(figures['portfolio_reference_full_seconds'])}; "
                f"the project's stage (files → files): {_seconds(measurements['portfolio_stage']['median_seconds'])} (median) → "
                f"**{figures['portfolio_ratio']:.1f}x**. The reference keeps the replication mistakes of docs/methods.md §9, so only its time is compared.",
                f"- Kernel weights before the floor on the naive reference's bucket candidates: {ref['kernel_weights_compared']:,} weights on "
                f"{ref['kernel_portfolio_days']:,} portfolio-days, largest absolute difference {ref['kernel_max_abs_difference']:.1e} "
                f"(relative {ref['kernel_max_relative_difference']:.1e}).",
                ]
    if "smile_ratio" in figures:
        smile_ref = measurements["smile_filter_reference"]["extra"]
        smile = measurements["smile_filter_project"]["extra"]
        out += [f"- Level-3 smile filter on the {smile['quotes']:,} quotes reaching filter 9 ({smile['slices']:,} slices), in memory: per-group "
                f"loop {_seconds(measurements['smile_filter_reference']['median_seconds'])}; project, repeated in its process, "
                f"{_seconds(figures['smile_project_warm_median_seconds'])} (median, best {_seconds(figures['smile_project_warm_best_seconds'])}) → "
                f"**{figures['smile_ratio']:.1f}x**; its first computation in a fresh process, which pays the page faults of its new arrays, "
                f"{_seconds(measurements['smile_filter_project']['median_seconds'])} (median) → {figures['smile_ratio_cold']:.1f}x. "
                f"Outliers {smile['outliers']:,} vs {smile_ref['outliers']:,}, decisions differing on {smile_ref['decisions_differing']:,} quotes.", ""]

    if "volmanaged_inputs" in figures:
        v = figures["volmanaged_inputs"]
        out += [f"Step 4 input: {v['assets']} synthetic stocks (market GARCH(1,1) with t shocks, betas 0.5–1.5, a fifth listing late), "
                f"{v['days']:,} business days ({v['years']} years), embedded Fama–French RF.", ""]

    out += wrds_step_lines(figures)
    for key, title in (("profile_cumulative", "project functions by cumulative time"), ("profile_internal", "all functions by own time")):
        if figures.get(key):
            out += [f"## Profile of step 1 ({title}; cProfile, {_seconds(figures['profile_seconds'])} with profiler overhead)", "",
                    _table(["function", "calls", "own", "cumulative"],
                           [[f"`{row['function']}`", row["calls"], f"{row['own_seconds']:.2f}", f"{row['cumulative_seconds']:.2f}"] for row in figures[key]]),
                    ""]
    out += ["## Method", "",
            "- Every setting is at its default in every child (a `.env` does not apply) except the settings listed per measurement.",
            "- Seconds are the timed calls inside the child (no interpreter start-up); the side-by-side figures time the computation "
            "after the inputs are loaded, except the portfolio comparison, which times both from the filtered files.",
            "- Best = smallest of the runs, median = median of the runs; a target is judged on the median.",
            *[f"- {note}" for note in results["notes"]], ""]
    return "\n".join(out)
