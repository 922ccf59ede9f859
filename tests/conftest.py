"""Shared fixtures. Every test runs with outbound sockets refused: the product must work offline."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from index.embedding import HashingEmbedder

# Small cuts of the development data, committed with the tests (tests/data/README.md says how they were made).
DATA = Path(__file__).resolve().parent / "data"


class NetworkAccess(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Fail any connection that leaves this machine (loopback stays allowed for test servers)."""
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost") or host.startswith("/")):
            return real_connect(sock, address)
        raise NetworkAccess(f"test tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=64)


@pytest.fixture(scope="session")
def data() -> Path:
    """tests/data: seeds/, squad/ (SQuAD cuts and leaderboard predictions) and scifact/ (a BEIR cut)."""
    return DATA


@pytest.fixture(scope="session")
def minilm():
    """The real embedder, loaded once per session (slow tests only)."""
    from index.embedding import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.warm_up()
    return embedder
