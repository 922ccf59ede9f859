"""Watched folders (index/watch.py, `qa index watch`): file events reach the index through
``update_index``, debounced, restart-safe, never reading a half-written file.

Every wait is a bounded poll for a state of the index; no test asserts how long anything took.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index.embedding import HashingEmbedder
from index.store import IndexDir
from index.update import UpdateReport, update_index
from index.watch import watch
from qa.search.retrieval import Retriever

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0  # generous bound on every poll: the machine may be busy


class CountingEmbedder(HashingEmbedder):
    """The fake embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        with self._lock:
            self.texts.extend(texts)
        return super().embed(texts, progress)


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Watcher:
    """``watch`` on a thread, its reports collected; ``stop`` ends it and re-raises its error."""

    def __init__(
        self, paths: list[Path], root: Path, embedder: HashingEmbedder, catch_up: bool = True, **options
    ) -> None:
        self.reports: list[UpdateReport] = []
        self.seen: list[UpdateReport] = []  # reports as they came, never cleared
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._on_update = options.pop("on_update", None)
        options = {"debounce_s": 0.1, "settle_s": 0.3, **options}

        def run() -> None:
            try:
                watch(paths, root, embedder, stop=self._stop, on_update=self._record, **options)
            except BaseException as error:
                self.error = error

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if catch_up:
            wait_for(lambda: self.seen or self.error, "the catch-up update")
            assert self.error is None, self.error

    def _record(self, report: UpdateReport) -> None:
        if self._on_update is not None:
            self._on_update(report)
        self.reports.append(report)
        self.seen.append(report)

    def published(self) -> list[UpdateReport]:
        return [r for r in self.reports if r.published]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive()
        if self.error is not None:
            raise self.error


def texts(root: Path, embedder: HashingEmbedder) -> dict[str, str]:
    """doc id -> text of the current generation."""
    if not IndexDir(root).exists():
        return {}
    return {d.doc_id: d.text for d in IndexDir(root).load(embedder).documents}


def test_added_changed_and_deleted_files_reach_the_index(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs, root = tmp_path / "docs", tmp_path / "idx"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    (docs / "sub" / "b.md").write_text("Volcanoes erupt with lava and ash.")
    watcher = Watcher([docs], root, fake_embedder)
    try:
        assert watcher.seen[0].created and watcher.seen[0].added == 2
        (docs / "c.txt").write_text("Rivers build a delta.")
        wait_for(lambda: "c.txt" in texts(root, fake_embedder), "the new file")
        (docs / "a.txt").write_text("Glaciers carve valleys.")
        wait_for(lambda: texts(root, fake_embedder).get("a.txt") == "Glaciers carve valleys.", "the edit")
        (docs / "sub" / "b.md").unlink()
        wait_for(lambda: "sub/b.md" not in texts(root, fake_embedder), "the deletion")
        (docs / "notes.log").write_text("not a format the loaders read")  # no round for this
        (docs / ".hidden.txt").write_text("hidden files are never read")
    finally:
        watcher.stop()
    assert sorted(texts(root, fake_embedder)) == ["a.txt", "c.txt"]
    assert [(r.added, r.changed, r.removed) for r in watcher.published()[1:]] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]


