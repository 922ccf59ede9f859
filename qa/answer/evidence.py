"""Evidence: the sentences of the retrieved passages, scored for a question.

Each sentence of the top passages is scored (EvidenceWeights): MiniLM similarity between the
question and the sentence read in its chunk (a vector stored at index time), how well the
question's tokens find their match among its tokens (token states stored at index time as sign
bits), how many of the question's content words it holds, its passage's retrieval score, and
whether it holds a phrase of the kind asked for. Adjacent sentences are also scored as one unit
(qa/answer/spans.py), from which the cited span is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from index.embedding import Embedder, QueryVectors
from index.sentences import sentence_spans
from index.store import StoredIndex
from index.token_signs import best_matches
from qa.answer.short.rules import has_phrase_of_kind, question_kind
from qa.answer.spans import SentenceParts, adjacent_pairs, pair_scores, pooled_similarity
from qa.answer.terms import WORD, content_terms
from qa.core.types import Hit


@dataclass(frozen=True, slots=True)
class EvidenceWeights:
    """How the parts of a sentence's evidence score add up:
    ``late * late + tokens * token_match + overlap * overlap + retrieval * retrieval + typed * typed``.

    - late: MiniLM's cosine between the question and the sentence's stored vector, pooled from
      its chunk's forward pass at index time (``Embedder.embed_spans``), so the sentence is read
      in context and nothing is embedded at question time but the question. An index without
      sentence vectors (built before them) scores ``cosine * cosine`` instead, where cosine is
      MiniLM's between the question and the sentence embedded alone (only the ``embed_top``
      lexically best sentences are embedded);
    - token_match: for each of the question's token vectors, its best match among the sentence's
      token states stored at index time (read in the chunk, kept as signs; index/token_signs.py),
      averaged over the question's tokens. A sentence vector is an average that blurs which words
      of the question it holds; this keeps them apart. 0 for an index built before token signs;
    - overlap: the share of the question's content words in the sentence, each weighted by its
      rarity among the candidate sentences;
    - retrieval: the fused score of the sentence's passage minus the best passage's (<= 0);
    - typed: 1 when the sentence holds a phrase of the kind the question asks for (a year for
      "when", a number for "how many"), else 0.
    The weights were chosen on the first six SQuAD dev articles and checked on the other six
    (eval/bench/answers.py, docs/answers.md), and kept round on purpose; they are measured
    constants, not settings.
    """

    late: float = 2.0
    tokens: float = 4.0
    cosine: float = 1.0
    overlap: float = 1.2
    retrieval: float = 0.1
    typed: float = 0.1
    embed_top: int = 10


WEIGHTS = EvidenceWeights()


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of the retrieved passages: characters ``[start, end)`` of ``doc_id``.

    ``rank`` is the 0-based retrieval rank of the best passage holding it.
    """

    doc_id: str
    start: int
    end: int
    text: str
    rank: int

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.doc_id, self.start, self.end)

    def scored(self, cosine: float, overlap: float, token_match: float, score: float) -> Evidence:
        return Evidence(
            self.doc_id,
            self.start,
            self.end,
            self.text,
            self.rank,
            float(cosine),
            float(overlap),
            float(token_match),
            float(score),
        )


@dataclass(frozen=True, slots=True)
class Evidence(Sentence):
    """A candidate sentence with its scores (EvidenceWeights says how ``score`` is made of them)."""

    cosine: float  # MiniLM's with the sentence embedded alone; NaN where not computed (see evidence())
    overlap: float
    token_match: float  # 0 where the index stores no token signs
    score: float


@dataclass(frozen=True, slots=True)
class Candidates:
    """The candidate sentences of an answer in passage order with their evidence ``scores``
    (-inf: not scored), the scored ones best first (``evidence``), and the adjacent ``pairs``
    of candidates with their scores read as one unit (``paired``; none without stored vectors)."""

    sentences: list[Sentence]
    scores: np.ndarray
    evidence: list[Evidence]
    pairs: list[tuple[int, int]]
    paired: np.ndarray


# Headings and other fragments shorter than this echo the question without answering it.
_MIN_WORDS = 4


