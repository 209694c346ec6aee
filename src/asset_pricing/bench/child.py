"""One benchmark measurement, in its own process: run the calls of a spec, time them, report the peak RSS.

Run as ``python -P <this file> <spec.json>`` by :func:`asset_pricing.bench.measure.measure` (never
imported by the pipeline). The file imports nothing from ``asset_pricing`` at module level so the same
harness can time another version of the package (the baseline of ``--baseline``, put first on
PYTHONPATH); ``-P`` keeps this folder off ``sys.path``.

Spec (JSON)::

    {"calls": [{"target": "package.module:function", "kind": "stage" | "call", "kwargs": {...}}, ...],
     "result": "/path/to/result.json"}

A ``stage`` call is ``function(project_paths(), settings.load())`` (the settings come from the
environment the parent gives this process); a ``call`` is ``function(**kwargs)`` and may return a dict
of extra figures. A returned ``seconds`` replaces the call's wall time as its figure (for workloads
that load inputs before the timed part). The result holds the seconds of each call and their sum, the
peak resident set size of this process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and of its
waited-for children (``RUSAGE_CHILDREN``, e.g. the ``doit`` process), and the merged extra figures.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

KILOBYTES_PER_MEGABYTE = 1024.0  # Linux reports ru_maxrss in kilobytes


def _resolve(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Execute the calls of ``spec`` in order; return seconds per call, peak RSS and extra figures."""
    call_seconds: list[float] = []
    extra: dict[str, Any] = {}
    for call in spec["calls"]:
        function = _resolve(call["target"])
        start = time.perf_counter()
        if call.get("kind", "call") == "stage":
            import settings  # the project's settings module (from this process's environment)
            from asset_pricing.paths import project_paths

            returned = function(project_paths(), settings.load())
        else:
            returned = function(**call.get("kwargs", {}))
        elapsed = time.perf_counter() - start
        if isinstance(returned, dict):
            elapsed = float(returned.pop("seconds", elapsed))
            extra.update(returned)
        call_seconds.append(elapsed)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KILOBYTES_PER_MEGABYTE
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / KILOBYTES_PER_MEGABYTE
    return {
        "seconds": sum(call_seconds),
        "call_seconds": call_seconds,
        "peak_rss_mb": own,
        "peak_rss_children_mb": children,
        "extra": extra,
    }


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result_path = Path(spec["result"])
    try:
        result = {"ok": True, **run_spec(spec)}
    except BaseException as exc:  # report any failure to the parent, then exit non-zero
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result_path.write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # The result file is written: leave without the interpreter's teardown, where a parquet reader's
    # thread pool can abort the process after the work is done (apache/arrow#34314).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