def test_keep_deleted_keeps_documents_of_deleted_files(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    (docs / "b.txt").write_text("Cats purr when content.")
    watcher = Watcher([docs], root, fake_embedder, prune=False)
    try:
        (docs / "b.txt").unlink()
        (docs / "c.txt").write_text("Dogs bark at strangers.")
        wait_for(lambda: "c.txt" in texts(root, fake_embedder), "the new file")
    finally:
        watcher.stop()
    assert sorted(texts(root, fake_embedder)) == ["a.txt", "b.txt", "c.txt"]


def test_a_burst_of_writes_is_one_update_embedded_once(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "other.txt").write_text("Cats purr when content.")
    watcher = Watcher([docs], root, embedder, debounce_s=0.3, settle_s=1.5)
    try:
        embedder.texts.clear()
        watcher.reports.clear()
        final = "Tides follow the moon over the ocean. " * 3
        for i in range(6):  # an editor saving repeatedly, a download growing
            with open(docs / "burst.txt", "w") as handle:
                handle.write(f"Draft{i} of the tides note. " if i < 5 else final)
        wait_for(lambda: texts(root, embedder).get("burst.txt") == final, "the final version")
    finally:
        watcher.stop()
    assert [(r.added, r.changed, r.unchanged) for r in watcher.published()] == [(1, 0, 1)]
    assert embedder.texts and not [t for t in embedder.texts if "Draft" in t]
    assert len(embedder.texts) == len(set(embedder.texts))  # nothing embedded twice


def test_a_restart_catches_up_without_reembedding(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    for name, body in {"a.txt": "Glaciers melt.", "b.txt": "Cats purr.", "c.txt": "Deserts have dunes."}.items():
        (docs / name).write_text(body)
    Watcher([docs], root, embedder).stop()
    (docs / "a.txt").write_text("Glaciers carve valleys slowly.")  # while nothing watches
    (docs / "b.txt").unlink()
    (docs / "d.txt").write_text("Rivers build a delta.")
    embedder.texts.clear()
    watcher = Watcher([docs], root, embedder)
    watcher.stop()
    first = watcher.seen[0]
    assert (first.added, first.changed, first.removed, first.unchanged) == (1, 1, 1, 1)
    assert embedder.texts and not [t for t in embedder.texts if "Deserts" in t]  # c.txt: reused
    assert sorted(texts(root, embedder)) == ["a.txt", "c.txt", "d.txt"]
    embedder.texts.clear()
    again = Watcher([docs], root, embedder)
    again.stop()
    assert (again.seen[0].published, embedder.texts) == (False, [])  # nothing changed: nothing embedded


def test_a_half_written_file_is_never_indexed_half(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    full = "Volcanoes erupt with lava and ash. " * 20
    versions: list[str | None] = []
    watcher = Watcher(
        [docs],
        root,
        fake_embedder,
        debounce_s=0.05,
        settle_s=2.0,
        on_update=lambda report: versions.append(texts(root, fake_embedder).get("big.txt")),
    )
    try:
        with open(docs / "big.txt", "w") as handle:
            handle.write(full[: len(full) // 2])
            handle.flush()
            time.sleep(0.3)  # less than settle_s: the writer is still busy
            (docs / "a.txt").write_text("Glaciers carve valleys.")  # meanwhile another file changes
            time.sleep(0.3)
            handle.write(full[len(full) // 2 :])
        wait_for(lambda: texts(root, fake_embedder).get("big.txt") == full, "the whole file")
    finally:
        watcher.stop()
    assert set(versions) <= {None, full}  # absent, then whole: never half
    assert texts(root, fake_embedder)["a.txt"] == "Glaciers carve valleys."


def test_update_holds_files_still_being_written(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    update_index([docs], root, fake_embedder)
    (docs / "a.txt").write_text("Glaciers ca")  # half of an edit
    (docs / "new.txt").write_text("Rivers bu")  # half of a new file
    (docs / "b.txt").write_text("Cats purr when content.")
    report = update_index([docs], root, fake_embedder, prune=True, hold=[docs / "a.txt", docs / "new.txt"])
    assert (report.added, report.changed, report.removed, report.kept) == (1, 0, 0, 1)
    assert texts(root, fake_embedder) == {"a.txt": "Glaciers melt in the spring.", "b.txt": "Cats purr when content."}


def test_a_locked_index_is_waited_for(
    tmp_path: Path, fake_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.watch
    from index.lock import writer_lock

    monkeypatch.setattr(index.watch, "LOCK_RETRY_S", 0.1)
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    refusals: list[str] = []
    with writer_lock(root, "build"):  # another writer
        watcher = Watcher([docs], root, fake_embedder, catch_up=False, on_locked=refusals.append)
        wait_for(lambda: len(refusals) >= 2 or watcher.error, "two refused tries")
        assert not watcher.seen and watcher.error is None
    wait_for(lambda: watcher.seen or watcher.error, "the catch-up once the lock is free")
    watcher.stop()
    assert "being written by" in refusals[0] and "a.txt" in texts(root, fake_embedder)


def _docx(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_an_unreadable_file_is_skipped_then_indexed_once_fixed(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    watcher = Watcher([docs], root, fake_embedder)
    try:
        whole = _docx("The quarterly report found that tides follow the moon.")
        (docs / "report.docx").write_bytes(whole[: len(whole) // 2])  # truncated: not a valid docx
        wait_for(lambda: any(r.skipped for r in watcher.seen), "the skip")
        skipped = next(r for r in watcher.seen if r.skipped).skipped
        assert [s.path.endswith("report.docx") and bool(s.reason) for s in skipped] == [True]
        assert "report.docx" not in texts(root, fake_embedder)  # the previous generation still serves
        (docs / "report.docx").write_bytes(whole)
        wait_for(lambda: "report.docx" in texts(root, fake_embedder), "the fixed file")
    finally:
        watcher.stop()
    assert "tides follow the moon" in texts(root, fake_embedder)["report.docx"]


def test_an_index_inside_a_watched_folder_causes_no_loop(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    root = docs / "index"  # not hidden: only the index rule keeps it out
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    watcher = Watcher([docs], root, fake_embedder)
    try:
        (docs / "b.txt").write_text("Cats purr when content.")
        wait_for(lambda: len(watcher.published()) == 2, "the update of the new file")
        assert "b.txt" in texts(root, fake_embedder)
        time.sleep(1.5)  # several debounce + settle periods: a loop would have published again
        assert len(watcher.published()) == 2
    finally:
        watcher.stop()
    assert sorted(texts(root, fake_embedder)) == ["a.txt", "b.txt"]  # the index's files are not documents


def test_cli_watch_indexes_a_new_file_and_stops_on_sigint(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs, root = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "a.txt").write_text("Glaciers melt in the spring.")
    command = [sys.executable, "-m", "qa.cli", "index", "watch", str(docs), "--index", str(root)]
    command += ["--embedder", "hashing:64", "--debounce", "0.1", "--settle", "0.3"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in process.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: IndexDir(root).exists() or process.poll() is not None, "the catch-up")
        assert process.poll() is None
        (docs / "b.txt").write_text("Volcanoes erupt with lava and ash.")

        def searchable() -> bool:
            if not IndexDir(root).exists():
                return False
            hits = Retriever(IndexDir(root).load(fake_embedder), fake_embedder).search("volcanoes lava", k=1)
            return bool(hits) and hits[0].doc_id == "b.txt"

        added = "added 1, changed 0, removed 0, unchanged 1"
        wait_for(lambda: any(added in line for line in lines) or process.poll() is not None, "the update's line")
        assert process.poll() is None and searchable()
        process.send_signal(signal.SIGINT)
        process.wait(WAIT_S)
        reader.join(WAIT_S)
        err = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert lines[0].startswith("watching ") and "Ctrl+C" in lines[0]
    assert lines[-1] == "stopped"


@pytest.mark.parametrize("flag", ["--debounce", "--settle"])
def test_cli_watch_refuses_a_negative_time(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["index", "watch", ".", flag, "-1"])
    assert exit_info.value.code == 2
