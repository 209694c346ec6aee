"""Pieces of the WRDS step of the benchmark (asset_pricing.bench.wrds_step) on the session's local server."""

from __future__ import annotations

from contextlib import closing

from asset_pricing.bench.measure import Measurement, Run
from asset_pricing.bench.wrds_step import copy_to_null, replicate_year, wrds_targets


def test_replicate_year_copies_the_year_to_the_row_count_asked_with_new_optionids(wrds_server):
    server = wrds_server.server
    server.execute("CREATE TABLE optionm_all.opprcd2099 AS SELECT * FROM optionm_all.opprcd2016")
    try:
        base = wrds_server.quote_rows[2016]
        with closing(server.superuser_connection()) as connection:
            assert replicate_year(connection, 2099, 2 * base + 5) == 2 * base + 5
        (distinct,) = server.execute("SELECT count(DISTINCT (date, optionid)) FROM optionm_all.opprcd2099")[0]
        assert distinct == 2 * base + 5  # every copy is a contract of its own
    finally:
        server.execute("DROP TABLE optionm_all.opprcd2099")


def test_the_copy_baseline_receives_every_row_of_the_query(wrds_server, monkeypatch):
    monkeypatch.setenv("PGPASSFILE", str(wrds_server.server.pgpass_path))
    result = copy_to_null(wrds_server.server.host, wrds_server.server.port, "jdoe", "SELECT secid, date FROM optionm_all.opprcd2009")
    assert result["rows"] == wrds_server.quote_rows[2009] and result["seconds"] > 0


def test_wrds_targets_compare_the_pull_with_the_copy_medians():
    class Context:
        measurements = {
            "wrds_pull": Measurement("wrds_pull", "", runs=[Run(s, rss, 0.0, [s], {"rows": 1000, "row_groups": 1}) for s, rss in ((4.0, 600.0), (6.0, 700.0), (5.0, 650.0))]),
            "wrds_copy_baseline": Measurement("wrds_copy_baseline", "", runs=[Run(s, 100.0, 0.0, [s], {"rows": 1000}) for s in (2.0, 3.0, 4.0)]),
        }
        figures: dict = {}

    ctx = Context()
    memory, speed = wrds_targets(ctx)
    assert memory.value == 650.0 / 1024 and memory.met
    assert speed.value == 5.0 / 3.0 and speed.met  # median pull 5 s over median COPY 3 s
    assert ctx.figures["wrds_pull_rows_per_second"] == 200.0 and ctx.figures["wrds_copy_rows_per_second"] == 1000 / 3.0
