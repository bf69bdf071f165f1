"""Shared fixtures: Agg backend, no network, a CliRunner."""

from __future__ import annotations

import os
import socket

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


class _NoNetwork(socket.socket):
    def connect(self, address):  # pragma: no cover - only hit by a bug
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return super().connect(address)
        if not isinstance(address, tuple):  # unix sockets (kernels, browsers)
            return super().connect(address)
        raise RuntimeError(f"geocity tests must not use the network (tried {address!r})")


@pytest.fixture(autouse=True, scope="session")
def _block_network():
    orig = socket.socket
    socket.socket = _NoNetwork
    yield
    socket.socket = orig


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()
