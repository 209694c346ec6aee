"""A throwaway local PostgreSQL server shaped like WRDS's: SSL, a password user, database ``wrds``.

Used by the WRDS tests (``tests/wrds_server.py``) and by the WRDS step of the benchmark, so the real
``wrds.Connection`` and the project's SQL meet a real server. What it sets up:

- ``initdb`` + ``pg_ctl`` of the Debian ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``,
  or ``PG_BINDIR``), run as the ``postgres`` OS user when this process is root (``initdb`` refuses
  root), in a fresh folder under the system temp directory;
- listening on 127.0.0.1 at a free port, SSL on with a self-signed certificate made by ``openssl``
  (so the client's default ``sslmode=require`` is exercised), and only ``hostssl`` logins with a
  SCRAM password over TCP; the superuser logs in over the folder's Unix socket (``trust``);
- ``log_statement=all`` into :attr:`PgServer.log_path` (one line per statement, prefixed with the user),
  so a test can assert what reached the server;
- durability off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the data is disposable.

:func:`find_bindir` raises :class:`PgServerUnavailable` with the reason when no PostgreSQL is installed
(CI installs it with ``apt-get install postgresql``; see ``.ci/run``).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POSTGRES_VERSIONS: tuple[str, ...] = ("15", "16", "17", "14", "13")
SERVER_OS_USER = "postgres"
DATABASE = "wrds"
START_TIMEOUT_SECONDS = 60


class PgServerUnavailable(RuntimeError):
    """No PostgreSQL server binaries (or no ``postgres`` OS user when running as root)."""


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: ``PG_BINDIR``, else the first Debian package folder found (POSTGRES_VERSIONS)."""
    candidates = [Path(os.environ["PG_BINDIR"])] if os.environ.get("PG_BINDIR") else []
    candidates += [Path(f"/usr/lib/postgresql/{version}/bin") for version in POSTGRES_VERSIONS]
    if shutil.which("openssl") is None:
        raise PgServerUnavailable("no `openssl` command to make the server's certificate (apt-get install -y openssl)")
    for folder in candidates:
        if (folder / "pg_ctl").is_file() and (folder / "initdb").is_file():
            if os.geteuid() == 0:
                try:
                    pwd.getpwnam(SERVER_OS_USER)
                except KeyError:
                    raise PgServerUnavailable(f"running as root and no '{SERVER_OS_USER}' OS user to run {folder}/pg_ctl") from None
            return folder
    raise PgServerUnavailable(
        "PostgreSQL server not installed (no pg_ctl in " + ", ".join(str(c) for c in candidates[:2])
        + " …); install it with `apt-get install -y postgresql` or set PG_BINDIR"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgServer:
    """One local server (see the module docstring). Use :func:`running_server` or ``start()``/``stop()``."""

    root: Path
    port: int
    bindir: Path
    users: dict[str, str] = field(default_factory=dict)  # login user -> password
    setup_seconds: float = 0.0  # initdb + start + CREATE DATABASE

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def pgpass_path(self) -> Path:
        return self.root / "client" / "pgpass"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def _as_server_user(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_OS_USER, "--", *command] if os.geteuid() == 0 else command

    def _run(self, command: list[str], what: str) -> None:
        process = subprocess.run(self._as_server_user(command), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        if process.returncode != 0:
            raise RuntimeError(f"{what} failed (exit {process.returncode}): {(process.stderr or process.stdout).strip()[-2000:]}")

    def initialize(self) -> None:
        """``initdb``, the certificate, the configuration and pg_hba.conf (server not started)."""
        for folder in (self.root, self.socket_dir, self.root / "client"):
            folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            server_user = pwd.getpwnam(SERVER_OS_USER)
            for folder in (self.root, self.socket_dir):
                os.chown(folder, server_user.pw_uid, server_user.pw_gid)
        self._run([str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                   "--no-sync"], "initdb")
        cert, key = self.data_dir / "server.crt", self.data_dir / "server.key"
        self._run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                   "-keyout", str(key), "-out", str(cert)], "openssl (self-signed certificate)")
        self._run(["chmod", "600", str(key), str(cert)], "chmod of the certificate")
        settings = {
            "listen_addresses": "'127.0.0.1'", "port": str(self.port), "unix_socket_directories": f"'{self.socket_dir}'",
            "ssl": "on", "ssl_cert_file": f"'{cert}'", "ssl_key_file": f"'{key}'", "password_encryption": "'scram-sha-256'",
            "log_statement": "'all'", "log_connections": "on", "log_line_prefix": "'%m [%p] user=%u '", "logging_collector": "off",
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "40",
        }
        conf = "\n".join(f"{name} = {value}" for name, value in settings.items())
        hba = "local all postgres trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as handle:  # existing files keep their owner
            handle.write("\n# local copy of WRDS (asset_pricing.bench.pgserver)\n" + conf + "\n")
        (self.data_dir / "pg_hba.conf").write_text(hba, encoding="utf-8")

    def start(self) -> None:
        """Start (or restart after :meth:`stop`) and wait until it accepts connections."""
        if os.geteuid() == 0 and not self.log_path.exists():
            self.log_path.touch()
            server_user = pwd.getpwnam(SERVER_OS_USER)
            os.chown(self.log_path, server_user.pw_uid, server_user.pw_gid)
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", str(START_TIMEOUT_SECONDS),
                   "start"], "pg_ctl start")

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode`` (fast: open sessions are terminated), waiting until it is down."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"], "pg_ctl stop")

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").is_file()

    def superuser_connection(self, dbname: str = DATABASE) -> Any:
        """A psycopg2 connection as the superuser over the Unix socket (autocommit)."""
        import psycopg2

        connection = psycopg2.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname=dbname)
        connection.autocommit = True
        return connection

    def execute(self, sql: str, params: Any = None, dbname: str = DATABASE) -> list[tuple]:
        """Run ``sql`` as the superuser; the rows it returns (empty for statements without rows)."""
        with closing(self.superuser_connection(dbname)) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def create_database(self) -> None:
        self.execute(f"CREATE DATABASE {DATABASE}", dbname="postgres")

    def add_user(self, name: str, password: str) -> None:
        """A login role with ``password``, written to the pgpass file (mode 600) for the client."""
        with closing(self.superuser_connection()) as connection, connection.cursor() as cursor:
            cursor.execute("SET log_statement = 'none'")  # keep the password out of the statement log
            cursor.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s", (password,))
        self.users[name] = password
        escaped = {user: secret.replace("\\", "\\\\").replace(":", "\\:") for user, secret in self.users.items()}
        lines = [f"{self.host}:{self.port}:{DATABASE}:{user}:{secret}" for user, secret in escaped.items()]
        self.pgpass_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.pgpass_path.chmod(0o600)

    def log_lines_since(self, offset: int) -> list[str]:
        """Lines the server logged after byte ``offset`` of :attr:`log_path` (see :meth:`log_size`)."""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace").splitlines()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point a libpq client at this server's pgpass file."""
        return {"PGPASSFILE": str(self.pgpass_path)}

    def remove(self) -> None:
        if self.is_running():
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def create_server(root: Path | None = None) -> PgServer:
    """An initialized, started server with database ``wrds`` (no tables, no login users yet)."""
    bindir = find_bindir()
    folder = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="asset-pricing-wrds-pg-"))
    server = PgServer(folder, free_port(), bindir)
    started = time.perf_counter()
    try:
        server.initialize()
        server.start()
        server.create_database()
    except BaseException:
        server.remove()
        raise
    server.setup_seconds = time.perf_counter() - started
    atexit.register(server.remove)  # a process stopped early (Ctrl-C) does not leave a server running
    return server


@contextmanager
def running_server(root: Path | None = None) -> Iterator[PgServer]:
    """:func:`create_server`, stopped and deleted on exit."""
    server = create_server(root)
    try:
        yield server
    finally:
        server.remove()
