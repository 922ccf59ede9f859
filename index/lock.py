"""One writer at a time: an exclusive ``flock`` on ``<index>/index.lock``.

The kernel drops a flock when its holder dies, even by ``kill -9``, so a crashed build never
blocks the next one and there is no stale-lock guessing. The file also records who holds it
(pid, host, command, start time) so that a refused writer can say whom it is waiting for; the
record of a dead holder stays in the file but means nothing once the flock is free.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.layout import LOCK_FILE
from qa.core.errors import IndexLocked

_HOLDER_WAIT = 1.0  # seconds to wait for a holder that has the flock but has not written its record yet


@contextmanager
def writer_lock(root: Path, operation: str) -> Iterator[None]:
    """Hold the index's writer lock for the block; raise IndexLocked naming the holder if taken."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLocked(
                f"index at {root} is being written by {describe_holder(root)}; wait for it to finish and run again"
            ) from None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": f"{operation} ({' '.join(sys.argv)})",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def describe_holder(root: Path) -> str:
    """``pid N on host H, running C since T`` from the lock file's record."""
    deadline = time.monotonic() + _HOLDER_WAIT
    while True:
        try:
            record = json.loads((Path(root) / LOCK_FILE).read_text(encoding="utf-8"))
            pid, host, command, started = record["pid"], record["host"], record["command"], record["started"]
            return f"pid {pid} on host {host}, running {command} since {started}"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() > deadline:
                return "another process (it has not recorded itself yet)"
            time.sleep(0.05)
