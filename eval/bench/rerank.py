"""Reranking research (issue 20): late interaction over what the index stores, and the classic levers.

    python -m eval.bench.rerank [--shared ../shared] [--cache DIR] [--only squad,mix,scifact]

Three corpora, each indexed once with MiniLM through ``common.load_or_build`` and kept in
``--cache`` (default ``../cache/rerank``):

- ``squad``: the SQuAD v1.1 dev split (447 paragraphs, 2,179 questions);
- ``mix``: the same paragraphs and questions among all 5,183 SciFact abstracts (5,630 documents),
  so that R@1 is measured in a larger pool;
- ``scifact``: BEIR SciFact, 809 train claims.

For every query the hybrid candidates (``Retriever.candidates``: dense and BM25 top 100, both
scores) and, for the top ``DEPTH`` of them by the fused score, what the index stores per sentence
are read once and cached as features: each sentence's MiniLM cosine with the question (stored
in-context sentence vectors) and, per question token, its best match among the sentence's stored
token signs. Every variant is then a cheap function of those features, scored at document level
(a document's rank is its best chunk's), on two halves: SQuAD by article (the first six "tune",
the other six "check", as every bench here), SciFact by a seeded half of the claims. Weights
are chosen on "tune" only and reported on both halves; "cross" reports each half with the
weights chosen on the other one.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import pickle
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.bench.common import (
    CACHE,
    SCIFACT,
    SQUAD1,
    add_shared_argument,
    article_halves,
    half_of,
    load_or_build,
    minilm,
    shared_folder,
)
from eval.metrics import dedupe, mrr_at_k, ndcg_at_k, percentile, recall_at_k
from eval.questions import GoldQuestion, load_beir_queries, load_squad_questions
from index.build import DEFAULT_INDEX_TEXT
from index.embedding import MiniLMEmbedder, QueryVectors
from index.formats.corpora import iter_beir_documents, iter_squad_documents
from index.sparse import SparseIndex, _tokenize
from index.store import StoredIndex, index_text
from qa.search import rerank
from qa.search.fusion import FusionSettings, fuse
from qa.search.retrieval import Candidates, Retriever

DEPTH = 50  # candidates (by the hybrid score) whose stored sentences are read
SEED = 20  # the SciFact halves
CORPORA = ("squad", "mix", "scifact")


# --- features ---------------------------------------------------------------------------------


@dataclass
class QueryFeatures:
    qid: str
    half: str
    relevance: dict[str, int]
    docs: np.ndarray  # document row of each candidate (all candidates)
    dense: np.ndarray
    bm25: np.ndarray
    top: np.ndarray  # indices into the candidates: the top DEPTH by the default hybrid score
    sentences: np.ndarray  # number of stored sentences of each top candidate
    cosine: np.ndarray  # (sum(sentences),) the question's cosine with each sentence vector
    tokens: np.ndarray  # (sum(sentences), question tokens) best token-sign match per question token
    words: np.ndarray  # (sum(sentences),) word pieces of each sentence
    seconds: float  # reading the stored features and scoring them (not the candidates)


def question_token_maxes(index: StoredIndex, query: QueryVectors, sentence_rows: list[int]) -> np.ndarray:
    """(len(rows), question tokens): each question token's best match in each sentence; -1 without tokens."""
    assert index.sentence_tokens is not None
    bits, counts = index.sentence_tokens.of(sentence_rows)
    dim = query.tokens.shape[1]
    out = np.full((len(sentence_rows), len(query.tokens)), -1.0, dtype=np.float32)
    if not counts.sum():
        return out
    signs = np.unpackbits(bits, axis=1, count=dim).astype(np.float32) * 2.0 - 1.0
    sims = signs @ (query.tokens.astype(np.float32).T / np.float32(math.sqrt(dim)))
    present = counts > 0
    starts = (np.cumsum(counts) - counts)[present]
    out[present] = np.maximum.reduceat(sims, starts, axis=0)
    return out


