"""Answers without a language model: the best evidence sentence of the top passages, quoted exactly.

The top hybrid passages are split into sentences; each sentence is scored as evidence for the
question (see EvidenceWeights): MiniLM similarity between the question and the sentence read in
its chunk (a vector stored at index time), how well the question's tokens find their match
among its tokens (token states stored at index time as sign bits), how many of the question's
content words it holds, its passage's retrieval score, and whether it holds a phrase of the kind
asked for (EvidenceWeights). The best sentence is the answer, cited as [1].
Every citation is built from the stored document's text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from index.embedding import MINILM_NAME, Embedder, QueryVectors
from index.sentences import sentence_spans
from index.store import StoredIndex
from index.token_signs import token_match
from qa.answer.short.finder import ShortAnswerFinder
from qa.answer.short.rules import has_phrase_of_kind, question_kind
from qa.answer.terms import WORD, content_terms
from qa.core.answers import NO_ANSWER_TEXT, Answer, Citation, ShortAnswer, TokenSink
from qa.core.errors import BadQuery, QAError
from qa.core.types import Hit
from qa.search.retrieval import Retriever

# The support below which the answerer abstains, per embedder: cosines of another model have
# another scale, so a threshold holds only for the model it was measured with (docs/answers.md
# "Abstention"). An embedder missing here (the hashing one of tests) never abstains by default.
ABSTAIN_BELOW: dict[str, float] = {MINILM_NAME: 0.5}
# The weight of the question's content words found in a sentence, next to its cosine, in ``support``.
SUPPORT_OVERLAP_WEIGHT = 0.5


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
class AnswerSettings:
    """What a caller chooses: how many passages are read, and when the answerer abstains.

    The answerer abstains (says the documents do not contain the answer, cites nothing, still
    returns the passages) when ``support``, the best ``cosine + 0.5 * overlap`` of the candidates
    embedded alone (with stored vectors, only the winner is), is below ``abstain_below``; None
    takes the threshold calibrated for the embedder in use (ABSTAIN_BELOW: 0.5 for
    all-MiniLM-L6-v2; eval/bench/abstain.py, docs/answers.md "Abstention"). ``abstain=False``
    never abstains. In chat, the rewritten query's support counts too (the better of the two).
    Support is deliberately not the evidence score, whose weights change with the ranking.
    """

    passages: int = 5
    abstain: bool = True
    abstain_below: float | None = None

    def __post_init__(self) -> None:
        if self.passages < 1:
            raise QAError(f"passages must be at least 1, got {self.passages}")
        if self.abstain_below is not None and not math.isfinite(self.abstain_below):
            raise QAError(f"abstain_below must be a finite number or None, got {self.abstain_below}")

    def threshold(self, embedder_name: str) -> float | None:
        """The support below which answers are withheld with this embedder; None: never."""
        if not self.abstain:
            return None
        return ABSTAIN_BELOW.get(embedder_name) if self.abstain_below is None else self.abstain_below


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


# Headings and other fragments shorter than this echo the question without answering it.
_MIN_WORDS = 4


class ExtractiveAnswerer:
    def __init__(
        self,
        retriever: Retriever,
        embedder: Embedder,
        settings: AnswerSettings = AnswerSettings(),
        short_answers: ShortAnswerFinder | None = ShortAnswerFinder(),
    ) -> None:
        """``short_answers`` finds the short answer inside the evidence sentence (None: no short answers)."""
        self.retriever = retriever
        self.embedder = embedder
        self.settings = settings
        self.short_answers = short_answers

    def answer(
        self, question: str, k: int | None = None, query: str | None = None, on_token: TokenSink | None = None
    ) -> Answer:
        """Answer ``question`` from the top ``k`` hybrid passages (``settings.passages`` by default).

        ``query`` is what is searched for and weighed as evidence when it differs from the question
        (a chat follow-up rewritten with the conversation); the answer keeps both. Nothing is
        generated, so ``on_token`` (the Answerer protocol's) is never called.
        """
        if not question.strip():
            raise BadQuery("empty question")
        k = self.settings.passages if k is None else k
        if k < 1:
            raise BadQuery(f"k must be at least 1, got {k}")
        query = question if query is None or not query.strip() else query
        query_vectors = self.embedder.embed_query(query)
        hits = self.retriever.search(query, k=k, mode="hybrid", vector=query_vectors)
        vectors = query_vectors
        if query != question:
            # Evidence is weighed against the question as asked: the context a rewrite appends
            # finds the right passages but pulls the choice towards sentences that merely name it
            # (docs/chat.md has the figures).
            vectors = self.embedder.embed_query(question)
        return self._answer(question, query, hits, vectors, query_vectors)

    def answer_from_hits(self, question: str, hits: list[Hit]) -> Answer:
        """Answer ``question`` from given passages, best first (diagnosis with gold passages, UIs)."""
        return self._answer(question, question, hits, self.embedder.embed_query(question))

    def _answer(
        self,
        question: str,
        query: str,
        hits: list[Hit],
        vectors: QueryVectors,
        query_vectors: QueryVectors | None = None,
    ) -> Answer:
        """``vectors``: the question's vector and token vectors; ``query_vectors`` the query's, when already made."""
        evidence = self.evidence(question, hits, vectors)
        best = evidence[0] if evidence else None
        score = support(evidence)
        threshold = self.settings.threshold(self.embedder.name)
        if threshold is not None and score < threshold and query != question and best is not None:
            # A follow-up names its subject only in the rewritten query ("What did he call for?"),
            # so it matches the sentence that answers it poorly on its own.
            score = max(score, support(self.evidence(query, hits, query_vectors)))
        if best is None or (threshold is not None and score < threshold):
            return Answer(question, query, NO_ANSWER_TEXT, None, True, (), tuple(hits), score)
        document = self.retriever.index.document(best.doc_id)
        citation = Citation.verified(1, document, best.start, best.end)
        short = None
        if self.short_answers is not None:
            span = self.short_answers.span(question, best.text)
            if span is not None:
                short = ShortAnswer.verified(document, best.start + span.start, best.start + span.end)
        text = f"{citation.text} [{citation.n}]"
        return Answer(question, query, text, short, False, (citation,), tuple(hits), score)

    def evidence(self, query: str, hits: list[Hit], vectors: QueryVectors | None = None) -> list[Evidence]:
        """The sentences of ``hits`` scored as evidence for ``query``, best first.

        ``vectors`` is the query's embedding (vector and tokens) when the caller has it. With stored sentence
        vectors every sentence is scored and only the best is also embedded alone (its ``cosine``;
        NaN for the others); without, the ``embed_top`` lexically best are embedded and returned.
        """
        sentences = _sentences(hits)
        if not sentences:
            return []
        w = WEIGHTS
        asked = content_terms(query)
        overlaps = _overlaps(asked, [content_terms(s.text) for s in sentences])
        ranks = np.array([s.rank for s in sentences], dtype=np.int64)
        fused = np.array([hit.score for hit in hits], dtype=np.float64)
        retrieval = fused[ranks] - fused.max()
        lexical = w.overlap * overlaps + w.retrieval * retrieval
        index = self.retriever.index
        if vectors is None:
            vectors = self.embedder.embed_query(query)
        vector = vectors.vector
        kind = question_kind(query)
        typed = np.array([float(has_phrase_of_kind(kind, s.text, asked)) for s in sentences])
        matches = np.zeros(len(sentences))
        rows = _stored_rows(index, hits, sentences)
        cosines = np.full(len(sentences), np.nan)
        if rows is not None:
            assert index.sentence_vectors is not None  # rows are found only then
            late = index.sentence_vectors[rows].astype(np.float32) @ vector
            keep = np.arange(len(sentences))
            scores = w.late * late + lexical + w.typed * typed
            if index.sentence_tokens is not None:
                bits, counts = index.sentence_tokens.of(rows)
                matches = token_match(vectors.tokens, bits, counts)
                scores = scores + w.tokens * matches
        else:
            # Embedding is most of the cost of such an answer; the lexically weakest sentences almost never win.
            keep = np.argsort(-lexical, kind="stable")[: w.embed_top]
            cosines[keep] = self.embedder.embed([sentences[i].text for i in keep]) @ vector
            scores = np.full(len(sentences), -np.inf)
            scores[keep] = w.cosine * cosines[keep] + lexical[keep] + w.typed * typed[keep]
        kept = set(keep.tolist())
        order = [int(i) for i in np.argsort(-scores, kind="stable") if i in kept]
        if order and rows is not None:
            # Only the winner is embedded alone: its plain cosine is what abstention looks at.
            best = order[0]
            cosines[best] = float(self.embedder.embed([sentences[best].text])[0] @ vector)
        return [sentences[i].scored(cosines[i], overlaps[i], matches[i], scores[i]) for i in order]


def support(evidence: list[Evidence]) -> float:
    """How well the best-matching candidate sentence matches the question: the value compared
    with ``AnswerSettings.abstain_below``, -inf without candidates.

    The best ``cosine + SUPPORT_OVERLAP_WEIGHT * overlap`` over the candidates embedded alone
    (NaN cosines, not computed, are skipped), whatever their evidence order. A question about
    something the documents never mention matches no sentence in meaning or in words; the overlap
    term keeps answering questions worded unlike their sentence but sharing its rare words.
    """
    values = [e.cosine + SUPPORT_OVERLAP_WEIGHT * e.overlap for e in evidence if not math.isnan(e.cosine)]
    return max(values, default=float("-inf"))


def _stored_rows(index: StoredIndex, hits: list[Hit], sentences: list[Sentence]) -> list[int] | None:
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


def _overlaps(wanted: set[str], sentence_terms: list[set[str]]) -> np.ndarray:
    """Share of the question's content terms found in each sentence, each term weighted by its
    inverse frequency among the candidate sentences: a question word that every candidate holds
    (the topic) says nothing about which one answers."""
    if not wanted:
        return np.zeros(len(sentence_terms))
    n = len(sentence_terms)
    weight = {t: math.log(1 + n / (1 + sum(t in terms for terms in sentence_terms))) for t in wanted}
    total = sum(weight.values())
    return np.array([sum(weight[t] for t in wanted & terms) / total for terms in sentence_terms])
