"""Incremental update: sync an index with files and folders, embedding only chunks never seen.

Policy, by document id (the path relative to the folder given, or the corpus id):

- new id: chunked and added;
- same id, same text, title and pages: unchanged; its chunks keep their ids and vectors;
- same id, anything of that changed: re-chunked; chunks whose index text was embedded before
  (an edit leaves most of a document alone) take the cached vector, the rest are embedded;
- id in the index but not found under the given paths (deleted, moved, or just not named this
  time, or now unreadable): kept as it was, unless ``prune=True``, which makes the index mirror
  exactly the given paths and removes it;
- a file in ``hold`` (one still being written, index/watch.py) is not read: its documents are
  kept as they were even with ``prune``, and a new one waits for a later update;
- an id in ``remove`` that is not found under the given paths is removed even without ``prune``
  (a document deleted on purpose, ui/uploads.py).

Collections: with ``collection`` a name, every document read goes to that collection, and
``prune`` removes only documents of that collection; with a function (of the document id), the
collection it names, or for None as with ``collection`` None: a document already indexed keeps
its collection, a new one goes to ``default``. A document moved to another collection counts
as changed (its chunks' vectors are reused).

Every update writes a whole new generation: kept chunks are copied with their ids and vectors,
removed ones are simply not copied (so their vectors are really gone, not masked), and the
rows come in the order the files are read, so the result is laid out exactly as a full build of
the same files would be and searches give the same hits, scores and order.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.build import DEFAULT_INDEX_TEXT, chunk_spans
from index.cache import EmbeddingCache
from index.chunking import ChunkerSettings
from index.dense import DenseSettings
from index.embedding import Embedder
from index.loaders import Held, Skipped, iter_sources
from index.lock import writer_lock
from index.store import IndexDir, StoredIndex
from index.tables import document_state
from index.writer import GenerationWriter, Span
from qa.core.types import DEFAULT_COLLECTION, Document, check_collection

if TYPE_CHECKING:
    from index.postgres.reader import PgStore
    from index.postgres.writer import PgWriter


@dataclass(frozen=True, slots=True)
class UpdateReport:
    path: Path | str  # an index directory's generation, or a store's URL with any password hidden
    added: int
    changed: int
    removed: int
    unchanged: int
    kept: int  # in the index, not under the given paths, kept because prune was off
    chunks_embedded: int
    chunks_reused: int
    skipped: tuple[Skipped, ...]
    seconds: float
    created: bool  # there was no index: this update built it
    published: bool  # False when nothing changed and the current generation was left as it was

    def to_json(self) -> dict:
        return {
            "index": str(self.path),
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "kept": self.kept,
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "created": self.created,
            "published": self.published,
        }


class _Previous:
    """The current generation, its documents looked up by id in its hashes table (index/tables.py):
    only the documents kept as they were are read back."""

    def __init__(self, stored: StoredIndex) -> None:
        self.stored = stored
        doc_of_chunk = np.asarray(stored.chunks["doc"])
        self._order = np.argsort(doc_of_chunk, kind="stable")  # chunk rows grouped by document, in order
        self._bounds = np.searchsorted(doc_of_chunk[self._order], np.arange(len(stored.documents) + 1))

    def known(self, doc_id: str) -> bool:
        return doc_id in self.stored.hashes

    def unchanged(self, doc: Document) -> bool:
        """Whether the index holds ``doc`` with the same text, title and pages."""
        return self.stored.hashes.state(doc.doc_id) == document_state(doc)

    def chunks(self, doc_id: str) -> tuple[list[Span], list[int]]:
        row = self.stored.hashes.row(doc_id)
        assert row is not None  # asked only for known documents
        table = self.stored.chunks[self._order[self._bounds[row] : self._bounds[row + 1]]]
        spans = [(int(c["start"]), int(c["end"]), int(c["tokens"])) for c in table]
        return spans, [int(i) for i in table["id"]]

    def collection(self, doc_id: str) -> str | None:
        row = self.stored.hashes.row(doc_id)
        return None if row is None else self.stored.collection_of(row)

    def others(self, seen: set[str]) -> Iterator[Kept]:
        """The stored documents whose ids are not in ``seen``, in row order."""
        for row in self.stored.hashes.rows_except(seen):
            doc = self.stored.documents[int(row)]
            yield Kept(doc.doc_id, doc.source, doc.collection, doc)

    def keep(self, writer: GenerationWriter, doc: Document) -> None:
        """Copy ``doc`` into the new generation as it is, chunk ids and vectors included."""
        writer.add(doc, *self.chunks(doc.doc_id))


@dataclass(frozen=True)
class Kept:
    """A stored document not read this time (``doc`` loaded only where the writer copies it)."""

    doc_id: str
    source: str
    collection: str
    doc: Document | None = None


class _StorePrevious:
    """The documents a PostgreSQL store holds, as its writer read them (index/postgres/writer.py):
    a kept document stays in the store untouched, so nothing of it is read."""

    def __init__(self, writer: PgWriter) -> None:
        self.writer = writer
        self.present = writer.present

    def known(self, doc_id: str) -> bool:
        return doc_id in self.present

    def unchanged(self, doc: Document) -> bool:
        stored = self.present.get(doc.doc_id)
        return stored is not None and stored.state == document_state(doc)

    def collection(self, doc_id: str) -> str | None:
        stored = self.present.get(doc_id)
        return None if stored is None else stored.collection

    def others(self, seen: set[str]) -> Iterator[Kept]:
        for doc_id, stored in self.present.items():
            if doc_id not in seen:
                yield Kept(doc_id, stored.source, stored.collection)

    def keep(self, writer: PgWriter, doc: Document | Kept) -> None:
        writer.keep(doc.doc_id)


def update_index(
    paths: list[Path],
    root: Path | PgStore,
    embedder: Embedder,
    chunker: ChunkerSettings | None = None,
    *,
    prune: bool = False,
    on_document: Callable[[Document | Skipped, int], None] | None = None,
    dense: DenseSettings | None = None,
    hold: Collection[str | Path] = (),
    remove: Collection[str] = (),
    collection: str | Callable[[str], str | None] | None = None,
) -> UpdateReport:
    """Sync the index at ``root`` with ``paths`` (see the module docstring for the policy).

    ``chunker`` and ``dense`` None mean the index's own settings (or the defaults when there is
    no index yet). ``hold``: files not to read this time; ``remove``: ids to drop (see the module docstring).
    Raises IndexMismatch (naming both values and ``--rebuild``) when the index was made with
    another embedder, chunker or format, and IndexLocked when another process is writing it.
    """
    if isinstance(collection, str):
        check_collection(collection)
    began = time.perf_counter()
    counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": 0, "kept": 0}
    skipped: list[Skipped] = []
    held_files = frozenset(os.path.realpath(path) for path in hold)
    held_ids: set[str] = set()
    with _update_target(root, embedder, chunker, dense) as (previous, writer, current):
        seen: set[str] = set()
        # The index's own folder, when it lies under a folder given, is never read as documents.
        own = frozenset({os.path.realpath(root)}) if isinstance(root, Path) else frozenset()
        for item in iter_sources(paths, held_files, own):
            if isinstance(item, Held):
                held_ids.add(item.doc_id)
                continue
            if isinstance(item, Skipped):
                skipped.append(item)
            else:
                seen.add(item.doc_id)
                chosen = _collection_of(item.doc_id, collection, previous)
                if item.collection != chosen:
                    item = dataclasses.replace(item, collection=chosen)
                known = previous is not None and previous.known(item.doc_id)
                if known and previous.unchanged(item):
                    previous.keep(writer, item)
                    counts["unchanged"] += 1
                else:
                    writer.add(item, chunk_spans(item, writer.chunker))
                    counts["changed" if known else "added"] += 1
            if on_document is not None:
                on_document(item, writer.chunks)
        for kept in previous.others(seen) if previous is not None else ():
            held = kept.doc_id in held_ids or (held_files and os.path.realpath(kept.source) in held_files)
            pruned = prune and not held and (not isinstance(collection, str) or kept.collection == collection)
            if pruned or kept.doc_id in remove:
                counts["removed"] += 1
            else:
                previous.keep(writer, kept.doc if kept.doc is not None else kept)
                counts["kept"] += 1
        # Nothing to change: keep the current generation rather than publish an identical copy.
        noop = previous is not None and not (counts["added"] or counts["changed"] or counts["removed"])
        path = current if noop else writer.publish(skipped)
        embedded, reused = writer.embedded, writer.reused
    return UpdateReport(
        path=path,
        **counts,
        chunks_embedded=embedded,
        chunks_reused=0 if noop else reused,
        skipped=tuple(skipped),
        seconds=time.perf_counter() - began,
        created=previous is None,
        published=not noop,
    )


@contextmanager
def _update_target(
    root: Path | PgStore, embedder: Embedder, chunker: ChunkerSettings | None, dense: DenseSettings | None
) -> Iterator[tuple[_Previous | _StorePrevious | None, GenerationWriter | PgWriter, Path | str]]:
    """What an update reads and writes: the current state (None without one), the writer of the
    next one, and where the current one is (the update's report names it when nothing changed)."""
    if not isinstance(root, Path):
        from index.postgres.writer import PgWriter

        settings, mode = chunker or ChunkerSettings(), DEFAULT_INDEX_TEXT
        if root.exists():
            manifest = root.manifest()
            manifest.check(embedder, chunker)
            settings, mode = ChunkerSettings(**manifest.chunker), manifest.index_text
            dense = dense or DenseSettings.from_json(manifest.dense)
        with PgWriter(root.url, embedder, settings, mode, dense or DenseSettings()) as store_writer:
            found = _StorePrevious(store_writer) if store_writer.present or root.exists() else None
            yield found, store_writer, str(root)
        return
    index_dir = IndexDir(root)
    with writer_lock(index_dir.root, "update"):
        index_dir.tidy()
        previous = _Previous(index_dir.load(embedder, chunker)) if index_dir.exists() else None
        if previous is not None:
            manifest = previous.stored.manifest
            settings = ChunkerSettings(**manifest.chunker)
            mode, next_id, cache = manifest.index_text, manifest.next_chunk_id, EmbeddingCache.of(previous.stored)
            dense = dense or DenseSettings.from_json(manifest.dense)
        else:
            settings, mode, next_id, cache = chunker or ChunkerSettings(), DEFAULT_INDEX_TEXT, 0, None
        with GenerationWriter(index_dir, embedder, settings, mode, next_id, cache, dense or DenseSettings()) as writer:
            yield previous, writer, previous.stored.path if previous is not None else index_dir.root


def _collection_of(
    doc_id: str, collection: str | Callable[[str], str | None] | None, previous: _Previous | _StorePrevious | None
) -> str:
    """The collection a document read by an update goes to (see the module docstring)."""
    if isinstance(collection, str):
        return collection
    chosen = collection(doc_id) if collection is not None else None
    if chosen is not None:
        return check_collection(chosen)
    kept = previous.collection(doc_id) if previous is not None else None
    return kept or DEFAULT_COLLECTION
