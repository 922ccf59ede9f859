"""More retrieval levers for issue 20, each on top of the product's search (research, not product code).

    python -m eval.bench.rerank_levers [--shared ../shared] [--cache DIR] [--only scifact,squad]

Uses the indexes and query vectors of ``eval.bench.rerank`` (same ``--cache``, built there when
missing) and the same halves. For every question it takes the product's candidates (dense and
BM25 top 100, fused, the top 20 reranked by token match: qa/search/rerank.py) and tries:

- **dense pseudo-relevance feedback** (Rocchio on vectors): the question's vector plus ``b`` times
  the mean vector of its first ``k`` chunks (by dense score, or by the product's ranking), searched
  again and ranked by the product;
- **the document title's own vector** (titles embedded once, cached): its cosine with the question,
  z-normalised over the candidates, added at weight ``w``;
- **document-level signals**: the cosine with the document's mean chunk vector and a BM25 over
  whole documents (title and text), added the same way, before the rerank or after it;
- **a learned fusion** (``--learned``): a logistic regression over the z-scored signals of the
  product's top 30, fitted on one half and scored on the other (cross-fitted), an upper bound of
  what a linear fusion of all of them can do.

Prints each variant's objective (SciFact nDCG@10, SQuAD R@1) on the tune and check halves and on
all questions. Results: docs/benchmarks.md, "Reranking", "Kept and dropped".
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.bench.common import CACHE, add_shared_argument, minilm, shared_folder
from eval.bench.rerank import QueryFeatures, candidates_with, corpus, metrics, query_vectors
from eval.metrics import dedupe
from index.embedding import Embedder, QueryVectors
from index.sparse import SparseIndex
from index.store import StoredIndex
from qa.search import rerank
from qa.search.fusion import FusionSettings, fuse, zscore
from qa.search.retrieval import Candidates

OBJECTIVE = {"scifact": "nDCG@10", "squad": "R@1", "mix": "R@1"}
LEARNED_TOP = 30  # the product's candidates a learned fusion reorders


@dataclass
class Corpus:
    name: str
    index: StoredIndex
    questions: list
    halves: list[str]
    vectors: list[QueryVectors]
    doc_of: np.ndarray  # document row of each chunk row
    doc_vectors: np.ndarray  # each document's normalised mean chunk vector
    doc_bm25: SparseIndex  # BM25 over whole documents (title and text), one row per document
    titles: np.ndarray  # each document title's vector (the first 200 characters without a title)


def load(name: str, shared: Path, cache: Path, embedder: Embedder) -> Corpus:
    index, questions, halves = corpus(name, shared, cache, embedder)
    vectors = query_vectors(name, questions, cache, embedder)
    doc_of = index.chunks["doc"].astype(np.int64)
    chunk_vectors = index.dense.vectors(index.chunks["id"]).astype(np.float64)
    doc_vectors = np.zeros((len(index.documents), chunk_vectors.shape[1]))
    np.add.at(doc_vectors, doc_of, chunk_vectors)
    doc_vectors /= np.linalg.norm(doc_vectors, axis=1, keepdims=True) + 1e-12
    texts = [f"{d.title}\n{d.text}" if d.title else d.text for d in index.documents]
    doc_bm25 = SparseIndex.build(np.arange(len(texts), dtype=np.int64), texts)
    path = cache / f"titles-{name}.npy"
    if not path.is_file():
        np.save(path, np.asarray(embedder.embed([d.title or d.text[:200] for d in index.documents])))
    return Corpus(name, index, questions, halves, vectors, doc_of, doc_vectors, doc_bm25, np.load(path))


def candidates(index: StoredIndex, vector: np.ndarray, bm25_all: np.ndarray) -> Candidates:
    """Retriever.candidates (top 100 of each retriever) for a given query vector and BM25 scores."""
    return candidates_with(index, np.asarray(vector, dtype=np.float32), bm25_all)


def product(index: StoredIndex, query: QueryVectors, c: Candidates, extra: np.ndarray | None = None) -> np.ndarray:
    """The product's scores of the candidates; ``extra`` is added to the hybrid score before the rerank."""
    hybrid = fuse(c.dense, c.bm25, FusionSettings())
    if extra is not None:
        hybrid = hybrid + extra
    return rerank.rerank(index, query, c.rows, c.dense, c.bm25, hybrid)


