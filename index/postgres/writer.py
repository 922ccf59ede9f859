"""Writing a generation into a PostgreSQL store: the same ``add``/``publish`` contract as the
file writer (index/writer.py), done as one transaction.

A generation is the set of documents added to the writer. A document added with the state it
already has in the store is kept as it is (nothing rewritten); a changed one gets new rows (its
chunks' vectors reused by text where the store has them); documents not added are deleted at
publish. Everything happens in one transaction that also bumps ``qa_meta.generation``: readers
see the old state or the new one, never a mix, and a writer killed half way leaves nothing (the
server rolls the transaction back when its connection drops). A transaction-level advisory lock
keeps writers one at a time.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from index.batching import EmbedBatches, Pending, Span, check_vectors, chunk_inputs
from index.cache import ChunkVectors, text_key
from index.chunking import ChunkerSettings
from index.dense import DenseSettings
from index.embedding import Embedder, embedder_json
from index.layout import FORMAT_VERSION, Manifest, document_to_json
from index.loaders import Skipped
from index.postgres import schema
from index.postgres.connection import connect, redact, take_writer_lock, use_vectors
from index.sparse import terms
from index.store import crash_point
from index.tables import document_state
from qa.core.errors import IndexMismatch
from qa.core.types import DEFAULT_COLLECTION, Document

WRITER_LOCK = 0x7161_7374_6F72  # "qastor": the advisory lock key of a store's writers
PG_HNSW_M, PG_HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults


@dataclass(frozen=True)
class StoredDocument:
    row: int
    state: bytes
    collection: str
    source: str


class _StoredVectors:
    """The embedding cache of a store writer: the vectors the store holds for a document's chunk
    texts, fetched in one query per document before its chunks are queued."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.found: dict[bytes, ChunkVectors] = {}

    def get(self, fingerprint: str, text: str) -> ChunkVectors | None:
        return self.found.get(text_key(text)) if fingerprint == self.fingerprint else None