def score(
    index: StoredIndex, embedder: Embedder, query: str, hits: list[Hit], vectors: QueryVectors | None = None
) -> Candidates:
    """The sentences of ``hits`` scored as evidence for ``query``, and their adjacent pairs.

    ``vectors`` is the query's embedding (vector and tokens) when the caller has it. With stored sentence
    vectors every sentence is scored and only the best is also embedded alone (its ``cosine``;
    NaN for the others); without, the ``embed_top`` lexically best are embedded and scored, and
    so are the pairs among them.
    """
    sentences = _sentences(hits)
    if not sentences:
        return Candidates([], np.zeros(0), [], [], np.zeros(0))
    w = WEIGHTS
    asked = content_terms(query)
    terms = [content_terms(s.text) for s in sentences]
    term_weights = _term_weights(asked, terms)
    total = sum(term_weights.values())
    overlaps = np.array([sum(term_weights[t] for t in asked & own) / total if total else 0.0 for own in terms])
    ranks = np.array([s.rank for s in sentences], dtype=np.int64)
    fused = np.array([hit.score for hit in hits], dtype=np.float64)
    retrieval = fused[ranks] - fused.max()
    lexical = w.overlap * overlaps + w.retrieval * retrieval
    if vectors is None:
        vectors = embedder.embed_query(query)
    vector = vectors.vector
    kind = question_kind(query)
    typed = np.array([float(has_phrase_of_kind(kind, s.text, asked)) for s in sentences])
    matches = np.zeros(len(sentences))
    best = np.full((len(sentences), 0), np.nan, dtype=np.float32)  # no token matches
    rows = stored_rows(index, hits, sentences)
    cosines = np.full(len(sentences), np.nan)
    pairs = adjacent_pairs(sentences, texts_of(index))
    if rows is not None:
        assert index.sentence_vectors is not None  # rows are found only then
        stored = index.sentence_vectors[rows].astype(np.float32)
        keep = np.arange(len(sentences))
        scores = w.late * (stored @ vector) + lexical + w.typed * typed
        counts = np.ones(len(sentences), dtype=np.int64)
        if index.sentence_tokens is not None:
            bits, counts = index.sentence_tokens.of(rows)
            best = best_matches(vectors.tokens, bits, counts)  # NaN rows: no tokens (index/token_signs.py)
            if best.shape[1]:
                matches = np.nan_to_num(best.mean(axis=1), nan=0.0).astype(np.float64)
            scores = scores + w.tokens * matches
        similarity, similarity_weight = pooled_similarity(stored, counts, vector, pairs), w.late
    else:
        # Embedding is most of the cost of such an answer; the lexically weakest sentences almost never win.
        keep = np.argsort(-lexical, kind="stable")[: w.embed_top]
        cosines[keep] = embedder.embed([sentences[i].text for i in keep]) @ vector
        scores = np.full(len(sentences), -np.inf)
        scores[keep] = w.cosine * cosines[keep] + lexical[keep] + w.typed * typed[keep]
        # The pairs among them are embedded alone too, as their sentences were.
        kept = set(keep.tolist())
        pairs = [(i, j) for i, j in pairs if i in kept and j in kept]
        joined = [texts_of(index)(sentences[i].doc_id)[sentences[i].start : sentences[j].end] for i, j in pairs]
        similarity, similarity_weight = (embedder.embed(joined) @ vector if pairs else np.zeros(0)), w.cosine
    parts = SentenceParts(best, terms, term_weights, retrieval, typed)
    paired = pair_scores(parts, pairs, similarity, similarity_weight, w)
    kept = set(keep.tolist())
    order = [int(i) for i in np.argsort(-scores, kind="stable") if i in kept]
    if order and rows is not None:
        # Only the winner is embedded alone: its plain cosine is what abstention looks at.
        top = order[0]
        cosines[top] = float(embedder.embed([sentences[top].text])[0] @ vector)
    evidence = [sentences[i].scored(cosines[i], overlaps[i], matches[i], scores[i]) for i in order]
    return Candidates(sentences, scores, evidence, pairs, paired)


def stored_rows(index: StoredIndex, hits: list[Hit], sentences: list[Sentence]) -> list[int] | None:
    """The stored rows of ``sentences`` (vectors, tokens), or None unless every one is stored."""
    if index.sentence_vectors is None:
        return None
    rows: dict[tuple[str, int, int], int] = {}
    for hit in hits:
        for row in index.sentence_rows(hit.chunk_id):
            entry = index.sentences[row]
            rows.setdefault((hit.doc_id, int(entry["start"]), int(entry["end"])), row)
    found = [rows.get(sentence.key) for sentence in sentences]
    if any(row is None for row in found):
        return None
    return [int(row) for row in found if row is not None]


def _sentences(hits: list[Hit]) -> list[Sentence]:
    """Each distinct sentence of ``hits``, in passage order.

    Passages of one document overlap, so a sentence seen twice keeps its better rank. Headings
    and other fragments of fewer than ``_MIN_WORDS`` words echo the question without answering
    it ("## Supported formats"); they are candidates only when nothing longer is.
    """
    seen: dict[tuple[str, int, int], Sentence] = {}
    for rank, hit in enumerate(hits):
        for start, end in sentence_spans(hit.text):
            sentence = Sentence(hit.doc_id, hit.start + start, hit.start + end, hit.text[start:end], rank)
            seen.setdefault(sentence.key, sentence)
    sentences = sorted(seen.values(), key=lambda s: (s.rank, s.start))
    full = [s for s in sentences if len(WORD.findall(s.text)) >= _MIN_WORDS and not s.text.startswith("#")]
    return full or sentences


def _term_weights(wanted: set[str], sentence_terms: list[set[str]]) -> dict[str, float]:
    """The question's content terms, each weighted by its inverse frequency among the candidate
    sentences: a question word that every candidate holds (the topic) says nothing about which one
    answers. A sentence's overlap is the weighted share of them it holds."""
    n = len(sentence_terms)
    return {t: math.log(1 + n / (1 + sum(t in terms for terms in sentence_terms))) for t in wanted}


def texts_of(index: StoredIndex) -> Callable[[str], str]:
    """The stored text of a document by id."""
    return lambda doc_id: index.document(doc_id).text