def documents(corpus: Corpus, c: Candidates, scores: np.ndarray) -> list[int]:
    return dedupe(int(d) for d in corpus.doc_of[c.rows[np.argsort(-scores, kind="stable")]])


Rankings = dict[str, list[list[int]]]  # variant -> each question's document rows, best first


def variants(corpus: Corpus) -> Rankings:
    out: Rankings = {}

    def add(label: str, ranked: list[int]) -> None:
        out.setdefault(label, []).append(ranked)

    index = corpus.index
    for question, query in zip(corpus.questions, corpus.vectors, strict=True):
        bm25_all = index.sparse.scores(question.question)
        c = candidates(index, query.vector, bm25_all)
        base = product(index, query, c)
        add("product", documents(corpus, c, base))
        vectors = index.dense.vectors(index.chunks["id"][c.rows]).astype(np.float64)
        for source, by in (("dense", c.dense), ("product", base)):
            order = np.argsort(-by, kind="stable")
            for k in (3, 5, 10):
                for b in (0.25, 0.5, 1.0):
                    moved = query.vector + b * vectors[order[:k]].mean(axis=0)
                    c2 = candidates(index, moved / np.linalg.norm(moved), bm25_all)
                    add(f"dense PRF by {source}, k={k} b={b}", documents(corpus, c2, product(index, query, c2)))
        docs = corpus.doc_of[c.rows]
        title = zscore(corpus.titles[docs] @ query.vector)
        doc_dense = zscore(corpus.doc_vectors[docs] @ query.vector)
        doc_bm25 = zscore(corpus.doc_bm25.scores(question.question)[docs].astype(np.float64))
        for w in (0.25, 0.5, 1.0):
            half = w / 2  # the fusion's weight of each retriever is 0.5
            add(f"title vector {w:g}, before rerank", documents(corpus, c, product(index, query, c, half * title)))
            add(f"title vector {w:g}, after rerank", documents(corpus, c, base + half * title))
            both = doc_dense + doc_bm25
            add(f"document dense {w:g}, after rerank", documents(corpus, c, base + half * doc_dense))
            add(f"document BM25 {w:g}, before rerank", documents(corpus, c, product(index, query, c, half * doc_bm25)))
            add(f"document both {w:g}, before rerank", documents(corpus, c, product(index, query, c, half * both)))
            add(f"document both {w:g}, after rerank", documents(corpus, c, base + half * both))
    return out


def scored(corpus: Corpus, rankings: list[list[int]], metric: str) -> dict[str, float]:
    doc_ids = tuple(d.doc_id for d in corpus.index.documents)
    values: dict[str, list[float]] = {"tune": [], "check": []}
    for question, half, ranked in zip(corpus.questions, corpus.halves, rankings, strict=True):
        relevance = dict(question.relevance) or {d: 1 for d in question.doc_ids}
        row = QueryFeatures(question.qid, half, relevance, *([None] * 9))
        values[half].append(metrics(row, ranked, doc_ids)[metric])
    return {
        "tune": float(np.mean(values["tune"])),
        "check": float(np.mean(values["check"])),
        "all": float(np.mean(values["tune"] + values["check"])),
    }


# --- learned fusion (an upper bound) ------------------------------------------------------------

SIGNALS = ("dense", "bm25", "chunk match", "sentence match", "title", "document dense", "document BM25", "PRF")


