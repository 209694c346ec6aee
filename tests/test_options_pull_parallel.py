"""The synthetic pull generates its years in one process per core; the files are those of one process."""

from __future__ import annotations

import platform
import subprocess
import sys

import pandas as pd
import pytest

from asset_pricing.sources import option_pull
from asset_pricing.sources.synthetic_options import SyntheticPanelSpec


def test_years_generated_in_parallel_are_the_years_generated_one_by_one(tmp_path, monkeypatch):
    spec = SyntheticPanelSpec(pd.Timestamp("2007-11-01"), pd.Timestamp("2008-02-29"), target_quotes=20_000)
    monkeypatch.setattr(option_pull, "generation_workers", lambda: 2)
    parallel = option_pull.pull_synthetic_options(tmp_path / "parallel", spec)
    monkeypatch.setattr(option_pull, "generation_workers", lambda: 1)
    serial = option_pull.pull_synthetic_options(tmp_path / "serial", spec)

    names = sorted(path.name for path in parallel)
    assert names == sorted(path.name for path in serial)
    assert {"quotes_2007.parquet", "quotes_2008.parquet", "truth_2007.parquet", "truth_2008.parquet", "underlying.parquet"} <= set(names)
    for name in names:
        left, right = pd.read_parquet(tmp_path / "parallel" / name), pd.read_parquet(tmp_path / "serial" / name)
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=name)
        assert left.attrs == right.attrs
    assert len(pd.read_parquet(tmp_path / "parallel" / "quotes_2008.parquet")) > 5_000
    assert [path.name for path in parallel] == [path.name for path in serial]  # written in year order, whatever order they ran in


@pytest.mark.skipif(not platform.libc_ver()[0] == "glibc", reason="mallopt is glibc's")
def test_a_generating_process_keeps_freed_memory_under_glibc():
    # run in its own process: the setting stays with the process that makes it
    code = "from asset_pricing.sources.option_pull import keep_freed_memory; raise SystemExit(0 if keep_freed_memory() else 1)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
