"""OPTIONS_ENGINE: the dask engine runs the same per-year functions as the pandas engine and writes the same
files; the fast paths of the filters (quotes in the schema's order) agree with the general ones."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

import settings
from asset_pricing.io import DataValidationError
from asset_pricing.options import filters, schema, stage_quotes
from asset_pricing.options.engine import DaskEngine, PandasEngine, open_engine
from asset_pricing.options.stage_portfolios import build_option_portfolios, option_portfolio_targets
from asset_pricing.options.stage_quotes import filter_options, filter_options_targets
from asset_pricing.sources.option_pull import pull_options
from asset_pricing.sources.synthetic_options import SyntheticPanelSpec, generate_synthetic_panel
from asset_pricing.paths import project_paths

distributed = pytest.importorskip("distributed")


@pytest.fixture
def small_panel(monkeypatch):
    """A two-year synthetic window (a year boundary) with planted defects, pulled into the temp DATA_DIR."""
    monkeypatch.setenv("OPTIONS_START", "2007-11-01")
    monkeypatch.setenv("OPTIONS_END", "2008-02-29")
    monkeypatch.setenv("SYNTHETIC_QUOTES", "20000")
    monkeypatch.setenv("SYNTHETIC_DEFECT_SHARE", "0.005")
    paths = project_paths()
    pull_options(paths, settings.load())
    return paths


def run_option_stages(paths, cfg) -> dict[str, pd.DataFrame]:
    """Filter and portfolio stages; every output read back (filtered quotes and fits of both years, tables)."""
    filter_options(paths, cfg)
    build_option_portfolios(paths, cfg)
    files = [p for p in filter_options_targets(paths, cfg) + option_portfolio_targets(paths) if p.suffix in (".parquet", ".csv")]
    return {p.name: (pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)) for p in files}


def test_dask_engine_gives_the_same_filter_counts_and_portfolio_returns_as_pandas(small_panel, monkeypatch):
    pandas_outputs = run_option_stages(small_panel, settings.load())
    monkeypatch.setenv("OPTIONS_ENGINE", "dask")
    dask_outputs = run_option_stages(small_panel, settings.load())

    assert pandas_outputs.keys() == dask_outputs.keys()
    table = dask_outputs["option_filters.csv"]
    pd.testing.assert_frame_equal(table, pandas_outputs["option_filters.csv"])
    assert table["removed"].iloc[1:].gt(0).all()  # every filter had planted defects to remove
    daily = dask_outputs["cjs_daily_returns.parquet"]
    pd.testing.assert_frame_equal(daily, pandas_outputs["cjs_daily_returns.parquet"])
    assert daily["portfolio_id"].nunique() == 54 and daily["return"].notna().mean() > 0.9
    for name in pandas_outputs:  # filtered quotes, smile fits, monthly CJS and HKM: identical too
        pd.testing.assert_frame_equal(dask_outputs[name], pandas_outputs[name], obj=name)


def test_dask_engine_uses_an_existing_scheduler_when_its_address_is_set(small_panel, monkeypatch):
    pandas_table = run_option_stages(small_panel, settings.load())["option_filters.csv"]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        monkeypatch.setenv("OPTIONS_ENGINE", "dask")
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        cfg = settings.load()
        with open_engine(cfg) as engine:
            assert isinstance(engine, DaskEngine) and engine.client.scheduler.address == cluster.scheduler_address
        filter_options(small_panel, cfg)
        assert {"level_two_year", "parity_moments_after_smile", "write_filtered_year"} <= set(cluster.scheduler.task_prefixes)
    pd.testing.assert_frame_equal(pd.read_csv(small_panel.tables / "option_filters.csv"), pandas_table)


def test_a_dense_year_filtered_in_pieces_of_whole_days_writes_the_same_files(small_panel, monkeypatch):
    whole = run_option_stages(small_panel, settings.load())
    for path in (small_panel.raw / "options" / "synthetic").glob("quotes_*.parquet"):  # row groups smaller than a piece
        pq.write_table(pq.read_table(path), path, row_group_size=1_000)
    monkeypatch.setattr(stage_quotes, "PIECE_ROWS", 3_000)
    pieces = stage_quotes.year_pieces(small_panel.raw / "options" / "synthetic" / "quotes_2008.parquet")
    assert len(pieces) > 2 and pieces[0][0] == 0 and all(stop == start for (_, stop), (start, _) in zip(pieces, pieces[1:]))
    dates = pd.read_parquet(small_panel.raw / "options" / "synthetic" / "quotes_2008.parquet", columns=["date"])["date"]
    assert all(dates.iloc[start] != dates.iloc[start - 1] for start, _ in pieces[1:])  # cuts between days, never inside one
    in_pieces = run_option_stages(small_panel, settings.load())
    assert whole.keys() == in_pieces.keys()
    for name in whole:
        pd.testing.assert_frame_equal(in_pieces[name], whole[name], obj=name)
        if name.endswith(".parquet"):
            attrs = pd.read_parquet(next(small_panel.data_dir.rglob(name))).attrs
            assert attrs["data_source"] == "synthetic option quotes" and set(attrs) <= {"data_source", "option_months"}


def test_pandas_engine_maps_in_order_with_constants():
    with open_engine({"OPTIONS_ENGINE": "pandas"}) as engine:
        assert isinstance(engine, PandasEngine)
        handles = engine.map(lambda year, offset: year + offset, [1996, 1997], offset=1000)
        assert engine.gather(handles) == [2996, 2997]


def test_a_worker_error_reaches_the_stage_with_its_message(small_panel, monkeypatch):
    raw_2008 = small_panel.raw / "options" / "synthetic" / "quotes_2008.parquet"
    raw_2008.write_bytes(raw_2008.read_bytes()[:200])
    monkeypatch.setenv("OPTIONS_ENGINE", "dask")
    with pytest.raises(DataValidationError, match=r"option year 2008: .*quotes_2008\.parquet: cannot be read as parquet"):
        filter_options(small_panel, settings.load())


def test_filters_give_the_same_rows_on_quotes_in_any_order():
    # Sorted quotes take the fast paths (neighbour comparisons, sorted-key pairing); shuffled ones the
    # general paths (hashed keys, one lexsort): both must remove exactly the same rows.
    spec = SyntheticPanelSpec(start=pd.Timestamp("2008-01-01"), end=pd.Timestamp("2008-03-31"), target_quotes=20_000, defect_share=0.01)
    underlying, years = generate_synthetic_panel(spec)
    underlying = schema.validate_underlying(underlying, "underlying")
    year = next(years)
    ordered = schema.attach_underlying(schema.validate_quotes(year.quotes, underlying, "quotes_2008"), underlying)
    shuffled = ordered.sample(frac=1.0, random_state=11)
    assert filters.schema_order_breaks(ordered) is not None and filters.schema_order_breaks(shuffled) is None

    kept_ordered, records_ordered = filters.apply_level_1_2(ordered)
    kept_shuffled, records_shuffled = filters.apply_level_1_2(shuffled)
    assert [(r.removed, r.detail) for r in records_ordered] == [(r.removed, r.detail) for r in records_shuffled]
    assert all(r.removed > 0 for r in records_ordered)  # the SPXW rows (step 0) and every kind of defect were planted
    # Filter 1 keeps the first of identical quotes in the order given: the same quotes, maybe another copy.
    keys = filters.IDENTICAL_QUOTE_KEYS
    removed_first = [frame.loc[r.removed_rows, keys].sort_values(keys).reset_index(drop=True) for frame, r in
                     ((ordered, records_ordered[1]), (shuffled, records_shuffled[1]))]
    pd.testing.assert_frame_equal(*removed_first)
    for a, b in zip(records_ordered[:1] + records_ordered[2:], records_shuffled[:1] + records_shuffled[2:]):
        assert set(a.removed_rows) == set(b.removed_rows), f"filter {a.step}"
    comparable = [c for c in kept_ordered.columns if c not in ("volume", "open_interest")]  # copies may differ there
    in_order = kept_shuffled.sort_values(schema.SORT_COLUMNS, kind="mergesort")[comparable].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept_ordered[comparable].reset_index(drop=True), in_order)
    ordered_pairs, shuffled_pairs = pair_keys(kept_ordered), pair_keys(kept_shuffled)
    assert ordered_pairs == shuffled_pairs and len(ordered_pairs) > 1000  # sorted-key matching = one lexsort


def pair_keys(quotes: pd.DataFrame) -> list[tuple]:
    """(date, exdate, strike_price) of every call-put pair of :func:`filters.parity_pairs`, checked to be a call and a put."""
    call, put = filters.parity_pairs(quotes)
    calls, puts = quotes.iloc[call], quotes.iloc[put]
    keys = ["date", "exdate", "strike_price"]
    assert (calls["cp_flag"] == "C").all() and (puts["cp_flag"] == "P").all()
    assert (calls[keys].to_numpy() == puts[keys].to_numpy()).all()
    return sorted(map(tuple, calls[keys].to_numpy().tolist()))