def signal_rows(corpus: Corpus) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question: (the product's top LEARNED_TOP candidates' z-scored signals, their document rows)."""
    index, out = corpus.index, []
    for question, query in zip(corpus.questions, corpus.vectors, strict=True):
        bm25_all = index.sparse.scores(question.question)
        c = candidates(index, query.vector, bm25_all)
        top = np.argsort(-product(index, query, c), kind="stable")[:LEARNED_TOP]
        rows, docs = c.rows[top], corpus.doc_of[c.rows[top]]
        chunk, sentence = rerank.token_matches(index, query, rows)
        vectors = index.dense.vectors(index.chunks["id"][c.rows]).astype(np.float64)
        moved = query.vector + 0.5 * vectors[np.argsort(-c.dense, kind="stable")[:3]].mean(axis=0)
        columns = [
            c.dense[top],
            c.bm25[top],
            chunk,
            sentence,
            corpus.titles[docs] @ query.vector,
            corpus.doc_vectors[docs] @ query.vector,
            corpus.doc_bm25.scores(question.question)[docs],
            vectors[top] @ (moved / np.linalg.norm(moved)),
        ]
        out.append((np.stack([zscore(np.asarray(x, dtype=np.float64)) for x in columns], axis=1), docs))
    return out


SignalRows = dict[str, list[tuple[np.ndarray, np.ndarray]]]  # corpus -> signal_rows


def learned(corpora: list[Corpus], rows: SignalRows, columns: list[int], fitted_on: list[str]) -> dict[str, Rankings]:
    """Each corpus's rankings by a logistic regression over ``columns`` fitted on the other half
    of the corpora named ``fitted_on`` (cross-fitted: no question is ranked by weights it trained)."""
    from sklearn.linear_model import LogisticRegression  # research only: the product never fits

    weights = {}
    for half in ("tune", "check"):
        x, y = [], []
        for c in corpora:
            if c.name not in fitted_on:
                continue
            doc_ids = tuple(d.doc_id for d in c.index.documents)
            for question, h, (signals, docs) in zip(c.questions, c.halves, rows[c.name], strict=True):
                relevant = dict(question.relevance) or {d: 1 for d in question.doc_ids}
                labels = np.array([relevant.get(doc_ids[d], 0) > 0 for d in docs], dtype=int)
                if h == half and labels.any():
                    x.append(signals[:, columns])
                    y.append(labels)
        model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(np.concatenate(x), np.concatenate(y))
        weights[half] = model.coef_[0]
    out: dict[str, Rankings] = {}
    for c in corpora:
        ranked = []
        for h, (signals, docs) in zip(c.halves, rows[c.name], strict=True):
            score = signals[:, columns] @ weights["check" if h == "tune" else "tune"]
            ranked.append(dedupe(int(d) for d in docs[np.argsort(-score, kind="stable")]))
        out[c.name] = {"learned": ranked}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--cache", type=Path, default=CACHE / "rerank", help="eval.bench.rerank's cache")
    parser.add_argument("--only", default="scifact,squad", help="comma-separated corpora (scifact, squad, mix)")
    parser.add_argument("--learned", action="store_true", help="also the cross-fitted learned fusion")
    args = parser.parse_args(argv)
    shared = shared_folder(args.shared)
    args.cache.mkdir(parents=True, exist_ok=True)
    embedder = minilm()
    corpora = [load(name, shared, args.cache, embedder) for name in args.only.split(",")]
    for c in corpora:
        began = time.perf_counter()
        rankings = variants(c)
        print(f"\n{c.name}: {OBJECTIVE[c.name]} tune / check / all ({time.perf_counter() - began:.0f} s)")
        print_rankings(c, rankings)
    if args.learned:
        rows = {c.name: signal_rows(c) for c in corpora}  # read once, fitted once per signal set and corpora
        sets = {"all signals": list(range(len(SIGNALS))), "without PRF and title": [0, 1, 2, 3, 5, 6]}
        names = [c.name for c in corpora]
        fits = [names] + ([["scifact"]] if "scifact" in names and names != ["scifact"] else [])
        for label, columns in sets.items():
            for fitted_on in fits:
                print(f"\nlearned fusion, {label}, fitted on {'+'.join(fitted_on)} (cross-fitted halves)")
                for c, rankings in zip(corpora, learned(corpora, rows, columns, fitted_on).values(), strict=True):
                    print(f"{c.name}:", end=" ")
                    print_rankings(c, rankings)
    return 0


def print_rankings(c: Corpus, rankings: Rankings) -> None:
    for label, ranked in rankings.items():
        r = scored(c, ranked, OBJECTIVE[c.name])
        print(f"  {label:<42} {r['tune']:.4f} {r['check']:.4f} {r['all']:.4f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