class PgWriter:
    """A generation being written into the store at ``url``: ``add`` documents, then ``publish``.

    ``reset``: the store may hold an index made with other settings, which is then replaced
    (a build); without it such a store raises IndexMismatch (an update).
    """

    def __init__(
        self,
        url: str,
        embedder: Embedder,
        chunker: ChunkerSettings,
        index_text_mode: str,
        dense: DenseSettings = DenseSettings(),
        reset: bool = False,
    ) -> None:
        self.url = url
        self.embedder = embedder
        self.chunker = chunker
        self.index_text_mode = index_text_mode
        self.dense = dense
        self.conn = connect(url, vectors=False)
        try:
            self._open(reset)
        except BaseException:
            self.conn.close()
            raise
        self._stored_vectors = _StoredVectors(embedder.fingerprint)
        self._batches = EmbedBatches(embedder, self._stored_vectors)
        self._seen: set[str] = set()
        self._replaced: list[int] = []  # rows of documents whose old chunks go at publish
        self._chunk_meta: dict[
            int, tuple[int, int, int, int, str]
        ] = {}  # chunk id -> row, start, end, tokens, collection
        self.documents = 0
        self.chunks = 0
        self._df: Counter[str] = Counter()  # change of each term's document frequency
        self._kept_chunks = 0  # chunks of documents left as stored: reused, as the file writer counts them
        self.timings = {"embed": 0.0, "write": 0.0}

    def _open(self, reset: bool) -> None:
        take_writer_lock(self.conn, WRITER_LOCK, self.url)
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        use_vectors(self.conn)  # the extension exists only now
        meta = schema.read_meta(self.conn)
        if meta is not None and not self._same_settings(meta[1]):
            if not reset:
                raise IndexMismatch(
                    f"the store {redact(self.url)} was built with {meta[1].embedder.get('name')!r}, "
                    f"{meta[1].chunker}, {meta[1].index_text!r}; rebuild it with `qa index build`"
                )
            schema.drop(self.conn)
            meta = None
        if meta is None:
            if not schema.exists(self.conn):
                schema.create(self.conn, self.embedder.dim)
            self.generation, self.next_chunk_id, self.next_doc = 0, 0, 0
        else:
            self.generation, self.next_chunk_id, self.next_doc = meta[0], meta[1].next_chunk_id, meta[2]
        rows = self.conn.execute("SELECT doc_id, row, state, collection, source FROM qa_documents").fetchall()
        self.present = {r[0]: StoredDocument(int(r[1]), bytes(r[2]), r[3], r[4]) for r in rows}

    def _same_settings(self, manifest: Manifest) -> bool:
        return (
            manifest.embedder.get("fingerprint") == self.embedder.fingerprint
            and manifest.chunker == self.chunker.to_json()
            and manifest.index_text == self.index_text_mode
        )

    def __enter__(self) -> PgWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self.conn.closed:
            self.conn.rollback()  # not published: nothing of it may be seen
            self.conn.close()

    @property
    def embedded(self) -> int:
        return self._batches.embedded

    @property
    def reused(self) -> int:
        return self._batches.reused + self._kept_chunks

    def keep(self, doc_id: str) -> None:
        """Keep document ``doc_id`` as the store has it."""
        if doc_id not in self.present:
            raise IndexMismatch(f"document {doc_id!r} is not in the store {redact(self.url)}")
        self._seen.add(doc_id)

    def add(
        self,
        doc: Document,
        spans: Sequence[Span],
        ids: Sequence[int] | None = None,
        vectors: Sequence[ChunkVectors] | None = None,
    ) -> None:
        """Make ``doc`` part of this generation with these chunks (kept as stored when unchanged);
        ``ids`` is accepted for the file writer's contract and ignored: a changed document's
        chunks get fresh ids. ``vectors``, one per chunk, were made elsewhere (a Ray worker)."""
        check_vectors(doc, spans, vectors)
        if doc.doc_id in self._seen:
            raise IndexMismatch(f"document {doc.doc_id!r} added twice to one generation")
        self._seen.add(doc.doc_id)
        old = self.present.get(doc.doc_id)
        state = document_state(doc)
        if old is not None and old.state == state:
            return
        t = time.perf_counter()
        if old is not None:
            self.conn.execute("DELETE FROM qa_documents WHERE row = %s", (old.row,))
            self._replaced.append(old.row)
        row, self.next_doc = self.next_doc, self.next_doc + 1
        body = document_to_json(doc)
        line = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        self.conn.execute(
            "INSERT INTO qa_documents (row, doc_id, state, collection, source, body) VALUES (%s, %s, %s, %s, %s, %s)",
            (row, doc.doc_id, state, doc.collection, doc.source, line),
        )
        inputs = chunk_inputs(doc, spans, self.index_text_mode)
        if vectors is None and self.present:  # a store that held nothing has no vectors to lend
            self._fetch_stored([c.text for c in inputs])
        self.timings["write"] += time.perf_counter() - t
        for i, ((start, end, tokens), chunk) in enumerate(zip(spans, inputs, strict=True)):
            chunk_id, self.next_chunk_id = self.next_chunk_id, self.next_chunk_id + 1
            self._chunk_meta[chunk_id] = (row, start, end, tokens, doc.collection)
            if self._batches.add(chunk_id, row, chunk, None if vectors is None else vectors[i]):
                self._flush()

    def _fetch_stored(self, texts: list[str]) -> None:
        """Load the stored vectors of any of ``texts`` embedded before (one query)."""
        self._stored_vectors.found.clear()
        keys = list({text_key(t) for t in texts})
        rows = self.conn.execute(
            """SELECT DISTINCT ON (c.text_key) c.text_key, c.embedding, c.id FROM qa_chunks c
               WHERE c.text_key = ANY(%s) ORDER BY c.text_key, c.id""",
            (keys,),
        ).fetchall()
        if not rows:
            return
        ids = [int(r[2]) for r in rows]
        sentences: dict[int, list] = {}
        for chunk, vector, count, bits in self.conn.execute(
            "SELECT chunk, vector, token_count, token_bits FROM qa_sentences WHERE chunk = ANY(%s) ORDER BY chunk, n",
            (ids,),
        ):
            sentences.setdefault(int(chunk), []).append((vector, count, bits))
        width = (self.embedder.dim + 7) // 8
        for key, vector, chunk in rows:
            parts = sentences.get(int(chunk), [])
            self._stored_vectors.found[bytes(key)] = ChunkVectors(
                np.asarray(vector.to_numpy(), dtype=np.float32),
                np.frombuffer(b"".join(bytes(p[0]) for p in parts), dtype="<f2").reshape(len(parts), self.embedder.dim),
                np.frombuffer(b"".join(bytes(p[2]) for p in parts), dtype=np.uint8).reshape(-1, width),
                np.array([p[1] for p in parts], dtype=np.int32),
            )

    def _flush(self) -> None:
        made = self._batches.take()
        if not made:
            return
        t = time.perf_counter()
        with self.conn.cursor() as cur:
            with cur.copy(
                'COPY qa_chunks (id, doc, start, "end", tokens, length, collection, text_key, embedding) FROM STDIN'
            ) as copy:
                bags = terms([pending.chunk.text for pending, _ in made])
                for (pending, vectors), bag in zip(made, bags, strict=True):
                    row, start, end, tokens, collection = self._chunk_meta.pop(pending.chunk_id)
                    vector = np.asarray(vectors.vector, dtype=np.float32)
                    if vector.shape != (self.embedder.dim,):
                        raise IndexMismatch(f"a vector of shape {vector.shape} from a {self.embedder.dim}-d embedder")
                    copy.write_row(
                        (
                            pending.chunk_id,
                            row,
                            start,
                            end,
                            tokens,
                            len(bag),
                            collection,
                            text_key(pending.chunk.text),
                            vector,
                        )
                    )
            with cur.copy(
                'COPY qa_sentences (chunk, n, start, "end", vector, token_count, token_bits) FROM STDIN'
            ) as copy:
                for pending, vectors in made:
                    self._copy_sentences(copy, pending, vectors)
            with cur.copy("COPY qa_postings (term, chunk, tf, length) FROM STDIN") as copy:
                for (pending, _), bag in zip(made, bags, strict=True):
                    for term, tf in Counter(bag).items():
                        copy.write_row((term, pending.chunk_id, tf, len(bag)))
                        self._df[term] += 1
        self.timings["write"] += time.perf_counter() - t

    def _copy_sentences(self, copy, pending: Pending, vectors: ChunkVectors) -> None:
        bits = np.ascontiguousarray(vectors.token_bits, dtype=np.uint8)
        first = 0
        for n, (a, b) in enumerate(pending.chunk.spans):
            count = int(vectors.token_counts[n])
            copy.write_row(
                (
                    pending.chunk_id,
                    n,
                    pending.chunk.offset + a,
                    pending.chunk.offset + b,
                    np.asarray(vectors.sentences[n], dtype="<f2").tobytes(),
                    count,
                    bits[first : first + count].tobytes(),
                )
            )
            first += count

    def publish(self, skipped: Sequence[Skipped]) -> str:
        """Delete what this generation no longer holds, record the manifest, commit. Returns the
        store's URL with any password hidden."""
        self._flush()
        t = time.perf_counter()
        gone = [d.row for doc_id, d in self.present.items() if doc_id not in self._seen]
        stale = gone + self._replaced
        if stale:
            self.conn.execute("DELETE FROM qa_documents WHERE row = ANY(%s)", (gone,))
            chunks = "SELECT id FROM qa_chunks WHERE doc = ANY(%s)"
            removed = self.conn.execute(
                f"SELECT term, count(*) FROM qa_postings WHERE chunk IN ({chunks}) GROUP BY term", (stale,)
            )
            for term, n in removed:
                self._df[term] -= int(n)
            self.conn.execute(f"DELETE FROM qa_postings WHERE chunk IN ({chunks})", (stale,))
            self.conn.execute(f"DELETE FROM qa_sentences WHERE chunk IN ({chunks})", (stale,))
            self.conn.execute("DELETE FROM qa_chunks WHERE doc = ANY(%s)", (stale,))
        self._write_df()
        counts = self._counts(len(skipped))
        self.documents, self.chunks = counts["documents"], counts["chunks"]
        self._kept_chunks = counts["chunks"] - self._batches.embedded - self._batches.reused
        approximate = counts["chunks"] >= self.dense.threshold
        if approximate and not schema.has_hnsw(self.conn):
            schema.create_hnsw(self.conn, PG_HNSW_M, PG_HNSW_EF_CONSTRUCTION)
        collections = [r[0] for r in self.conn.execute("SELECT DISTINCT collection FROM qa_documents ORDER BY 1")]
        dense = {"kind": "pgvector-hnsw" if schema.has_hnsw(self.conn) else "exact", **self.dense.to_json()}
        if dense["kind"] != "exact":
            dense.update(m=PG_HNSW_M, pg_ef_construction=PG_HNSW_EF_CONSTRUCTION)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            embedder=embedder_json(self.embedder),
            chunker=self.chunker.to_json(),
            index_text=self.index_text_mode,
            counts=counts,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            next_chunk_id=self.next_chunk_id,
            dense=dense,
            skipped=tuple({"path": s.path, "reason": s.reason} for s in skipped),
            collections=tuple(collections) or (DEFAULT_COLLECTION,),
        )
        schema.write_meta(self.conn, self.generation + 1, manifest, self.next_doc)
        crash_point("pg-commit")
        self.conn.commit()
        self.conn.close()
        self.timings["write"] += time.perf_counter() - t
        self.timings["embed"] = self._batches.seconds
        return redact(self.url)

    def _write_df(self) -> None:
        """Apply this generation's document-frequency changes to qa_terms."""
        changed = [(term, n) for term, n in self._df.items() if n]
        if not changed:
            return
        self.conn.execute(
            """INSERT INTO qa_terms (term, df) SELECT * FROM unnest(%s::text[], %s::bigint[])
               ON CONFLICT (term) DO UPDATE SET df = qa_terms.df + EXCLUDED.df""",
            ([t for t, _ in changed], [n for _, n in changed]),
        )
        self.conn.execute("DELETE FROM qa_terms WHERE term = ANY(%s) AND df <= 0", ([t for t, _ in changed],))

    def _counts(self, skipped: int) -> dict[str, int]:
        documents = self.conn.execute("SELECT count(*) FROM qa_documents").fetchone()
        chunks = self.conn.execute("SELECT count(*), coalesce(sum(length), 0) FROM qa_chunks").fetchone()
        sentences = self.conn.execute("SELECT count(*), coalesce(sum(token_count), 0) FROM qa_sentences").fetchone()
        assert documents and chunks and sentences
        return {
            "documents": int(documents[0]),
            "chunks": int(chunks[0]),
            "sentences": int(sentences[0]),
            "sentence_tokens": int(sentences[1]),
            "bm25_terms": int(chunks[1]),  # BM25's average chunk length is this over the chunks
            "skipped": skipped,
        }
