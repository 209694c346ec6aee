"""Benchmark of the project at OptionMetrics scale: ``python -m asset_pricing.bench --size full``.

Measures, each in fresh child processes (best and median of several runs): the option stages on a
~20 million quote synthetic panel and their growth, the portfolio stage and the Level-3 smile filter
against reference implementations, the volatility-managed study on 500 synthetic stocks, and ``doit``
end to end; writes OUTPUT_DIR/benchmarks/results.json and results.md (:mod:`asset_pricing.bench.runner`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asset_pricing.bench.runner import SIZES, STEPS, benchmark_targets, run_benchmarks

__all__ = ["SIZES", "benchmark_targets", "main", "run_benchmarks"]


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m asset_pricing.bench [--size tiny|small|full] [--repeats N] [--steps 1,2,3] [--baseline DIR] [--keep-data]``.

    Folders come from the settings DATA_DIR (workspace DATA_DIR/benchmarks/<size>) and OUTPUT_DIR
    (results in OUTPUT_DIR/benchmarks). Returns 0 when the benchmark ran (a missed target is reported in
    results.md, not an error).
    """
    import settings
    from asset_pricing.paths import project_paths

    parser = argparse.ArgumentParser(prog="python -m asset_pricing.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="full: OptionMetrics scale, ~20M quotes (~10 min); small: 1M quotes; tiny: smoke test")
    parser.add_argument("--repeats", type=int, default=None, help="runs per short measurement (default: 3, tiny: 1)")
    parser.add_argument("--steps", default=",".join(map(str, STEPS)), help="comma-separated steps among 1-6 (default: all; 6 = the WRDS pull)")
    parser.add_argument("--baseline", type=Path, default=None, help="root of another checkout: step 1 runs it too, alternating, and compares outputs")
    parser.add_argument("--keep-data", action="store_true", help="keep the workspace DATA_DIR/benchmarks/<size> (large at full size)")
    args = parser.parse_args(argv)
    steps = tuple(sorted({int(step) for step in args.steps.split(",") if step.strip()}))
    if not set(steps) <= set(STEPS):
        parser.error(f"--steps must be among {', '.join(map(str, STEPS))}")
    if args.baseline is not None and not (args.baseline / "src" / "asset_pricing").is_dir():
        parser.error(f"--baseline {args.baseline}: no src/asset_pricing there")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    written = run_benchmarks(project_paths(), settings.load(), args.size, repeats=args.repeats, steps=steps, baseline=args.baseline, keep_data=args.keep_data)
    print("\n".join(str(path) for path in written))
    return 0