def features(
    retriever: Retriever, query: QueryVectors, question: GoldQuestion, half: str, depth: int = DEPTH
) -> QueryFeatures:
    index = retriever.index
    cand = retriever.candidates(question.question, retriever.fusion.depth, vector=query.vector)
    hybrid = fuse(cand.dense, cand.bm25, retriever.fusion)
    top = np.argsort(-hybrid, kind="stable")[:depth]
    began = time.perf_counter()
    ids = index.chunks["id"][cand.rows[top]]
    per_chunk = [list(index.sentence_rows(int(i))) for i in ids]
    rows = [r for chunk in per_chunk for r in chunk]
    assert index.sentence_vectors is not None and index.sentence_tokens is not None
    cosine = index.sentence_vectors[rows].astype(np.float32) @ query.vector
    tokens = question_token_maxes(index, query, rows)
    seconds = time.perf_counter() - began
    relevance = dict(question.relevance) or {d: 1 for d in question.doc_ids}
    return QueryFeatures(
        question.qid,
        half,
        {d: r for d, r in relevance.items()},
        index.chunks["doc"][cand.rows].astype(np.int64),
        cand.dense,
        cand.bm25,
        top,
        np.array([len(c) for c in per_chunk], dtype=np.int64),
        cosine,
        tokens.astype(np.float16),
        index.sentence_tokens.counts[rows].astype(np.int64),
        seconds,
    )


# --- corpora ----------------------------------------------------------------------------------


