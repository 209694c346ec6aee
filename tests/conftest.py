"""Shared test setup: hermetic settings (defaults, temp folders) and no network."""

from __future__ import annotations

import ipaddress
import socket

import pytest

import settings


@pytest.fixture(autouse=True)
def hermetic_settings(tmp_path, monkeypatch):
    """Every setting at its default through the environment (a user's .env cannot leak into tests),
    with DATA_DIR and OUTPUT_DIR in a temporary folder."""
    for setting in settings.SETTINGS:
        monkeypatch.setenv(setting.name, setting.default)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "output"))
    yield


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that opens a connection outside this machine (loopback stays open for Jupyter kernels)."""
    real_connect = socket.socket.connect

    def guarded_connect(sock, address, *args, **kwargs):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None:
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = host == "localhost"
            if not local:
                raise RuntimeError(f"test tried to reach the network: {address}")
        return real_connect(sock, address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield


@pytest.fixture(scope="session")
def wrds_server():
    """A local PostgreSQL copy of WRDS's OptionMetrics tables, one per session (tests/wrds_server.py).

    Skips, with the reason, where no PostgreSQL server is installed (CI installs it: .ci/run).
    """
    from asset_pricing.bench.pgserver import PgServerUnavailable
    from wrds_server import start_wrds_copy

    try:
        copy = start_wrds_copy()
    except PgServerUnavailable as exc:
        pytest.skip(f"no local PostgreSQL for the WRDS server tests: {exc}")
    yield copy
    copy.server.remove()
