"""The benchmark command keeps working (a tiny run end to end) and its pieces measure what they claim.

Timings are never asserted: the machine is shared. The claims are about the files, the measurement
protocol (child processes, best/median, peak RSS) and the correctness checks the benchmark reports.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from asset_pricing.bench import main
from asset_pricing.bench.measure import BenchmarkError, Call, measure
from asset_pricing.bench.runner import Target, benchmark_targets, trailing_window_start
from asset_pricing.paths import project_paths


def test_tiny_benchmark_writes_results_with_every_step_and_cleans_its_workspace():
    assert main(["--size", "tiny"]) == 0
    paths = project_paths()
    results_json, results_md = benchmark_targets(paths)
    results = json.loads(results_json.read_text())
    measured = set(results["measurements"])
    assert {"options_generate", "options_full", "portfolio_stage", "portfolio_naive_reference", "smile_filter_project",
            "smile_filter_reference", "options_growth_10000", "volmanaged", "options_floor", "options_dense_year"} <= measured
    for summary in results["measurements"].values():
        assert summary["n_runs"] >= 1 and summary["best_seconds"] <= summary["median_seconds"]
        assert summary["median_rss_mb"] > 50  # a python process with pandas loaded: the RSS is real
    assert results["figures"]["raw_quotes"] > 10_000
    reference = results["measurements"]["portfolio_naive_reference"]["extra"]
    assert reference["kernel_max_abs_difference"] < 1e-12 and reference["kernel_weights_compared"] > 1000
    assert results["measurements"]["smile_filter_reference"]["extra"]["decisions_differing"] == 0
    assert results["measurements"]["options_full"]["runs"][0]["call_seconds"].__len__() == 2  # filters, then portfolios
    names = [t["name"] for t in results["targets"]]
    assert names[:3] == ["step 1: options full scale, wall time as a multiple of the machine's floor (read + one lexsort)",
                         "step 1: options full scale, peak RSS", "step 1: generating the panel, as a multiple of step 1"]
    assert any(name.startswith("step 2: one dense year") for name in names)
    floor = results["measurements"]["options_floor"]["extra"]
    assert floor["quotes"] == results["figures"]["raw_quotes"] and floor["read_seconds"] > 0 and floor["sort_seconds"] > 0
    assert results["figures"]["dense_year"]["raw_quotes"] > 20_000 and results["figures"]["dense_year"]["years"] == [2018]
    parts = {row["part"]: row["seconds"] for row in results["figures"]["breakdown"]}
    assert parts["portfolios: kernel weights"] > 0 and parts["filters: smile fit and residuals"] > 0 and parts["portfolios: next-day match"] > 0
    assert sum(parts.values()) <= results["figures"]["profile_seconds"]  # the parts do not overlap
    assert results["figures"]["profile_cumulative"] and results["machine"]["cores"] >= 1 and results["versions"]["pandas"] == pd.__version__
    text = results_md.read_text()
    for heading in ("## Machine and versions", "## Targets", "## Measurements", "## Growth (step 2)", "## Side by side (step 3)", "## Method",
                    "## Step 1 against the machine's floor", "## Where step 1's time goes"):
        assert heading in text
    assert "Step 5 (doit end to end) is skipped at size tiny." in text
    assert not (paths.data_dir / "benchmarks" / "tiny").exists()


def test_measure_runs_each_repeat_in_a_fresh_process_and_summarizes(tmp_path):
    calls = [Call("os:getpid")]
    result = measure("pid", "process id", calls, {"PATH": "/usr/bin:/bin"}, tmp_path, repeats=3)
    assert len(result.runs) == 3 and result.best_seconds <= result.median_seconds <= max(result.seconds)
    assert all(run.peak_rss_mb > 1 for run in result.runs)
    assert not list(tmp_path.iterdir())  # spec, result and log files of successful runs are removed


def test_a_failing_child_raises_an_error_naming_the_measurement_and_the_cause(tmp_path):
    with pytest.raises(BenchmarkError, match=r"benchmark broken-1: child failed \(ModuleNotFoundError: No module named 'no_such_module'\)"):
        measure("broken", "fails", [Call("no_such_module:function")], {"PATH": "/usr/bin:/bin"}, tmp_path, repeats=1)


def test_a_returned_seconds_figure_replaces_the_wall_time_and_extra_figures_are_kept(tmp_path):
    result = measure("dict", "returns a dict", [Call("builtins:dict", kwargs={"seconds": 123.0, "rows": 7})], {}, tmp_path, repeats=1)
    assert result.runs[0].seconds == 123.0 and result.extra == {"rows": 7}


def test_trailing_window_starts_where_the_count_from_the_last_day_reaches_the_size():
    per_day = pd.Series([5, 10, 20, 40], index=pd.to_datetime(["2018-01-02", "2018-01-03", "2018-01-04", "2018-01-05"]))
    assert trailing_window_start(per_day, 60) == (pd.Timestamp("2018-01-04"), 60)
    assert trailing_window_start(per_day, 61) == (pd.Timestamp("2018-01-03"), 70)
    assert trailing_window_start(per_day, 1_000) == (pd.Timestamp("2018-01-02"), 75)  # the whole panel


def test_targets_compare_in_their_direction():
    assert Target("time", 19.9, 20.0, "<=", "s", "median").met and not Target("time", 20.1, 20.0, "<=", "s", "median").met
    assert Target("ratio", 15.0, 15.0, ">=", "x", "median").met and not Target("ratio", 14.9, 15.0, ">=", "x", "median").met