def scifact_halves(questions: list[GoldQuestion]) -> dict[str, str]:
    ids = sorted(q.qid for q in questions)
    random.Random(SEED).shuffle(ids)
    return {qid: ("tune" if i < len(ids) // 2 else "check") for i, qid in enumerate(ids)}


def corpus(name: str, shared: Path, cache: Path, embedder: MiniLMEmbedder) -> tuple[StoredIndex, list, list[str]]:
    """The index of corpus ``name``, its questions and each question's half."""
    squad, scifact = shared / SQUAD1, shared / SCIFACT
    if name == "scifact":
        questions = load_beir_queries(scifact, "train")
        index = load_or_build(cache / "scifact", embedder, lambda: iter_beir_documents(scifact / "corpus.jsonl"))
        halves = scifact_halves(questions)
        return index, questions, [halves[q.qid] for q in questions]
    questions = load_squad_questions(squad)
    if name == "squad":
        documents = lambda: iter_squad_documents(squad)  # noqa: E731
    else:
        documents = lambda: itertools.chain(  # noqa: E731
            iter_squad_documents(squad), iter_beir_documents(scifact / "corpus.jsonl")
        )
    index = load_or_build(cache / name, embedder, documents)
    halves = article_halves(questions)
    return index, questions, [half_of(q, halves) for q in questions]


def query_vectors(name: str, questions: list[GoldQuestion], cache: Path, embedder: MiniLMEmbedder) -> list:
    """Each question's QueryVectors (one forward pass each), cached: SQuAD's serve squad and mix."""
    path = cache / f"queries-{'scifact' if name == 'scifact' else 'squad'}.pkl"
    if path.is_file():
        with open(path, "rb") as f:
            return pickle.load(f)
    vectors = [embedder.embed_query(q.question) for q in questions]
    with open(path, "wb") as f:
        pickle.dump(vectors, f)
    return vectors


def load_features(name: str, shared: Path, cache: Path, embedder: MiniLMEmbedder) -> tuple[StoredIndex, list]:
    path = cache / f"features-{name}-{DEPTH}.pkl"
    index, questions, halves = corpus(name, shared, cache, embedder)
    if path.is_file():
        with open(path, "rb") as f:
            return index, [QueryFeatures(**row) for row in pickle.load(f)]
    retriever = Retriever(index, embedder)
    vectors = query_vectors(name, questions, cache, embedder)
    began = time.perf_counter()
    rows = [features(retriever, v, q, h) for q, h, v in zip(questions, halves, vectors, strict=True)]
    print(f"{name}: features of {len(rows)} queries in {time.perf_counter() - began:.1f}s", flush=True)
    with open(path, "wb") as f:
        pickle.dump([row.__dict__ for row in rows], f)  # plain dicts: readable whatever runs this module
    return index, rows


# --- variants ---------------------------------------------------------------------------------


def zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x, dtype=np.float64)


def per_chunk(values: np.ndarray, counts: np.ndarray, reduce=np.maximum, empty: float = 0.0) -> np.ndarray:
    """Reduce per-sentence ``values`` (rows) to one per chunk (``counts`` sentences each)."""
    out = np.full((len(counts), *values.shape[1:]), empty, dtype=np.float64)
    present = counts > 0
    if present.any():
        starts = (np.cumsum(counts) - counts)[present]
        out[present] = reduce.reduceat(values.astype(np.float64), starts, axis=0)
    return out


@dataclass
class Signals:
    """The per-top-candidate signals every variant is made of."""

    hybrid: np.ndarray  # default fused score of all candidates
    tok_chunk: np.ndarray  # MaxSim of the question's tokens over the chunk's token signs
    tok_sent: np.ndarray  # best sentence's MaxSim
    cos_sent: np.ndarray  # best sentence vector's cosine
    tok_spread: np.ndarray  # MaxSim with each question token weighted by its spread over the candidates
    tok_doc: np.ndarray  # MaxSim over all the candidate chunks of the chunk's document


def signals(f: QueryFeatures, fusion: FusionSettings = FusionSettings()) -> Signals:
    hybrid = fuse(f.dense, f.bm25, fusion)
    tokens = f.tokens.astype(np.float64)
    chunk_max = per_chunk(tokens, f.sentences, np.maximum, -1.0)  # (chunks, question tokens)
    tok_chunk = chunk_max.mean(axis=1) if tokens.shape[1] else np.zeros(len(f.top))
    sent = tokens.mean(axis=1) if tokens.shape[1] else np.zeros(len(tokens))
    tok_sent = per_chunk(sent, f.sentences, np.maximum, 0.0)
    cos_sent = per_chunk(f.cosine, f.sentences, np.maximum, 0.0)
    spread = chunk_max.std(axis=0) if tokens.shape[1] else np.zeros(0)
    tok_spread = chunk_max @ spread / spread.sum() if spread.sum() > 0 else tok_chunk
    docs = f.docs[f.top]
    tok_doc = tok_chunk.copy()
    if tokens.shape[1]:
        for d in np.unique(docs):
            mine = docs == d
            if mine.sum() > 1:
                tok_doc[mine] = chunk_max[mine].max(axis=0).mean()
    return Signals(hybrid, tok_chunk, tok_sent, cos_sent, tok_spread, tok_doc)


def ranking(f: QueryFeatures, score_top: np.ndarray | None, hybrid: np.ndarray, aggregate: float = 0.0) -> list[int]:
    """Document rows, best first: the top candidates by ``score_top`` (None: by ``hybrid``), then the
    rest by hybrid. ``aggregate`` > 0 adds that share of a document's other chunks' (positive,
    normalised) scores to its best chunk's."""
    order = np.argsort(-hybrid, kind="stable")
    if score_top is not None:
        top = f.top[np.argsort(-score_top, kind="stable")]
        rest = order[len(f.top) :]
        order = np.concatenate([top, rest])
    if not aggregate:
        return dedupe(int(d) for d in f.docs[order])
    # Document scores over the top candidates: best chunk + aggregate * sum of the others' scores above the floor.
    n = len(f.top)
    score = score_top if score_top is not None else hybrid[f.top]
    ranked = f.top[np.argsort(-score, kind="stable")]
    z = np.sort(zscore(score))[::-1]
    docs = f.docs[ranked]
    best: dict[int, float] = {}
    extra: dict[int, float] = {}
    for d, v in zip(docs.tolist(), z.tolist(), strict=True):
        if d not in best:
            best[d] = v
        else:
            extra[d] = extra.get(d, 0.0) + max(v, 0.0)
    agg = {d: best[d] + aggregate * extra.get(d, 0.0) for d in best}
    head = sorted(agg, key=lambda d: -agg[d])
    return dedupe([*head, *(int(d) for d in f.docs[order[n:]])])


def metrics(f: QueryFeatures, ranked_docs: list[int], doc_ids: tuple) -> dict[str, float]:
    ranked = [doc_ids[d] for d in ranked_docs[:10]]
    gold = [d for d, r in f.relevance.items() if r > 0]
    return {
        "R@1": recall_at_k(ranked, gold, 1),
        "R@5": recall_at_k(ranked, gold, 5),
        "MRR@10": mrr_at_k(ranked, gold, 10),
        "nDCG@10": ndcg_at_k(ranked, f.relevance, 10),
    }


METRICS = ("R@1", "R@5", "MRR@10", "nDCG@10")
Variant = Callable[[QueryFeatures, Signals], list[int]]


def evaluate(rows: list[QueryFeatures], sigs: list[Signals], variant: Variant, doc_ids: tuple) -> dict[str, dict]:
    per_half: dict[str, dict[str, float]] = {h: dict.fromkeys(METRICS, 0.0) for h in ("tune", "check")}
    sizes = {"tune": 0, "check": 0}
    for f, s in zip(rows, sigs, strict=True):
        sizes[f.half] += 1
        for m, v in metrics(f, variant(f, s), doc_ids).items():
            per_half[f.half][m] += v
    out = {h: {m: v / sizes[h] for m, v in row.items()} for h, row in per_half.items()}
    total = sizes["tune"] + sizes["check"]
    out["all"] = {m: (per_half["tune"][m] + per_half["check"][m]) / total for m in METRICS}
    return out


@dataclass(frozen=True)
class Setting:
    """hybrid + tok * z(token MaxSim) + cos * z(best sentence cosine) + sent * z(best sentence MaxSim),
    z over the top ``depth`` candidates (the others keep their hybrid order below them)."""

    tok: float = 0.0
    cos: float = 0.0
    sent: float = 0.0
    depth: int = DEPTH
    token_signal: str = "tok_chunk"  # or tok_spread
    aggregate: float = 0.0
    normalise_hybrid: bool = False  # z of the hybrid score over the top ``depth`` too
    dense_weight: float = 0.5  # of the hybrid score (qa/search/fusion.py)

    def label(self) -> str:
        parts = [f"{self.token_signal}={self.tok:g}", f"cos={self.cos:g}", f"sent={self.sent:g}", f"N={self.depth}"]
        if self.aggregate:
            parts.append(f"agg={self.aggregate:g}")
        if self.normalise_hybrid:
            parts.append("zh")
        if self.dense_weight != 0.5:
            parts.append(f"wd={self.dense_weight:g}")
        return " ".join(parts)


def fused_variant(setting: Setting) -> Variant:
    def variant(f: QueryFeatures, s: Signals) -> list[int]:
        n = min(setting.depth, len(f.top))
        hybrid = (
            s.hybrid
            if setting.dense_weight == 0.5
            else fuse(f.dense, f.bm25, FusionSettings("zscore", setting.dense_weight))
        )
        h = hybrid[f.top[:n]]
        score = zscore(h) if setting.normalise_hybrid else h.copy()
        if setting.tok:
            score += setting.tok * zscore(getattr(s, setting.token_signal)[:n])
        if setting.cos:
            score += setting.cos * zscore(s.cos_sent[:n])
        if setting.sent:
            score += setting.sent * zscore(s.tok_sent[:n])
        sub = QueryFeatures(**{**f.__dict__, "top": f.top[:n]})
        return ranking(sub, score, hybrid, setting.aggregate)

    return variant


# --- the sparse side: title weighting, BM25 with pseudo-relevance feedback (RM3) ---------------


def chunk_texts(index: StoredIndex, title_copies: int = 1) -> list[str]:
    """What BM25 indexes for each chunk row, with the document title ``title_copies`` times in front."""
    texts = []
    for entry in index.chunks:
        doc = index.documents[int(entry["doc"])]
        body = doc.text[int(entry["start"]) : int(entry["end"])]
        text = index_text(doc, body, DEFAULT_INDEX_TEXT)
        if title_copies > 1 and text != body:
            text = "\n".join([doc.title] * (title_copies - 1) + [text])
        texts.append(text)
    return texts


class RM3:
    """BM25 again with the query expanded by the terms of its first-pass top chunks (RM3: the
    relevance model of the top ``docs`` chunks, weighted by their BM25 scores, ``terms`` best terms,
    mixed with the query's own terms at ``keep``)."""

    def __init__(self, index: StoredIndex, docs: int = 10, terms: int = 10, keep: float = 0.5) -> None:
        self.sparse = index.sparse
        self.docs, self.terms, self.keep = docs, terms, keep
        tokenized = _tokenize(chunk_texts(index))
        words = {i: w for w, i in tokenized.vocab.items()}
        self.chunk_terms = [[words[i] for i in row] for row in tokenized.ids]

    def scores(self, query: str) -> np.ndarray:
        first = self.sparse.scores(query)
        tokenized = _tokenize([query])
        words = {i: w for w, i in tokenized.vocab.items()}
        vocab = self.sparse._retriever.vocab_dict if self.sparse._retriever is not None else {}
        asked = [words[i] for i in tokenized.ids[0] if words[i] in vocab]
        if not asked or not first.any():
            return first
        top = np.argsort(-first, kind="stable")[: self.docs]
        top = top[first[top] > 0]
        weight = first[top] / first[top].sum()
        model: dict[str, float] = {}
        for row, w in zip(top.tolist(), weight.tolist(), strict=True):
            terms = self.chunk_terms[row]
            for term in set(terms):
                model[term] = model.get(term, 0.0) + w * terms.count(term) / len(terms)
        best = sorted((t for t in model if t in vocab), key=lambda t: -model[t])[: self.terms]
        total = sum(model[t] for t in best) or 1.0
        weights = {t: self.keep / len(asked) * asked.count(t) for t in set(asked)}
        for t in best:
            weights[t] = weights.get(t, 0.0) + (1 - self.keep) * model[t] / total
        out = np.zeros(len(first), dtype=np.float64)
        for t, w in weights.items():
            out += w * self.sparse._retriever.get_scores([t])
        return out * len(asked)  # the scale of a plain query's scores (z-scores ignore it anyway)


def candidates_with(index: StoredIndex, vector: np.ndarray, bm25_all: np.ndarray, depth: int = 100) -> Candidates:
    """Retriever.candidates with the BM25 scores given (a variant's)."""
    _, dense_ids = index.dense.search(vector, depth)
    dense_rows = np.array([index.row_of[int(i)] for i in dense_ids], dtype=np.int64)
    depth = min(depth, len(bm25_all))
    bm25_rows = np.argpartition(-bm25_all, depth - 1)[:depth]
    bm25_rows = bm25_rows[bm25_all[bm25_rows] > 0]
    rows = np.unique(np.concatenate([dense_rows, bm25_rows]))
    dense = index.dense.vectors(index.chunks["id"][rows]) @ vector
    return Candidates(rows, dense.astype(np.float64), bm25_all[rows].astype(np.float64))


def sparse_variants(name: str, shared: Path, cache: Path, embedder: MiniLMEmbedder) -> dict[str, dict]:
    """Hybrid figures (no rerank) with each sparse variant in place of today's BM25."""
    index, questions, halves = corpus(name, shared, cache, embedder)
    vectors = query_vectors(name, questions, cache, embedder)
    doc_ids = tuple(d.doc_id for d in index.documents)
    variants: dict[str, Callable[[str], np.ndarray]] = {"bm25 (today)": index.sparse.scores}
    for copies in (2, 3):
        alt = SparseIndex.build(index.chunks["id"], chunk_texts(index, copies))
        variants[f"title x{copies}"] = alt.scores
    texts = chunk_texts(index)
    for k1, b in ((0.9, 0.4), (1.2, 0.75), (1.5, 0.5), (2.0, 0.75), (1.5, 0.9)):
        alt = SparseIndex.build(index.chunks["id"], texts)
        alt._retriever.k1, alt._retriever.b = k1, b
        alt._retriever.index(_tokenize(texts), show_progress=False)
        variants[f"bm25 k1={k1} b={b}"] = alt.scores
    for docs, terms, keep in ((10, 10, 0.5), (10, 20, 0.7), (20, 10, 0.8)):
        variants[f"rm3 docs={docs} terms={terms} keep={keep}"] = RM3(index, docs, terms, keep).scores
    results = {}
    for label, score_of in variants.items():
        rows = []
        began = time.perf_counter()
        for q, h, v in zip(questions, halves, vectors, strict=True):
            cand = candidates_with(index, v.vector, score_of(q.question))
            relevance = dict(q.relevance) or {d: 1 for d in q.doc_ids}
            empty = np.zeros(0)
            rows.append(
                QueryFeatures(
                    q.qid, h, relevance, index.chunks["doc"][cand.rows].astype(np.int64), cand.dense, cand.bm25,
                    np.zeros(0, np.int64), empty, empty, empty, empty, 0.0,
                )
            )  # fmt: skip
        seconds = time.perf_counter() - began
        sigs = [signals_hybrid(f) for f in rows]
        results[label] = evaluate(rows, sigs, lambda f, s: ranking(f, None, s.hybrid), doc_ids)
        results[label]["ms"] = {"per query": seconds * 1000 / len(rows)}
        results[label + " (bm25 alone)"] = evaluate(
            rows,
            [Signals(f.bm25, *([np.zeros(0)] * 5)) for f in rows],
            lambda f, s: ranking(f, None, s.hybrid),
            doc_ids,
        )
    return results


def signals_hybrid(f: QueryFeatures) -> Signals:
    empty = np.zeros(0)
    return Signals(fuse(f.dense, f.bm25, FusionSettings()), empty, empty, empty, empty, empty)


# --- report -----------------------------------------------------------------------------------


def print_table(title: str, results: dict[str, dict[str, dict]]) -> None:
    print(f"\n{title}")
    head = "".join(f"{h + ' ' + m:>15}" for h in ("tune", "check") for m in METRICS)
    print(f"{'variant':<40}{head}")
    for name, r in results.items():
        extra = f"  {r['ms']['per query']:.1f} ms/query" if "ms" in r else ""
        print(f"{name:<40}" + "".join(f"{r[h][m]:>15.4f}" for h in ("tune", "check") for m in METRICS) + extra)


OBJECTIVE = {"squad": "R@1", "mix": "R@1", "scifact": "nDCG@10"}  # what a setting is chosen by, per corpus


def objective(results: dict[str, dict[str, dict]], half: str) -> float:
    return sum(r[half][OBJECTIVE[name]] for name, r in results.items()) / len(results)


TOLERANCE = 0.002  # settings this close to the best objective count as tied


def complexity(s: Setting) -> tuple:
    """Fewer signals first, then the plain chunk match, then the default fusion, then fewer candidates read."""
    return (bool(s.tok) + bool(s.cos) + bool(s.sent), s.token_signal != "tok_chunk", s.dense_weight != 0.5, s.depth)


def choose(scored: list[tuple[Setting, dict]], half: str) -> tuple[Setting, dict]:
    """The simplest setting within TOLERANCE of the best objective on ``half`` (ties: the better one)."""
    best = max(objective(r, half) for _, r in scored)
    near = [(s, r) for s, r in scored if objective(r, half) >= best - TOLERANCE]
    return min(near, key=lambda item: (complexity(item[0]), -objective(item[1], half)))


def figures(s: Setting, r: dict, first: str, second: str) -> str:
    """A setting's objective and per-corpus figures on ``first``/``second`` half."""
    per = "  ".join(f"{n} {r[n][first][OBJECTIVE[n]]:.4f}/{r[n][second][OBJECTIVE[n]]:.4f}" for n in r)
    return f"{s.label():<48} {objective(r, first):.4f}/{objective(r, second):.4f}  {per}"


def grid() -> list[Setting]:
    settings = [Setting(dense_weight=w) for w in (0.4, 0.6, 0.7)]
    for signal, depth, tok, cos, sent, w in itertools.product(
        ("tok_chunk", "tok_spread", "tok_doc"),
        (20, 30, 50),
        (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
        (0.0, 0.25, 0.5),
        (0.0, 0.5, 1.0),
        (0.4, 0.5, 0.6, 0.7),
    ):
        if (tok or cos or sent) and (tok or signal == "tok_chunk"):
            settings.append(Setting(tok, cos, sent, depth, signal, dense_weight=w))
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--cache", type=Path, default=CACHE / "rerank", help="indexes and feature caches")
    parser.add_argument("--only", default=",".join(CORPORA), help="comma-separated corpora")
    parser.add_argument("--grid", action="store_true", help="also search the weight grid")
    parser.add_argument("--sparse", action="store_true", help="only the sparse variants (title weighting, RM3)")
    args = parser.parse_args(argv)
    shared = shared_folder(args.shared)
    args.cache.mkdir(parents=True, exist_ok=True)
    embedder = minilm()
    if args.sparse:
        for name in args.only.split(","):
            print_table(
                f"{name}: sparse variants, hybrid without rerank", sparse_variants(name, shared, args.cache, embedder)
            )
        return 0
    loaded = {}
    for name in args.only.split(","):
        index, rows = load_features(name, shared, args.cache, embedder)
        doc_ids = tuple(d.doc_id for d in index.documents)
        loaded[name] = (rows, [signals(f) for f in rows], doc_ids)
        ms = [f.seconds * 1000 for f in rows]
        print(
            f"{name}: {len(rows)} queries; reading+scoring stored features of the top {DEPTH}: "
            f"p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms"
        )

    def run(variant: Variant) -> dict[str, dict[str, dict]]:
        return {name: evaluate(rows, sigs, variant, ids) for name, (rows, sigs, ids) in loaded.items()}

    product = Setting(rerank.TOKEN_WEIGHT, 0.0, rerank.SENTENCE_WEIGHT, rerank.DEPTH, "tok_chunk")
    product = dataclasses.replace(product, dense_weight=rerank.FUSION.dense_weight)
    named: dict[str, Variant] = {
        "hybrid (today)": lambda f, s: ranking(f, None, s.hybrid),
        "hybrid, doc agg 0.25": lambda f, s: ranking(f, None, s.hybrid, 0.25),
        "hybrid, doc agg 0.5": lambda f, s: ranking(f, None, s.hybrid, 0.5),
        "tok_chunk alone": fused_variant(Setting(tok=100.0)),
        "tok_spread alone": fused_variant(Setting(tok=100.0, token_signal="tok_spread")),
        "tok_sent alone": fused_variant(Setting(sent=100.0)),
        "cos_sent alone": fused_variant(Setting(cos=100.0)),
        "h + 1 tok_chunk": fused_variant(Setting(tok=1.0)),
        "h + 1 tok_spread": fused_variant(Setting(tok=1.0, token_signal="tok_spread")),
        "h + 1 tok_doc": fused_variant(Setting(tok=1.0, token_signal="tok_doc")),
        "h + 1 tok_sent": fused_variant(Setting(sent=1.0)),
        "h + 1 cos_sent": fused_variant(Setting(cos=1.0)),
        "product (qa/search/rerank.py)": fused_variant(product),
        "product, doc agg 0.1": fused_variant(dataclasses.replace(product, aggregate=0.1)),
        "product, doc agg 0.25": fused_variant(dataclasses.replace(product, aggregate=0.25)),
        "product with tok_doc": fused_variant(dataclasses.replace(product, token_signal="tok_doc")),
    }
    table = {label: run(variant) for label, variant in named.items()}
    for name in loaded:
        print_table(name, {label: r[name] for label, r in table.items()})
    if args.grid:
        began = time.perf_counter()
        scored = [(s, run(fused_variant(s))) for s in grid()]
        print(f"\ngrid of {len(scored)} settings in {time.perf_counter() - began:.0f}s")
        chosen = {}
        for chosen_on, shown in (("tune", "check"), ("check", "tune")):
            scored.sort(key=lambda item: -objective(item[1], chosen_on))
            print(f"\nbest 10 on {chosen_on} (objective = mean of {OBJECTIVE}); {chosen_on}/{shown}")
            for s, r in scored[:10]:
                print(figures(s, r, chosen_on, shown))
            setting, r = choose(scored, chosen_on)
            chosen[chosen_on] = (setting, r)
            print(f"chosen on {chosen_on} (simplest within {TOLERANCE} of the best, then cheapest):")
            print(figures(setting, r, chosen_on, shown))
        # Cross-fitted: each half ranked with the setting chosen on the other half.
        print("\ncross-fitted (each half with the setting chosen on the other), against today's hybrid:")
        today = table["hybrid (today)"]
        for name, (rows, _, _) in loaded.items():
            sizes = {h: sum(f.half == h for f in rows) for h in ("tune", "check")}
            cross = {
                m: sum(chosen["check" if h == "tune" else "tune"][1][name][h][m] * n for h, n in sizes.items())
                / len(rows)
                for m in METRICS
            }
            print(f"{name:<8} " + "  ".join(f"{m} {today[name]['all'][m]:.4f} -> {cross[m]:.4f}" for m in METRICS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
