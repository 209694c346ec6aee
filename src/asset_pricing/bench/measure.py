"""Measure a workload in fresh child processes: wall time and peak RSS, best and median of several runs.

Each run starts ``python -P child.py spec.json`` (:mod:`asset_pricing.bench.child`) with the environment
the benchmark gives it (DATA_DIR, OUTPUT_DIR and the settings of the step), so every figure is a cold
process: its own imports, its own page faults, its own ``ru_maxrss``. The child reports the seconds of
its timed calls (not the interpreter start-up) and its peak resident set size; the parent keeps every
run and summarizes them (best = smallest, median, worst).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

log = logging.getLogger(__name__)

CHILD_SCRIPT = Path(__file__).with_name("child.py")
LOG_TAIL_CHARS = 4000


class BenchmarkError(RuntimeError):
    """A measurement's child process failed; the message names the measurement and the child's error."""


@dataclass(frozen=True)
class Call:
    """One call of a measurement: ``target`` is ``"module:function"``; ``kind`` ``stage`` or ``call``."""

    target: str
    kind: str = "call"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """One child process: seconds of its timed calls, its peak RSS (MiB), its children's peak RSS, extra figures."""

    seconds: float
    peak_rss_mb: float
    peak_rss_children_mb: float
    call_seconds: list[float]
    extra: dict[str, Any]


@dataclass
class Measurement:
    """All runs of one measurement and their summary (best = smallest, median, worst)."""

    name: str
    description: str
    runs: list[Run] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    rss_includes_children: bool = False

    def _rss(self) -> list[float]:
        return [max(r.peak_rss_mb, r.peak_rss_children_mb) if self.rss_includes_children else r.peak_rss_mb for r in self.runs]

    @property
    def seconds(self) -> list[float]:
        return [r.seconds for r in self.runs]

    @property
    def best_seconds(self) -> float:
        return min(self.seconds)

    @property
    def median_seconds(self) -> float:
        return float(median(self.seconds))

    @property
    def best_rss_mb(self) -> float:
        return min(self._rss())

    @property
    def median_rss_mb(self) -> float:
        return float(median(self._rss()))

    @property
    def max_rss_mb(self) -> float:
        return max(self._rss())

    @property
    def extra(self) -> dict[str, Any]:
        """Extra figures of the last run (workload outputs such as counts or agreement checks)."""
        return self.runs[-1].extra if self.runs else {}

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary with every run."""
        return {
            "description": self.description,
            "settings": self.settings,
            "n_runs": len(self.runs),
            "best_seconds": self.best_seconds,
            "median_seconds": self.median_seconds,
            "worst_seconds": max(self.seconds),
            "best_rss_mb": self.best_rss_mb,
            "median_rss_mb": self.median_rss_mb,
            "max_rss_mb": self.max_rss_mb,
            "rss_includes_children": self.rss_includes_children,
            "runs": [asdict(run) for run in self.runs],
            "extra": self.extra,
        }


def run_child(calls: list[Call], env: dict[str, str], workdir: Path, label: str, *, pythonpath: list[Path] | None = None, timeout: float = 7200.0) -> Run:
    """One measurement run in a fresh child process; raises :class:`BenchmarkError` when it fails.

    ``pythonpath`` (e.g. a baseline checkout's ``src`` and root) is put first on PYTHONPATH, so the child
    imports that version of the package and settings instead of the installed one.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = f"{label}-{time.time_ns()}"
    spec_path, result_path, log_path = (workdir / f"{stamp}.{suffix}" for suffix in ("spec.json", "result.json", "log"))
    spec = {"calls": [asdict(call) for call in calls], "result": str(result_path)}
    spec_path.write_text(json.dumps(spec, default=str), encoding="utf-8")
    child_env = dict(env)
    if pythonpath:
        child_env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), child_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    with log_path.open("w", encoding="utf-8") as child_log:
        process = subprocess.run(
            [sys.executable, "-P", str(CHILD_SCRIPT), str(spec_path)], env=child_env, stdout=child_log, stderr=subprocess.STDOUT,
            timeout=timeout, check=False,
        )
    result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else {"ok": False, "error": "no result file"}
    if process.returncode != 0 or not result.get("ok"):
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        raise BenchmarkError(f"benchmark {label}: child failed ({result.get('error')}); log {log_path}:\n{result.get('traceback', '')}{tail}")
    for path in (spec_path, result_path, log_path):
        path.unlink()
    return Run(result["seconds"], result["peak_rss_mb"], result["peak_rss_children_mb"], result["call_seconds"], result["extra"])


def measure(
    name: str, description: str, calls: list[Call], env: dict[str, str], workdir: Path, *, repeats: int,
    settings: dict[str, str] | None = None, pythonpath: list[Path] | None = None, rss_includes_children: bool = False,
) -> Measurement:
    """``repeats`` runs of ``calls``, each in a fresh child process (:func:`run_child`)."""
    measurement = Measurement(name, description, settings=dict(settings or {}), rss_includes_children=rss_includes_children)
    for attempt in range(repeats):
        run = run_child(calls, env, workdir, f"{name}-{attempt + 1}", pythonpath=pythonpath)
        measurement.runs.append(run)
        log.info("bench %s run %d/%d: %.2f s, peak RSS %.0f MiB", name, attempt + 1, repeats, run.seconds,
                 max(run.peak_rss_mb, run.peak_rss_children_mb) if rss_includes_children else run.peak_rss_mb)
    return measurement
