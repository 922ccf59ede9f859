"""The on-disk index: generations published atomically, and a manifest checked on load.

The layout of an index directory (its files, their formats, the manifest) is index/layout.py.
A generation is written in a private ``.tmp`` folder, then published by renaming it and swapping CURRENT.
Writers (build, update) hold ``index.lock``; readers never lock: they follow CURRENT and map every
file of a generation while loading it, reading pages only as questions need them. Nothing is
opened after the load, and a mapping keeps an unlinked file readable, so a writer pruning the
generation later cannot pull files from under a reader (tests/index/test_mmap.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

from index.chunking import ChunkerSettings
from index.embedding import Embedder
from index.generation import SentenceTokens, StoredIndex, read_generation
from index.layout import (
    CURRENT_FILE,
    DOCUMENT_HASHES_FILE,
    DOCUMENTS_FILE,
    GENERATIONS_DIR,
    MANIFEST_FILE,
    TMP_SUFFIX,
    Manifest,
    generation_sequence,
    new_generation_name,
    read_manifest,
)
from index.tables import DocumentHashes, DocumentTable
from qa.core.errors import IndexMismatch, IndexNotFound
from qa.core.types import Document

__all__ = ["KILL_ENV", "IndexDir", "SentenceTokens", "StoredIndex", "crash_point", "index_text"]

_KEEP_GENERATIONS = 2
_LOAD_ATTEMPTS = 5
KILL_ENV = "QA_KILL_AT"


def crash_point(name: str) -> None:
    """Die by SIGKILL here when ``$QA_KILL_AT`` names this point: lets the crash tests stop a real
    writer at an exact step instead of hoping a random delay lands there."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def index_text(doc: Document, chunk_text: str, mode: str) -> str:
    """What gets embedded and BM25-indexed for a chunk (the citation is always the bare chunk)."""
    if mode == "title+chunk" and doc.title and not chunk_text.startswith(doc.title):
        return f"{doc.title}\n{chunk_text}"
    return chunk_text


class IndexDir:
    """An index directory and its generations."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def generations(self) -> Path:
        return self.root / GENERATIONS_DIR

    def current(self) -> Path:
        pointer = self.root / CURRENT_FILE
        if not pointer.is_file():
            raise IndexNotFound(f"no index at {self.root} (build one with `qa index build PATH --index {self.root}`)")
        generation = self.generations / pointer.read_text().strip()
        if not (generation / MANIFEST_FILE).is_file():
            raise IndexNotFound(f"index at {self.root} points to a missing generation {generation.name!r}")
        return generation

    def exists(self) -> bool:
        try:
            self.current()
        except IndexNotFound:
            return False
        return True

    def manifest(self) -> Manifest:
        return read_manifest(self.current())

    def load(self, embedder: Embedder | None = None, chunker: ChunkerSettings | None = None) -> StoredIndex:
        """The current generation, every file of it mapped (so a later prune of its folder is harmless)."""
        for _ in range(_LOAD_ATTEMPTS):
            generation = self.current()
            try:
                return self._load(generation, embedder, chunker)
            except (OSError, RuntimeError, IndexMismatch):
                # A writer may publish twice while we map and prune this generation under us (a
                # file gone half way may look like a mismatch); CURRENT then names a newer,
                # complete one, so read that instead.
                if generation.is_dir():
                    raise
        raise IndexNotFound(f"index at {self.root} changed {_LOAD_ATTEMPTS} times while loading; try again")

    def _load(self, generation: Path, embedder: Embedder | None, chunker: ChunkerSettings | None) -> StoredIndex:
        manifest = read_manifest(generation)
        manifest.check(embedder, chunker)
        return read_generation(generation, manifest)

    def hashes(self) -> DocumentHashes:
        """The current generation's document hashes alone (the demo's is-it-up-to-date check)."""
        generation = self.current()
        if read_manifest(generation).format_version == 1:
            return DocumentHashes.of_documents(DocumentTable.scan(generation / DOCUMENTS_FILE))
        return DocumentHashes.load(generation / DOCUMENT_HASHES_FILE)

    def new_generation(self) -> Path:
        """A private folder to write a generation into; publish() makes it visible. Writers only
        (under the index lock), so the sequence number is unique."""
        self.generations.mkdir(parents=True, exist_ok=True)
        sequence = max((generation_sequence(p.name) for p in self.generations.iterdir()), default=0) + 1
        path = self.generations / new_generation_name(sequence)
        path.mkdir()
        return path

    def publish(self, tmp_generation: Path) -> Path:
        """Make a fully written generation current: fsync, rename, swap the pointer by rename."""
        for file in _walk_files(tmp_generation):
            _fsync_file(file)
        crash_point("written")
        final = tmp_generation.with_name(tmp_generation.name.removesuffix(TMP_SUFFIX))
        os.rename(tmp_generation, final)
        _fsync_dir(self.generations)
        crash_point("renamed")
        pointer_tmp = self.root / f"{CURRENT_FILE}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
        pointer_tmp.write_text(final.name + "\n")
        _fsync_file(pointer_tmp)
        crash_point("pointer-written")
        os.replace(pointer_tmp, self.root / CURRENT_FILE)
        _fsync_dir(self.root)
        crash_point("published")
        self.tidy()
        return final

    def tidy(self) -> None:
        """Remove what a dead writer left and generations no longer needed. Writers only.

        Removed: unfinished ``*.tmp`` generations, pointer temp files, finished generations newer
        than the current one (written but never published), and all but the current generation
        and the one before it (a reader that started loading it just before a swap can finish).
        """
        for pointer_tmp in self.root.glob(f"{CURRENT_FILE}.*{TMP_SUFFIX}"):
            pointer_tmp.unlink(missing_ok=True)
        if not self.generations.is_dir():
            return
        try:
            current = self.current().name
        except IndexNotFound:
            current = None
        finished = sorted(
            (p for p in self.generations.iterdir() if p.is_dir() and not p.name.endswith(TMP_SUFFIX)),
            key=lambda p: (generation_sequence(p.name), p.name),
        )
        keep: set[str] = set()
        if current is not None:
            older = [p.name for p in finished if generation_sequence(p.name) < generation_sequence(current)]
            keep = {current, *older[-(_KEEP_GENERATIONS - 1) :]}
        for path in self.generations.iterdir():
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _walk_files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.is_file():
            yield path


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
