"""Retrieval benchmark on the shared data: quality, ingest cost, search latency, memory.

    python -m eval.bench.retrieval [--shared ../shared] [--only squad|mix|scifact] [--sweep]

Prints, in one run and through the project's own loaders, chunker and index:
- quality of bm25, dense and hybrid, before ("hybrid(default)": fusion alone) and after the rerank
  ("hybrid+rerank", what ``Retriever.search`` does: qa/search/rerank.py), on the SQuAD dev split
  (R@1/5/10, MRR@10), the same paragraphs and questions among all SciFact abstracts ("mix", a
  larger pool) and SciFact train (nDCG@10, R@1/5/10),
- ingest: chunks/s of the whole build and its ratio to a bare ``embed`` of the same chunk
  texts in the same process (chunk vectors alone: what the backend costs without the index),
- hybrid search latency p50/p95 (query encoding included), without and with the rerank, each
  question searched both ways one after the other,
- peak RSS of the process after the build.
Each set is indexed afresh in a temporary folder on every run: the build is one of the figures.
``--sweep`` also prints the fusion grid used to choose the default (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eval.bench.common import SCIFACT, SQUAD1, add_shared_argument, minilm, peak_rss_mib, shared_folder
from eval.metrics import dedupe, hit_at_k, mrr_at_k, ndcg_at_k, percentile, recall_at_k
from eval.questions import GoldQuestion, load_beir_queries, load_squad_questions
from index.build import DEFAULT_INDEX_TEXT, build_index
from index.chunking import ChunkerSettings, chunk_document
from index.embedding import Embedder, QueryVectors
from index.formats.corpora import iter_beir_documents, iter_squad_documents
from index.store import IndexDir, StoredIndex, index_text
from qa.core.types import Document
from qa.search.fusion import FusionSettings, fuse
from qa.search.rerank import rerank
from qa.search.retrieval import Candidates, Retriever

Ranker = Callable[[Candidates, QueryVectors], np.ndarray]


def _doc_ranking(retriever: Retriever, cand: Candidates, score: np.ndarray, k: int) -> list[str]:
    order = np.argsort(-score, kind="stable")
    docs = retriever.index.documents
    chunk_docs = retriever.index.chunks["doc"]
    return dedupe(docs[int(chunk_docs[cand.rows[i]])].doc_id for i in order)[:k]


def _quality(
    retriever: Retriever, questions: list[GoldQuestion], rankers: dict[str, Ranker]
) -> dict[str, dict[str, float]]:
    sums: dict[str, dict[str, float]] = {name: {} for name in rankers}
    for q in questions:
        query = retriever.embedder.embed_query(q.question)
        cand = retriever.candidates(q.question, retriever.fusion.depth, vector=query.vector)
        relevance = dict(q.relevance) or {d: 1 for d in q.doc_ids}
        for name, ranker in rankers.items():
            ranked = _doc_ranking(retriever, cand, ranker(cand, query), 10)
            row = sums[name]
            row["nDCG@10"] = row.get("nDCG@10", 0.0) + ndcg_at_k(ranked, relevance, 10)
            row["MRR@10"] = row.get("MRR@10", 0.0) + mrr_at_k(ranked, q.doc_ids, 10)
            for k in (1, 5, 10):
                row[f"R@{k}"] = row.get(f"R@{k}", 0.0) + recall_at_k(ranked, q.doc_ids, k)
                row[f"Hit@{k}"] = row.get(f"Hit@{k}", 0.0) + hit_at_k(ranked, q.doc_ids, k)
    return {name: {m: v / len(questions) for m, v in row.items()} for name, row in sums.items()}


def _rankers(sweep: bool, default: FusionSettings, stored: StoredIndex) -> dict[str, Ranker]:
    rankers: dict[str, Ranker] = {
        "bm25": lambda c, q: c.bm25,
        "dense": lambda c, q: c.dense,
        "rrf(k=60)": lambda c, q: fuse(c.dense, c.bm25, FusionSettings("rrf", 0.5)),
        "hybrid(default)": lambda c, q: fuse(c.dense, c.bm25, default),
        "hybrid+rerank": lambda c, q: rerank(stored, q, c.rows, c.dense, c.bm25, fuse(c.dense, c.bm25, default)),
    }
    if sweep:
        for method in ("zscore", "minmax", "rrf"):
            for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
                settings = FusionSettings(method, w)
                rankers[f"{method} w={w}"] = lambda c, q, s=settings: fuse(c.dense, c.bm25, s)
    return rankers


def _bench_set(
    name: str,
    documents: list[Document],
    questions: list[GoldQuestion],
    embedder: Embedder,
    chunker: ChunkerSettings,
    fusion: FusionSettings,
    sweep: bool,
    bare: bool,
    latency: bool = True,
) -> dict:
    print(f"\n== {name}: {len(documents)} documents, {len(questions)} questions", flush=True)
    bare_s = None
    if bare:
        # Before the build, so the baseline gets no warm-cache advantage over the pipeline.
        texts = [index_text(d, c.text, DEFAULT_INDEX_TEXT) for d in documents for c in chunk_document(d, chunker)]
        t, cpu = time.perf_counter(), time.process_time()
        embedder.embed(texts)  # the backend's chunk vectors alone: no sentence vectors, no token signs
        bare_s, bare_cpu = time.perf_counter() - t, time.process_time() - cpu
        del texts
    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        report = build_index(iter(documents), Path(tmp), embedder, chunker)
        build_cpu = time.process_time() - cpu
        rss = peak_rss_mib()
        stored = IndexDir(Path(tmp)).load(embedder)
        result: dict = {
            "documents": report.documents,
            "chunks": report.chunks,
            "build_s": report.seconds,
            "build_timings_s": report.timings,
            "chunks_per_s": report.chunks / report.seconds,
            "peak_rss_mib_after_build": rss,
        }
        if bare_s is not None:
            result["bare_encode_s"] = bare_s
            result["build_over_bare"] = report.seconds / bare_s
            # CPU seconds of this process: steadier than wall time when the machine is shared.
            result["bare_encode_cpu_s"] = bare_cpu
            result["build_cpu_s"] = build_cpu
            result["build_over_bare_cpu"] = build_cpu / bare_cpu
        retriever = Retriever(stored, embedder, fusion)
        result["quality"] = _quality(retriever, questions, _rankers(sweep, fusion, stored))
        if latency:
            # Without the rerank: the same index without its token signs (as one built before them).
            plain = Retriever(dataclasses.replace(stored, sentence_tokens=None), embedder, fusion)
            latencies: dict[str, list[float]] = {"hybrid": [], "hybrid+rerank": []}
            for i, q in enumerate(questions):
                pair = [("hybrid", plain), ("hybrid+rerank", retriever)]
                for name, searcher in pair if i % 2 else pair[::-1]:  # alternate which goes first
                    t = time.perf_counter()
                    searcher.search(q.question, k=10, mode="hybrid")
                    latencies[name].append((time.perf_counter() - t) * 1000)
            for name, values in latencies.items():
                result[f"{name}_search_ms_p50"] = percentile(values, 50)
                result[f"{name}_search_ms_p95"] = percentile(values, 95)
    _print_set(result)
    return result


def _print_set(result: dict) -> None:
    print(f"chunks {result['chunks']}  build {result['build_s']:.1f}s  ({result['chunks_per_s']:.1f} chunks/s)")
    print("build timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result["build_timings_s"].items()))
    if "bare_encode_s" in result:
        print(f"bare encode {result['bare_encode_s']:.1f}s  build/bare = {result['build_over_bare']:.3f} (wall)")
        print(
            f"CPU time: bare {result['bare_encode_cpu_s']:.1f}s, build {result['build_cpu_s']:.1f}s,"
            f" build/bare = {result['build_over_bare_cpu']:.3f}"
        )
    print(f"peak RSS after build {result['peak_rss_mib_after_build']:.0f} MiB")
    for name in ("hybrid", "hybrid+rerank"):
        if f"{name}_search_ms_p50" in result:
            print(
                f"{name} search latency p50 {result[f'{name}_search_ms_p50']:.1f} ms"
                f"  p95 {result[f'{name}_search_ms_p95']:.1f} ms"
            )
    metrics = ["Hit@1", "Hit@5", "Hit@10", "R@1", "R@5", "R@10", "MRR@10", "nDCG@10"]
    print(f"{'ranker':<18}" + "".join(f"{m:>9}" for m in metrics))
    for ranker, row in result["quality"].items():
        print(f"{ranker:<18}" + "".join(f"{row[m]:>9.4f}" for m in metrics))


def _subset(documents: list[Document], questions: list[GoldQuestion], distractors: int) -> list[Document]:
    judged = {d for q in questions for d, _ in q.relevance}
    others = [d for d in documents if d.doc_id not in judged][:distractors]
    return [d for d in documents if d.doc_id in judged] + others


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--only", choices=("squad", "mix", "scifact"))
    parser.add_argument("--sweep", action="store_true", help="also print the fusion grid")
    parser.add_argument("--quick", action="store_true", help="quality only: no bare-encode baseline, no latency")
    parser.add_argument("--chunk-tokens", type=int, default=ChunkerSettings().max_tokens)
    parser.add_argument("--overlap-tokens", type=int, default=ChunkerSettings().overlap_tokens)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--scifact-distractors",
        type=int,
        metavar="N",
        help="index only the judged SciFact documents plus the first N others (cheaper setting sweeps)",
    )
    args = parser.parse_args(argv)

    shared = shared_folder(args.shared)
    chunker = ChunkerSettings(args.chunk_tokens, args.overlap_tokens)
    fusion = FusionSettings()
    embedder = minilm()
    print(f"embedder {embedder.fingerprint}; chunker {chunker.to_json()}; fusion {fusion.to_json()}", flush=True)
    sets: list[tuple[str, str, list[Document], list[GoldQuestion]]] = []
    if args.only in (None, "squad"):
        squad = shared / SQUAD1
        sets.append(("squad", "SQuAD v1.1 dev split", list(iter_squad_documents(squad)), load_squad_questions(squad)))
    scifact = shared / SCIFACT
    if args.only in (None, "mix"):
        squad = shared / SQUAD1
        name = "SQuAD v1.1 dev split among all SciFact abstracts"
        documents = list(itertools.chain(iter_squad_documents(squad), iter_beir_documents(scifact / "corpus.jsonl")))
        sets.append(("mix", name, documents, load_squad_questions(squad)))
    if args.only in (None, "scifact"):
        queries = load_beir_queries(scifact, "train")
        documents = list(iter_beir_documents(scifact / "corpus.jsonl"))
        name = "SciFact train"
        if args.scifact_distractors is not None:
            documents, name = _subset(documents, queries, args.scifact_distractors), name + " (subset)"
        sets.append(("scifact", name, documents, queries))
    full = not args.quick
    results = {
        # The mix pool only for quality and latency: its build is SciFact's plus SQuAD's.
        key: _bench_set(name, documents, questions, embedder, chunker, fusion, args.sweep, full and key != "mix", full)
        for key, name, documents, questions in sets
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
