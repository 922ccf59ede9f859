"""Reranking the best hybrid candidates by late interaction with what the index already stores.

The hybrid score (qa/search/fusion.py) compares one vector per chunk and the chunk's BM25 terms.
The index also keeps, from the chunk's own forward pass at index time, the sign bits of every
token's in-context state, sentence by sentence (index/token_signs.py). Matching the question
token by token against them (each question token's best match among a span's tokens, averaged
over the question's tokens: ColBERT's MaxSim, ``token_match``) keeps apart which words of the
question a passage holds, which one chunk vector blurs.

The ``DEPTH`` best candidates by the hybrid score are rescored as

    FUSION(dense, BM25) + TOKEN_WEIGHT * z(chunk match) + SENTENCE_WEIGHT * z(best sentence match)

where the chunk match is ``token_match`` over all the chunk's tokens, the best sentence match the
highest ``token_match`` of one of its sentences, and z normalises over those candidates (as the
fusion does dense and BM25 over all of them). They are ranked above the other candidates,
which keep their hybrid order. Nothing is embedded but the question: its token vectors come
from the same forward pass as its vector (``Embedder.embed_query``). An index without stored
token signs (a generation built before them) is searched by the hybrid score alone.

The constants were chosen on half of the development questions (the first six SQuAD articles,
alone and among 5,183 SciFact abstracts, and a seeded half of the SciFact claims) and checked
on the other half: eval/bench/rerank.py, docs/benchmarks.md "Reranking".
"""

from __future__ import annotations

import numpy as np

from index.embedding import QueryVectors
from index.store import StoredIndex
from index.token_signs import best_matches
from qa.search.fusion import FusionSettings, fuse, zscore

DEPTH = 20  # hybrid candidates rescored
FUSION = FusionSettings("zscore", dense_weight=0.4)  # dense and BM25 inside the rescoring
TOKEN_WEIGHT = 1.0  # of z(the chunk's token match)
SENTENCE_WEIGHT = 1.0  # of z(its best sentence's token match)


def can_rerank(index: StoredIndex) -> bool:
    """Whether ``index`` stores what the rerank reads: its sentences' token signs."""
    return index.sentences is not None and index.sentence_tokens is not None


def token_matches(index: StoredIndex, query: QueryVectors, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each chunk row: ``token_match`` of the question over all the chunk's stored tokens, and the
    best ``token_match`` of one of its sentences (both 0 for a chunk without stored tokens)."""
    assert index.sentence_tokens is not None
    per_chunk = [index.sentence_rows(int(i)) for i in index.chunks["id"][rows]]
    bits, counts = index.sentence_tokens.of([r for chunk in per_chunk for r in chunk])
    best = best_matches(query.tokens, bits, counts).astype(
        np.float64
    )  # (sentences, question tokens), NaN without tokens
    chunk, sentence = np.zeros(len(rows)), np.zeros(len(rows))
    first = 0
    for i, chunk_rows in enumerate(per_chunk):
        mine = best[first : first + len(chunk_rows)]
        first += len(chunk_rows)
        mine = mine[~np.isnan(mine[:, 0])] if mine.shape[1] else mine[:0]
        if len(mine):
            chunk[i] = mine.max(axis=0).mean()
            sentence[i] = mine.mean(axis=1).max()
    return chunk, sentence


def rerank(
    index: StoredIndex,
    query: QueryVectors,
    rows: np.ndarray,
    dense: np.ndarray,
    bm25: np.ndarray,
    hybrid: np.ndarray,
) -> np.ndarray:
    """Scores of the candidates (chunk ``rows`` with their ``dense``, ``bm25`` and ``hybrid`` scores),
    higher is better: the top ``DEPTH`` by hybrid rescored, the others below them in hybrid order."""
    hybrid = np.asarray(hybrid, dtype=np.float64)
    if not can_rerank(index) or len(hybrid) < 2 or not len(query.tokens):
        return hybrid
    order = np.argsort(-hybrid, kind="stable")
    top, rest = order[:DEPTH], order[DEPTH:]
    chunk, sentence = token_matches(index, query, rows[top])
    scores = hybrid.copy()
    scores[top] = fuse(dense, bm25, FUSION)[top] + TOKEN_WEIGHT * zscore(chunk) + SENTENCE_WEIGHT * zscore(sentence)
    if len(rest):
        # Below the lowest rescored candidate, in hybrid order, keeping their gaps.
        scores[rest] = hybrid[rest] - hybrid[rest[0]] + scores[top].min() - 1e-6
    return scores
