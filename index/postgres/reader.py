"""Reading a PostgreSQL store: dense search with pgvector, BM25 scored in SQL, and the slice of
the store a question needs, as a ``StoredIndex`` the answerer reads like a file generation.

Each question reads one snapshot (a REPEATABLE READ, READ ONLY transaction), so its search and
the rows its answer reads come from one generation even while a writer commits. BM25 is scored
from the postings table with the same terms, parameters and formula as the file index
(index/sparse.py, bm25s "lucene"), so both stores rank alike; the dense side is exact below the
HNSW threshold (a scan) and pgvector's HNSW above it.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.dense import DenseIndex, DenseSettings
from index.generation import SentenceTokens, StoredIndex
from index.layout import CHUNK_DTYPE, SENTENCE_DTYPE, Manifest, document_from_json
from index.postgres import generation_name, schema
from index.postgres.connection import Connection, DatabaseError, connect, redact
from index.sparse import BM25_B, BM25_K1, SparseIndex, terms
from index.tables import DocumentHashes, document_key
from qa.core.errors import IndexNotFound, StoreUnavailable
from qa.core.types import Document

_POOL = 8  # idle connections kept per store
_PARSED = 128  # documents kept parsed per store (the file index keeps 64 per generation)
_EF_SEARCH = 400  # HNSW candidates visited per search (pgvector default 40; docs/scaling.md has the sweep)


class ParsedDocuments:
    """Documents already parsed, by store row. A row is never rewritten (a changed document gets a
    new one), so an entry stays true for as long as the row exists; parsing a large document's
    JSON (its pages and boxes) costs more than the rest of a search."""

    def __init__(self, size: int = _PARSED) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._rows: OrderedDict[int, Document] = OrderedDict()

    def get(self, row: int) -> Document | None:
        with self._lock:
            found = self._rows.get(row)
            if found is not None:
                self._rows.move_to_end(row)
            return found

    def put(self, row: int, document: Document) -> None:
        with self._lock:
            self._rows[row] = document
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


class PgStore:
    """A store at ``url`` (a ``postgresql://`` URL; ``PG*`` variables fill what it leaves out)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self.parsed = ParsedDocuments()

    def __str__(self) -> str:
        return redact(self.url)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection, returned to the pool unless it broke."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = connect(self.url)
        try:
            yield conn
        except DatabaseError:
            conn.close()
            raise
        else:
            if conn.closed or self._idle.qsize() >= _POOL:
                conn.close()
            else:
                self._idle.put(conn)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """One consistent read of the current generation; IndexNotFound before the first build."""
        with self.connection() as conn:
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                meta = schema.current_meta(conn)
                if meta is None:
                    raise IndexNotFound(
                        f"no index in the store {self} (build one with `qa index build PATH --store …`)"
                    )
                yield Snapshot(conn, meta[0], meta[1], self.parsed)
            except DatabaseError as exc:
                raise StoreUnavailable(f"the store {self} failed: {str(exc).strip().splitlines()[0]}") from None
            finally:
                if not conn.closed:
                    conn.rollback()

    def generation(self) -> int:
        """The current generation's number (one small query)."""
        with self.snapshot() as snap:
            return snap.generation

    def manifest(self) -> Manifest:
        with self.snapshot() as snap:
            return snap.manifest

    def exists(self) -> bool:
        try:
            self.generation()
        except IndexNotFound:
            return False
        return True

    def documents(self) -> list[Document]:
        """Every document of the current generation, in row order (one query)."""
        with self.snapshot() as snap:
            return [_document(bytes(r[0])) for r in snap.conn.execute("SELECT body FROM qa_documents ORDER BY row")]

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


@dataclass
class Snapshot:
    conn: Connection
    generation: int
    manifest: Manifest
    parsed: ParsedDocuments

    def dense(self, vector: np.ndarray, depth: int, collections: frozenset[str] | None) -> list[int]:
        """The ``depth`` chunk ids nearest ``vector`` by inner product (HNSW when the store has it)."""
        where, params = _collection_filter(collections)
        if self.manifest.dense.get("kind") != "exact":
            self.conn.execute(f"SET LOCAL hnsw.ef_search = {max(_EF_SEARCH, depth)}")
            if collections is not None:
                self.conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = self.conn.execute(
            f"SELECT id FROM qa_chunks {where} ORDER BY embedding <#> %s, id LIMIT %s",
            (*params, np.asarray(vector, dtype=np.float32), depth),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def bm25(
        self, query: str, depth: int | None, collections: frozenset[str] | None, only: Sequence[int] | None = None
    ) -> dict[int, float]:
        """BM25 score of the best ``depth`` chunks for ``query`` (or of the chunks ``only``), those
        with a score; term statistics are the whole store's, as in the file index."""
        words = terms([query])[0]
        chunks = int(self.manifest.counts.get("chunks", 0))
        if not words or not chunks or (only is not None and not len(only)):
            return {}
        average = max(self.manifest.counts.get("bm25_terms", 0) / chunks, 1e-9)
        clauses, params = [], []
        join = ""
        if collections is not None:  # the filter alone needs the chunk rows
            join = "JOIN qa_chunks c ON c.id = p.chunk"
            clauses.append("c.collection = ANY(%s)")
            params.append(sorted(collections))
        if only is not None:
            clauses.append("p.chunk = ANY(%s)")
            params.append(list(only))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        limit = "" if depth is None else f"LIMIT {int(depth)}"
        rows = self.conn.execute(
            f"""WITH q(term) AS (SELECT unnest(%s::text[])),
                t AS (SELECT term, ln(1 + (%s - df + 0.5) / (df + 0.5)) AS idf FROM qa_terms WHERE term = ANY(%s))
            SELECT p.chunk, sum(t.idf * p.tf / (p.tf + %s * (1 - %s + %s * p.length / %s))) AS score
            FROM q JOIN t USING (term) JOIN qa_postings p USING (term) {join}
            {where} GROUP BY p.chunk ORDER BY score DESC, p.chunk {limit}""",
            (words, chunks, list(set(words)), BM25_K1, BM25_B, BM25_B, average, *params),
        ).fetchall()
        return {int(chunk): float(score) for chunk, score in rows}

    def slice(self, ids: Sequence[int]) -> StoredIndex:
        """The chunks ``ids`` with their documents, sentences, vectors and token signs."""
        dim = int(self.manifest.embedder["dim"])
        rows = self.conn.execute(  # binary: vectors arrive as bytes, not text to parse
            'SELECT id, doc, start, "end", tokens, embedding FROM qa_chunks WHERE id = ANY(%s) ORDER BY id',
            (list(ids),),
            binary=True,
        ).fetchall()
        doc_rows = sorted({int(r[1]) for r in rows})
        documents = self._documents(doc_rows)
        position = {row: i for i, row in enumerate(doc_rows)}
        chunks = np.zeros(len(rows), dtype=CHUNK_DTYPE)
        for i, (chunk_id, doc, start, end, tokens, _) in enumerate(rows):
            chunks[i] = (chunk_id, position[int(doc)], start, end, tokens)
        vectors = np.array([r[5].to_numpy() for r in rows], dtype=np.float32).reshape(len(rows), dim)
        sentences, sentence_vectors, tokens, starts = self._sentences(chunks["id"], dim)
        names = self.manifest.collections
        codes = np.array([names.index(d.collection) for d in documents], dtype="<u2")
        hashes = DocumentHashes.of({document_key(d.doc_id): (b"", i) for i, d in enumerate(documents)})
        return StoredIndex(
            Path(generation_name(self.generation)),
            self.manifest,
            documents,
            chunks,
            DenseIndex(chunks["id"].copy(), vectors, DenseSettings()),
            SparseIndex(None, chunks["id"].copy()),
            hashes,
            sentences,
            sentence_vectors,
            tokens,
            starts,
            codes,
        )

    def _documents(self, doc_rows: list[int]) -> list[Document]:
        missing = [row for row in doc_rows if self.parsed.get(row) is None]
        if missing:
            for row, body in self.conn.execute("SELECT row, body FROM qa_documents WHERE row = ANY(%s)", (missing,)):
                self.parsed.put(int(row), _document(bytes(body)))
        found = [self.parsed.get(row) for row in doc_rows]
        if any(doc is None for doc in found):  # evicted meanwhile by other questions: read them again
            return [_document(bytes(r[0])) for r in self._bodies(doc_rows)]
        return [doc for doc in found if doc is not None]

    def _bodies(self, doc_rows: list[int]) -> list[tuple]:
        found = dict(self.conn.execute("SELECT row, body FROM qa_documents WHERE row = ANY(%s)", (doc_rows,)))
        return [(found[row],) for row in doc_rows]

    def _sentences(self, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, SentenceTokens, np.ndarray]:
        rows = self.conn.execute(
            'SELECT chunk, start, "end", vector, token_count, token_bits FROM qa_sentences '
            "WHERE chunk = ANY(%s) ORDER BY chunk, n",
            ([int(i) for i in ids],),
            binary=True,
        ).fetchall()
        sentences = np.zeros(len(rows), dtype=SENTENCE_DTYPE)
        for i, r in enumerate(rows):
            sentences[i] = (r[0], r[1], r[2])
        vectors = np.frombuffer(b"".join(bytes(r[3]) for r in rows), dtype="<f2").reshape(len(rows), dim)
        counts = np.array([r[4] for r in rows], dtype=np.int32)
        bits = np.frombuffer(b"".join(bytes(r[5]) for r in rows), dtype=np.uint8).reshape(-1, (dim + 7) // 8)
        per_chunk = np.searchsorted(sentences["chunk"], ids, side="right") - np.searchsorted(
            sentences["chunk"], ids, side="left"
        )
        starts = np.r_[0, np.cumsum(per_chunk)].astype(np.int64)
        return sentences, vectors, SentenceTokens(bits, counts), starts

    def catalog(self, store: PgStore) -> StoredIndex:
        """Every document and chunk row, without vectors or sentences: what the browser chat and
        the API list and count (documents are read from the store only when one is opened)."""
        docs = self.conn.execute("SELECT row, doc_id, state, collection FROM qa_documents ORDER BY row").fetchall()
        position = {int(r[0]): i for i, r in enumerate(docs)}
        rows = self.conn.execute('SELECT id, doc, start, "end", tokens FROM qa_chunks ORDER BY id').fetchall()
        chunks = np.zeros(len(rows), dtype=CHUNK_DTYPE)
        for i, (chunk_id, doc, start, end, tokens) in enumerate(rows):
            chunks[i] = (chunk_id, position[int(doc)], start, end, tokens)
        dim = int(self.manifest.embedder["dim"])
        names = self.manifest.collections
        no_vectors = np.broadcast_to(np.zeros(dim, dtype=np.float32), (len(rows), dim))  # ids alone: no memory
        return StoredIndex(
            Path(generation_name(self.generation)),
            self.manifest,
            StoredDocuments(store, [int(r[0]) for r in docs]),
            chunks,
            DenseIndex(chunks["id"].copy(), no_vectors, DenseSettings()),
            SparseIndex(None, chunks["id"].copy()),
            DocumentHashes.of({document_key(r[1]): (bytes(r[2]), i) for i, r in enumerate(docs)}),
            collection_codes=np.array([names.index(r[3]) for r in docs], dtype="<u2"),
        )


class StoredDocuments(Sequence[Document]):
    """The documents of a catalog, each read from the store when asked for."""

    def __init__(self, store: PgStore, rows: list[int]) -> None:
        self._store = store
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Document]:
        """Every document in one query (a listing reads them all; one query each would crawl)."""
        wanted = set(self._rows)
        with self._store.connection() as conn:
            found = conn.execute("SELECT row, body FROM qa_documents ORDER BY row").fetchall()
            conn.rollback()
        by_row = {int(row): bytes(body) for row, body in found if int(row) in wanted}
        for row in self._rows:
            if row not in by_row:
                raise IndexNotFound(f"document row {row} was removed from the store {self._store}")
            yield _document(by_row[row])

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        with self._store.connection() as conn:
            row = conn.execute("SELECT body FROM qa_documents WHERE row = %s", (self._rows[i],)).fetchone()
            conn.rollback()
        if row is None:
            raise IndexNotFound(f"document row {self._rows[i]} was removed from the store {self._store}")
        return _document(bytes(row[0]))


def _document(body: bytes) -> Document:
    return document_from_json(json.loads(body.decode("utf-8", "surrogatepass")))


def _collection_filter(collections: frozenset[str] | None) -> tuple[str, tuple]:
    if collections is None:
        return "", ()
    return "WHERE collection = ANY(%s)", (sorted(collections),)
