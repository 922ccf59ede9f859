"""Start ``qa serve`` in a subprocess on a free loopback port, and stop it by its PID.

The server runs with ``tests/netguard`` on its path, so any connection it tries to make off
this machine fails and is written to its stderr, which the tests check.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "test-output"  # screenshots and timings; ignored by git
BLOCKED = "NETWORK ACCESS BLOCKED"


def record_timing(key: str, seconds: float) -> None:
    """Keep a measured duration in ``test-output/timings.json`` (the figures quoted in the docs)."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[key] = round(seconds, 3)
    path.write_text(json.dumps(timings, indent=1, sort_keys=True))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log_dir: Path
    seconds_to_ready: float  # from starting the process to its first HTTP answer
    seconds_to_model: float = 0.0  # ... to saying it is ready to answer (model loaded)

    def stderr(self) -> str:
        return (self.log_dir / "stderr.txt").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def start_server(args: list[str], log_dir: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Server:
    """``qa serve ARGS --port <free>``; returns once the page answers over HTTP, or fails with its stderr."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests" / "netguard")])
    full_env["GRADIO_ANALYTICS_ENABLED"] = "False"
    began = time.perf_counter()
    with open(log_dir / "stdout.txt", "wb") as out, open(log_dir / "stderr.txt", "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=full_env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    server = Server(process, f"http://127.0.0.1:{port}/", log_dir, 0.0)
    deadline = began + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"qa serve exited with {process.returncode}; stderr:\n{server.stderr()[-4000:]}")
        if time.perf_counter() > deadline:
            server.stop()
            tail = server.stderr()[-4000:]
            raise RuntimeError(f"qa serve did not answer on port {port} in {timeout:.0f}s; stderr:\n{tail}")
        if not server.seconds_to_ready and _answers(port):
            server.seconds_to_ready = time.perf_counter() - began
        if server.seconds_to_ready and "qa: serving" in (log_dir / "stdout.txt").read_text(errors="replace"):
            server.seconds_to_model = time.perf_counter() - began
            return server
        time.sleep(0.1)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(12) in (b"HTTP/1.1 200", b"HTTP/1.1 401")  # 401: a login is asked for
    except OSError:
        return False


def collections_index(folder: Path, documents: dict[str, tuple[str, str]]) -> Path:
    """An index in ``folder/idx`` (hashing embedder, no model) holding, for each collection name of
    ``documents``, its one ``(file name, text)`` document in that collection."""
    from qa.cli import main

    root = folder / "idx"
    for name, (file, text) in documents.items():
        docs = folder / name
        docs.mkdir()
        (docs / file).write_text(text, encoding="utf-8")
        command = ["index", "update", str(docs), "--index", str(root), "--embedder", "hashing:64"]
        assert main([*command, "--collection", name]) == 0
    return root
