"""One open index with its embedder, retriever and answerer, reloaded when a new generation is published.

Readers (the CLI, ``qa serve``) hold an Engine. Each call checks the index's CURRENT pointer, a
single small file read, so a build or update published by another process is picked up on the
next question without a restart; the embedding model is loaded once and kept. A loaded
generation has every one of its files mapped (index/generation.py), so a writer pruning its
folder later does not disturb questions already being answered from it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from index.embedding import Embedder, recorded_embedder
from index.postgres import generation_name
from index.store import IndexDir, StoredIndex
from qa.answer.extractive import AnswerSettings, ExtractiveAnswerer
from qa.answer.short.finder import ShortAnswerFinder
from qa.core.answers import Answer
from qa.core.errors import QAError
from qa.core.types import Document
from qa.llm.answerer import LLMAnswerer
from qa.llm.backend import LLMBackend
from qa.llm.grounding import GroundingSettings
from qa.search.retrieval import Retriever

if TYPE_CHECKING:
    from index.postgres.reader import PgStore


class Engine:
    def __init__(
        self,
        root: Path | PgStore,
        embedder: Embedder | None = None,
        settings: AnswerSettings = AnswerSettings(),
        llm: LLMBackend | None = None,
        grounding: GroundingSettings = GroundingSettings(),
    ) -> None:
        self.location = root  # an index directory, or a PostgreSQL store (index/postgres)
        self.store = None if isinstance(root, Path) else root
        self.index_dir = IndexDir(root) if isinstance(root, Path) else None
        self._catalog: StoredIndex | None = None
        self._embedder = embedder
        self.settings = settings
        self.llm = llm  # the language model of LLM answers (None: extractive answers only)
        self.grounding = grounding
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._retriever: Retriever | None = None
        self.short_answers = ShortAnswerFinder()
        # spaCy and the span ranker load on a thread (~2 s) while the index and the embedding
        # model load, so the first question does not wait for them; the pipeline's own lock
        # makes a question asked meanwhile wait for the same load instead of starting another.
        threading.Thread(target=self.short_answers.warm_up, name="short-answer-warm-up", daemon=True).start()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            # The backend that made the index's vectors embeds its queries (indexes from before
            # backends were all made by torch).
            manifest = self.store.manifest() if self.store is not None else self._index_dir.manifest()
            self._embedder = recorded_embedder(manifest.embedder)
        return self._embedder

    @property
    def where(self) -> str:
        """The index's location as shown to people (a store's password hidden)."""
        return str(self.store) if self.store is not None else str(self._index_dir.root)

    @property
    def _index_dir(self) -> IndexDir:
        assert self.index_dir is not None  # only on the file path
        return self.index_dir

    def retriever(self) -> Retriever:
        """The retriever over the current generation, loading it if it changed since the last call.

        Over a store, a new retriever each call: it reads one snapshot per search (a question's own).
        """
        if self.store is not None:
            from qa.search.pg_retrieval import PgRetriever

            return PgRetriever(self.store, self.embedder)
        generation = self._index_dir.current().name
        with self._lock:
            if self._retriever is None or generation != self._generation:
                stored = self._index_dir.load(self.embedder)
                self._retriever = Retriever(stored, self.embedder)
                # load() may have moved on to a newer generation than the one read above
                self._generation = stored.path.name
            return self._retriever

    @property
    def index(self) -> StoredIndex:
        """The current generation; over a store, its catalog (documents and chunk rows, no
        vectors), read again when another process publishes a new generation."""
        if self.store is None:
            return self.retriever().index
        with self.store.snapshot() as snap, self._lock:
            if self._catalog is None or self._catalog.path.name != generation_name(snap.generation):
                self._catalog = snap.catalog(self.store)
            return self._catalog

    def answerer(
        self, settings: AnswerSettings | None = None, collections: frozenset[str] | None = None
    ) -> ExtractiveAnswerer:
        """An extractive answerer over the current generation, reading only documents of
        ``collections`` (None: all of them)."""
        retriever = self.retriever().within(collections)
        return ExtractiveAnswerer(retriever, self.embedder, settings or self.settings, self.short_answers)

    def llm_answerer(
        self, settings: AnswerSettings | None = None, collections: frozenset[str] | None = None
    ) -> LLMAnswerer:
        """An LLM answerer over the current generation; QAError when no language model was configured."""
        if self.llm is None:
            raise QAError("no language model configured (start with --llm)")
        return LLMAnswerer(self.answerer(settings, collections), self.llm, self.grounding)

    def ask(
        self, question: str, settings: AnswerSettings | None = None, collections: frozenset[str] | None = None
    ) -> Answer:
        return self.answerer(settings, collections).answer(question)

    def document_by_key(self, key: str) -> Document | None:
        """The current document whose ``document_key`` is ``key`` (page URLs name documents so), or None."""
        stored = self.index
        row = stored.hashes.row_of_key(key.encode("ascii", "replace"))
        return None if row is None else stored.documents[row]

    def visible(self, doc_id: str, collections: frozenset[str] | None) -> bool:
        """Whether document ``doc_id`` is in the index and in one of ``collections`` (None: any)."""
        stored = self.index
        row = stored.hashes.row(doc_id)
        return row is not None and (collections is None or stored.collection_of(row) in collections)
