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
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True, slots=True)
class UpdateReport:
    path: Path
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

    def others(self, seen: set[str]) -> Iterator[Document]:
        """The stored documents whose ids are not in ``seen``, in row order."""
        for row in self.stored.hashes.rows_except(seen):
            yield self.stored.documents[int(row)]


def update_index(
    paths: list[Path],
    root: Path,
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
    index_dir = IndexDir(root)
    counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": 0, "kept": 0}
    skipped: list[Skipped] = []
    held_files = frozenset(os.path.realpath(path) for path in hold)
    held_ids: set[str] = set()
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
        seen: set[str] = set()
        with GenerationWriter(index_dir, embedder, settings, mode, next_id, cache, dense or DenseSettings()) as writer:
            # The index's own folder, when it lies under a folder given, is never read as documents.
            for item in iter_sources(paths, held_files, frozenset({os.path.realpath(index_dir.root)})):
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
                        writer.add(item, *previous.chunks(item.doc_id))
                        counts["unchanged"] += 1
                    else:
                        writer.add(item, chunk_spans(item, settings))
                        counts["changed" if known else "added"] += 1
                if on_document is not None:
                    on_document(item, writer.chunks)
            for doc in previous.others(seen) if previous is not None else ():
                held = doc.doc_id in held_ids or (held_files and os.path.realpath(doc.source) in held_files)
                pruned = prune and not held and (not isinstance(collection, str) or doc.collection == collection)
                if pruned or doc.doc_id in remove:
                    counts["removed"] += 1
                else:
                    writer.add(doc, *previous.chunks(doc.doc_id))
                    counts["kept"] += 1
            # Nothing to change: keep the current generation rather than publish an identical copy.
            noop = previous is not None and not (counts["added"] or counts["changed"] or counts["removed"])
            path = previous.stored.path if noop else writer.publish(skipped)
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


def _collection_of(
    doc_id: str, collection: str | Callable[[str], str | None] | None, previous: _Previous | None
) -> str:
    """The collection a document read by an update goes to (see the module docstring)."""
    if isinstance(collection, str):
        return collection
    chosen = collection(doc_id) if collection is not None else None
    if chosen is not None:
        return check_collection(chosen)
    kept = previous.collection(doc_id) if previous is not None else None
    return kept or DEFAULT_COLLECTION
