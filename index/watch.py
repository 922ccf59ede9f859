"""Watched folders: keep an index in step with folders as their files are added, changed and deleted.

Built on ``update_index``, so nothing is ever embedded twice (content hashes decide what is new):

- **Catch-up.** Once the watcher is listening, one update brings the index up to date with
  whatever changed while nothing was watching; after a restart it embeds only those changes.
- **Rounds.** A file event marks its path pending. A pending path is ready once no event came for
  it for ``debounce_s`` (a burst of writes makes one round) and its size and mtime have not moved
  for ``settle_s`` (a file still being written). Each round is one ``update_index`` over all the
  watched paths; pending files that are not ready yet are held (not read; their indexed version,
  if any, stays) and go in a later round once they are.
- **What counts.** Events for files the loaders read (index/loaders.py: supported suffixes, no
  hidden part) under the watched paths, and for folders (a folder moved in or away has no event of
  its own files). The index directory is ignored when it lies under a watched folder, so writing
  the index never triggers a round.
- **Bad files.** A file that cannot be read is reported as skipped by the update, as always, and
  read again at its next change; the index keeps serving the previous generation meanwhile.
- **Deletions.** ``prune=True`` (the default here) removes the documents of deleted files.
- **Lock.** When another writer holds the index, the round is retried every ``LOCK_RETRY_S``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

from index.embedding import Embedder
from index.loaders import SUPPORTED_SUFFIXES
from index.update import UpdateReport, update_index
from qa.core.errors import IndexLocked, UnreadableFile

DEBOUNCE_S = 1.0  # quiet time after a file's last event before it is indexed
SETTLE_S = 2.0  # time a file's size and mtime must stay the same before it is read
LOCK_RETRY_S = 2.0  # wait between tries while another writer holds the index

_Stat = tuple[int, int] | None  # (size, mtime_ns), None when the path is gone

if TYPE_CHECKING:
    from index.postgres.reader import PgStore


@dataclass
class _Pending:
    stat: _Stat
    event_at: float  # monotonic time of its last event
    stable_since: float  # monotonic time its stat was last seen to change


def _stat(path: str) -> _Stat:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _Relevance:
    """Whether an event's path can change what the loaders read from the watched paths."""

    def __init__(self, paths: Sequence[Path], root: Path | PgStore) -> None:
        self.folders = [os.path.realpath(p) for p in paths if os.path.isdir(p)]
        self.files = {os.path.realpath(p) for p in paths if not os.path.isdir(p)}
        self.index = os.path.realpath(root) if isinstance(root, Path) else None  # a store has no folder

    def __call__(self, path: str) -> bool:
        path = os.path.realpath(path) if os.path.lexists(path) else os.path.abspath(path)
        if self.index is not None and _within(path, self.index):
            return False  # our own writes
        if path in self.files:
            return True
        folder = next((f for f in self.folders if _within(path, f)), None)
        if folder is None or path == folder:
            return False
        if any(part.startswith(".") for part in Path(os.path.relpath(path, folder)).parts):
            return False  # the loaders skip hidden files and folders
        if Path(path).suffix.lower() in SUPPORTED_SUFFIXES:
            return True
        # A folder (moved in, away, or deleted): its files may have no events of their own.
        return os.path.isdir(path) or not os.path.lexists(path)


def watch_targets(paths: Sequence[Path]) -> list[str]:
    """What the file-system watcher listens to: each folder, and the folder of each file named
    (editors replace a file by renaming a new one over it, which a watch on the file itself loses)."""
    targets: list[str] = []
    for path in paths:
        if not os.path.exists(path):
            raise UnreadableFile(f"cannot watch {path}: no such file or directory")
        real = os.path.realpath(path)
        target = real if os.path.isdir(real) else os.path.dirname(real)
        if target not in targets:
            targets.append(target)
    return targets


def watch(
    paths: Sequence[Path],
    root: Path | PgStore,
    embedder: Embedder,
    *,
    prune: bool = True,
    collection: str | None = None,
    debounce_s: float = DEBOUNCE_S,
    settle_s: float = SETTLE_S,
    stop: threading.Event | None = None,
    on_update: Callable[[UpdateReport], None] | None = None,
    on_locked: Callable[[str], None] | None = None,
    force_polling: bool | None = None,
) -> None:
    """Keep the index at ``root`` in step with ``paths`` until ``stop`` is set (or Ctrl+C, which
    raises KeyboardInterrupt; an update cut short publishes nothing). See the module docstring.

    ``on_update`` gets the report of every update, the catch-up included (``published`` is False
    when nothing changed); ``on_locked`` the message of each refused try while another writer
    holds the index. Raises UnreadableFile for a path that does not exist, IndexMismatch as
    ``update_index`` does.
    """
    paths = [Path(p) for p in paths]
    relevant = _Relevance(paths, root)
    targets = watch_targets(paths)
    pending: dict[str, _Pending] = {}
    caught_up = False
    retry_at = 0.0
    tick_ms = max(20, int(min(debounce_s, settle_s, LOCK_RETRY_S) * 250))
    events = watchfiles.watch(
        *targets,
        watch_filter=None,
        debounce=max(tick_ms, 1000),
        step=min(50, tick_ms),
        rust_timeout=tick_ms,
        yield_on_timeout=True,  # the first yield means the watcher is listening: then catch up
        stop_event=stop,
        force_polling=force_polling,
    )
    for changes in events:
        now = time.monotonic()
        for _change, path in changes:
            if relevant(path):
                stat = _stat(path)
                previous = pending.get(path)
                moved = previous is None or previous.stat != stat
                pending[path] = _Pending(stat, now, now if moved else previous.stable_since)
        for path, state in pending.items():
            stat = _stat(path)
            if stat != state.stat:
                state.stat, state.stable_since = stat, now
        if now < retry_at or (stop is not None and stop.is_set()):
            continue
        ready = [
            path
            for path, state in pending.items()
            if now - state.event_at >= debounce_s and now - state.stable_since >= settle_s
        ]
        if caught_up and not ready:
            continue
        hold = [path for path in pending if path not in ready and pending[path].stat is not None]
        try:
            report = update_index(paths, root, embedder, prune=prune, hold=hold, collection=collection)
        except IndexLocked as locked:
            if on_locked is not None:
                on_locked(str(locked))
            retry_at = time.monotonic() + LOCK_RETRY_S
            continue
        caught_up = True
        for path in ready:
            del pending[path]  # a change made during the update has queued a new event
        if on_update is not None:
            on_update(report)
