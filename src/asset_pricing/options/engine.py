"""Engines of the option stages: the same per-year functions run in this process (pandas) or on a dask cluster.

The option stages (:func:`asset_pricing.options.stage_quotes.filter_options`,
:func:`asset_pricing.options.stage_portfolios.build_option_portfolios`) are written as passes of
per-year functions ``fn(item, **constants)``: the item is a calendar year (or the result of that year in
the previous pass), the constants are shared by every year (paths, settings, the underlying, whole-sample
statistics). An engine maps such a function over the years:

``pandas`` (OPTIONS_ENGINE=pandas, the default)
    A loop in this process with a progress bar; one year in memory at a time (a stage may ask for
    ``threads``: the portfolio stage builds two years at once in two threads). Right for one underlying
    (S&P 500 OptionMetrics 1996–2019, ~20 million quotes: seconds).

``dask`` (OPTIONS_ENGINE=dask)
    The years become tasks of a ``dask.distributed`` cluster: a ``LocalCluster`` of one single-threaded
    worker process per core on this machine, or the running scheduler at DASK_SCHEDULER_ADDRESS (e.g.
    ``tcp://10.0.0.5:8786``) of a cluster spanning machines. The result of a pass stays on the worker
    that computed it (a future) and is handed to the next pass there; only the small whole-sample
    statistics (Level-3 moments, counts) and the daily portfolio returns travel back to this process.
    Workers read DATA_DIR and write the stage outputs themselves, so on several machines DATA_DIR must
    be a path every worker sees (a shared file system), and every worker needs this package installed.

Both engines run the same functions on the same year partitions, so their outputs are identical (a
test checks the filter counts and portfolio returns).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from tqdm.auto import tqdm

from settings import SettingsError

log = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("pandas", "dask")


def available_cores() -> int:
    """Cores this process may run on (the CPU affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class YearEngine(Protocol):
    """What the option stages need from an engine (see the module docstring)."""

    name: str

    def share(self, **values: Any) -> dict[str, Any]:
        """Constants as the engine passes them to every task (dask: scattered once to every worker)."""

    def map(self, function: Callable[..., Any], items: Sequence[Any], *, desc: str | None = None, threads: int = 1, **constants: Any) -> list[Any]:
        """``function(item, **constants)`` for every item; returns handles (results or futures) in item order.

        ``threads`` > 1 lets an engine run that many items at once in threads of one process (the pandas
        engine; a function whose work is numpy and arrow calls, which release the GIL); memory then holds
        that many items."""

    def gather(self, handles: list[Any]) -> list[Any]:
        """The results behind ``handles``, in order; re-raises the first error of a task."""


class PandasEngine:
    """Runs every per-year function in this process, one year after the other (results are the handles)."""

    name = "pandas"

    def share(self, **values: Any) -> dict[str, Any]:
        return values

    def map(self, function: Callable[..., Any], items: Sequence[Any], *, desc: str | None = None, threads: int = 1, **constants: Any) -> list[Any]:
        if threads > 1 and len(items) > 1:
            with ThreadPoolExecutor(min(threads, len(items))) as pool:
                results = pool.map(lambda item: function(item, **constants), items)
                return list(tqdm(results, total=len(items), desc=desc, unit="year") if desc else results)
        iterator = tqdm(items, desc=desc, unit="year") if desc else items
        return [function(item, **constants) for item in iterator]

    def gather(self, handles: list[Any]) -> list[Any]:
        return list(handles)


class DaskEngine:
    """Runs the per-year functions as tasks of a ``dask.distributed`` cluster (local, or an existing scheduler).

    Parameters
    ----------
    scheduler_address : address of a running scheduler (setting DASK_SCHEDULER_ADDRESS); empty starts a
        ``LocalCluster`` of ``n_workers`` single-threaded worker processes on this machine.
    n_workers : workers of the local cluster; default one per available core.
    """

    name = "dask"

    def __init__(self, scheduler_address: str = "", n_workers: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask[distributed] is pinned in requirements.txt
            raise SettingsError("Setting OPTIONS_ENGINE='dask' needs the packages dask and distributed (pip install -r requirements.txt).") from exc
        self._cluster = None
        if scheduler_address:
            log.info("dask engine: connecting to the scheduler at %s", scheduler_address)
            try:
                self.client = Client(scheduler_address, timeout="20s")
            except OSError as exc:
                raise SettingsError(f"Setting DASK_SCHEDULER_ADDRESS={scheduler_address!r}: no dask scheduler answers there ({exc}).") from None
        else:
            workers = n_workers or available_cores()
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR,
            )
            self.client = Client(self._cluster)
            log.info("dask engine: local cluster of %d worker processes at %s", workers, self._cluster.scheduler_address)

    def share(self, **values: Any) -> dict[str, Any]:
        return {name: self.client.scatter(value, broadcast=True) for name, value in values.items()}

    def map(self, function: Callable[..., Any], items: Sequence[Any], *, desc: str | None = None, threads: int = 1, **constants: Any) -> list[Any]:
        from distributed import as_completed  # ``threads`` is the pandas engine's: the cluster already runs tasks at once

        futures = self.client.map(function, list(items), pure=False, **constants)
        if desc:
            for _ in tqdm(as_completed(futures), total=len(futures), desc=f"{desc} [dask]", unit="year"):
                pass
        return futures

    def gather(self, handles: list[Any]) -> list[Any]:
        return self.client.gather(handles)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


@contextmanager
def open_engine(cfg: dict[str, Any]) -> Iterator[YearEngine]:
    """The engine of the settings OPTIONS_ENGINE and DASK_SCHEDULER_ADDRESS, closed (cluster stopped) on exit."""
    name = str(cfg.get("OPTIONS_ENGINE", "pandas"))
    if name == "pandas":
        yield PandasEngine()
        return
    if name != "dask":
        raise SettingsError(f"Setting OPTIONS_ENGINE={name!r} is invalid: accepted values are {' | '.join(ENGINES)}.")
    engine = DaskEngine(str(cfg.get("DASK_SCHEDULER_ADDRESS") or ""))
    try:
        yield engine
    finally:
        engine.close()
