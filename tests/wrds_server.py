"""A local copy of WRDS for the tests: one PostgreSQL server per session (``wrds_server`` fixture, tests/conftest.py).

The server (:mod:`asset_pricing.bench.pgserver`: SSL with a self-signed certificate, SCRAM password
logins, database ``wrds``, ``log_statement=all``) holds the tables of asset_pricing/bench/wrds_ddl.sql in
both layouts, loaded with generated rows (:mod:`asset_pricing.bench.wrds_replica`) for WINDOWS, and
login users whose passwords are in the server's pgpass file (given to clients through PGPASSFILE):

============ ==============================================================================
user         can read
============ ==============================================================================
jdoe         today's layout: optionm_all.*, frb_all.*
olduser      the older layout: optionm.*, frb.*
nolayout     nothing (no OptionMetrics subscription)
noperm       today's layout except optionm_all.secprd2009 (no SELECT on it)
============ ==============================================================================
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from asset_pricing.bench.pgserver import PgServer, create_server
from asset_pricing.bench.wrds_step import DDL_PATH
from asset_pricing.bench.wrds_replica import grant_layout, load_wrds_copy

DDL = DDL_PATH
WINDOWS: tuple[tuple[str, str], ...] = (
    ("2008-01-02", "2008-02-29"), ("2009-01-02", "2009-02-27"), ("2010-01-04", "2010-02-26"), ("2016-01-04", "2016-01-29"),
)
USERS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "jdoe": ("optionm_all", ()),
    "olduser": ("optionm", ()),
    "nolayout": (None, ()),
    "noperm": ("optionm_all", ("optionm_all.secprd2009",)),
}


@dataclass
class WrdsCopy:
    """The session's server and what it holds."""

    server: PgServer
    quote_rows: dict[int, int] = field(default_factory=dict)

    def environment(self, user: str, **extra: str) -> dict[str, str]:
        """Settings and PGPASSFILE that point the project's WRDS pull at this server as ``user``."""
        return {"OPTIONS_SOURCE": "wrds", "WRDS_HOST": self.server.host, "WRDS_PORT": str(self.server.port), "WRDS_USERNAME": user,
                **self.server.client_environment(), **extra}

    def statements_since(self, offset: int, user: str | None = None) -> list[str]:
        """The statements the server logged after byte ``offset`` of its log (of ``user`` only, when given)."""
        lines = self.server.log_lines_since(offset)
        marker = f"user={user} " if user else "user="
        return [line.split("statement: ", 1)[1] for line in lines if "statement: " in line and marker in line]


def start_wrds_copy() -> WrdsCopy:
    """Start the server, load the tables and create the users (about 5 s)."""
    server = create_server()
    try:
        with closing(server.superuser_connection()) as connection:
            counts = load_wrds_copy(connection, DDL.read_text(encoding="utf-8"), WINDOWS)
            for user, (layout, withhold) in USERS.items():
                server.add_user(user, f"pw-{user}:with colon")
                if layout is not None:
                    grant_layout(connection, user, layout, withhold=withhold)
    except BaseException:
        server.remove()
        raise
    return WrdsCopy(server, counts)
