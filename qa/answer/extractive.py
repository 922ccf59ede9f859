"""Answers without a language model: the best evidence sentence of the top passages, quoted exactly.

The top hybrid passages are split into sentences; each sentence is scored as evidence for the
question (see AnswerSettings): MiniLM similarity between the question and the sentence read in
its chunk (a vector stored at index time), how well the question's tokens find their match
among its tokens (token states stored at index time as sign bits), how many of the question's
content words it holds, its passage's retrieval score, and whether it holds a phrase of the kind
asked for. The best sentence is the answer, cited as [1] (a close runner-up as [2] when
``second_margin`` is set).
Every citation is built from the stored document's text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from index.embedding import MINILM_NAME, Embedder, QueryVectors
from index.sentences import sentence_spans
from index.token_signs import token_match
from qa.answer.short.finder import find_short_answer, has_phrase_of_kind, question_kind
from qa.answer.terms import WORD, content_terms
from qa.core.answers import NO_ANSWER_TEXT, Answer, Citation, ShortAnswer
from qa.core.errors import BadQuery, QAError
from qa.core.types import Document, Hit
from qa.search.retrieval import Retriever

# The support below which the answerer abstains, per embedder: cosines of another model have
# another scale, so a threshold holds only for the model it was measured with (docs/answers.md
# "Abstention"). An embedder missing here (the hashing one of tests) never abstains by default.
ABSTAIN_BELOW: dict[str, float] = {MINILM_NAME: 0.5}
# The weight of the question's content words found in a sentence, next to its cosine, in ``support``.
SUPPORT_OVERLAP_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """How evidence is scored and when the answerer abstains.

    The evidence score of a sentence is ``late_weight * late + token_weight * tokens
    + context_weight * context + overlap_weight * overlap + retrieval_weight * retrieval
    + typed_weight * typed``:
    - late: MiniLM's cosine between the question and the sentence's stored vector, pooled from
      its chunk's forward pass at index time (``Embedder.embed_spans``), so the sentence is read
      in context and nothing is embedded at question time but the question. An index without
      sentence vectors (built before them) scores ``cosine_weight * cosine`` instead, where
      cosine is MiniLM's between the question and the sentence embedded alone;
    - tokens: for each of the question's token vectors, its best match among the sentence's
      token states stored at index time (read in the chunk, kept as signs;
      index/token_signs.py), averaged over the question's tokens. A sentence vector is an
      average that blurs which words of the question it holds; this keeps them apart. 0 for an
      index built before token signs were stored;
    - context: MiniLM's between the question and "title. previous sentence + sentence", which
      recovers sentences that name their subject only by a pronoun;
    - overlap: the share of the question's content words in the sentence, each weighted by its
      rarity among the candidate sentences;
    - retrieval: the fused score of the sentence's passage minus the best passage's (<= 0);
    - typed: 1 when the sentence holds a phrase of the kind the question asks for (a year for
      "when", a number for "how many"), else 0.
    Without stored vectors only the ``embed_top`` sentences with the best lexical score (overlap
    and retrieval) are embedded; with them, ``embed_top`` bounds the contexts embedded. Weights
    were chosen on the first six SQuAD dev articles and checked on the other six
    (eval/bench/answers.py, docs/answers.md), and kept round on purpose.
    The answerer abstains (says the documents do not contain the answer, cites nothing, still
    returns the passages) when ``support``, the best ``cosine + 0.5 * overlap`` of the candidates
    embedded alone (with stored vectors, only the winner is), is below ``abstain_below``; None
    takes the threshold calibrated for the embedder in use (ABSTAIN_BELOW: 0.5 for
    all-MiniLM-L6-v2; eval/bench/abstain.py, docs/answers.md "Abstention"). ``abstain=False``
    never abstains. In chat, the rewritten query's support counts too (the better of the two).
    Support is deliberately not the evidence score, whose weights change with the ranking.
    ``second_margin`` > 0 also cites the runner-up as [2] when it scores within that margin of
    the best; 0 cites one sentence.
    """

    passages: int = 5
    late_weight: float = 2.0
    token_weight: float = 4.0
    cosine_weight: float = 1.0
    context_weight: float = 0.0
    overlap_weight: float = 1.2
    retrieval_weight: float = 0.1
    typed_weight: float = 0.1
    embed_top: int = 10
    second_margin: float = 0.0
    abstain: bool = True
    abstain_below: float | None = None
    short_answers: bool = True
    sentence_vectors: bool = True  # False: embed candidates alone even when the index stores vectors

    def __post_init__(self) -> None:
        if self.passages < 1:
            raise QAError(f"passages must be at least 1, got {self.passages}")
        if self.embed_top < 1:
            raise QAError(f"embed_top must be at least 1, got {self.embed_top}")
        if self.second_margin < 0:
            raise QAError(f"second_margin must not be negative, got {self.second_margin}")
        if self.abstain_below is not None and not math.isfinite(self.abstain_below):
            raise QAError(f"abstain_below must be a finite number or None, got {self.abstain_below}")

    def threshold(self, embedder_name: str) -> float | None:
        """The support below which answers are withheld with this embedder; None: never."""
        if not self.abstain:
            return None
        return ABSTAIN_BELOW.get(embedder_name) if self.abstain_below is None else self.abstain_below


@dataclass(frozen=True, slots=True)
class Evidence:
    """A candidate sentence: characters ``[start, end)`` of ``doc_id``, with its scores."""

    doc_id: str
    start: int
    end: int
    text: str
    rank: int  # 0-based retrieval rank of the best passage holding it
    cosine: float  # MiniLM's with the sentence embedded alone; NaN where not computed (see evidence())
    overlap: float
    score: float
    late: float | None = None  # MiniLM's with the stored in-context vector, when the index has them


# How far back to look for the sentence before a candidate: a long sentence is enough context.
_CONTEXT_CHARS = 400
_MIN_WORDS = 4


class ExtractiveAnswerer:
    def __init__(self, retriever: Retriever, embedder: Embedder, settings: AnswerSettings = AnswerSettings()) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.settings = settings

    def answer(self, question: str, k: int | None = None, query: str | None = None) -> Answer:
        """Answer ``question`` from the top ``k`` hybrid passages (``settings.passages`` by default).

        ``query`` is what is searched for and weighed as evidence when it differs from the question
        (a chat follow-up rewritten with the conversation); the answer keeps both.
        """
        if not question.strip():
            raise BadQuery("empty question")
        k = self.settings.passages if k is None else k
        if k < 1:
            raise BadQuery(f"k must be at least 1, got {k}")
        query = question if query is None or not query.strip() else query
        query_vectors = self.embedder.embed_query(query)
        hits = self.retriever.search(query, k=k, mode="hybrid", vector=query_vectors.vector)
        vectors = query_vectors
        if query != question:
            # Evidence is weighed against the question as asked: the context a rewrite appends
            # finds the right passages but pulls the choice towards sentences that merely name it
            # (docs/chat.md has the figures).
            vectors = self.embedder.embed_query(question)
        return self._answer(question, query, hits, vectors, query_vectors)

    def answer_from_hits(self, question: str, hits: list[Hit], query: str | None = None) -> Answer:
        """Answer ``question`` from given passages, best first (diagnosis with gold passages, UIs)."""
        query = question if query is None else query
        return self._answer(question, query, hits, self.embedder.embed_query(question))

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
        chosen = [best]
        margin = self.settings.second_margin
        if margin > 0 and len(evidence) > 1 and evidence[1].score >= best.score - margin:
            chosen.append(evidence[1])
        index = self.retriever.index
        citations = tuple(
            Citation.verified(n, index.document(e.doc_id), e.start, e.end) for n, e in enumerate(chosen, 1)
        )
        short = None
        if self.settings.short_answers:
            span = find_short_answer(question, best.text)
            if span is not None:
                short = ShortAnswer.verified(index.document(best.doc_id), best.start + span[0], best.start + span[1])
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        return Answer(question, query, text, short, False, citations, tuple(hits), score)

    def evidence(self, query: str, hits: list[Hit], vectors: QueryVectors | None = None) -> list[Evidence]:
        """The sentences of ``hits`` scored as evidence for ``query``, best first.

        ``vectors`` is the query's embedding (vector and tokens) when the caller has it. With stored sentence
        vectors every sentence is scored and only the best is also embedded alone (its ``cosine``;
        NaN for the others); without, the ``embed_top`` lexically best are embedded and returned.
        """
        sentences = _sentences(hits)
        if not sentences:
            return []
        s = self.settings
        asked = content_terms(query)
        overlaps = _overlaps(asked, [content_terms(text) for _, _, _, text, _ in sentences])
        ranks = np.array([rank for *_, rank in sentences], dtype=np.int64)
        fused = np.array([hit.score for hit in hits], dtype=np.float64)
        retrieval = fused[ranks] - fused.max()
        lexical = s.overlap_weight * overlaps + s.retrieval_weight * retrieval
        index = self.retriever.index
        if vectors is None:
            vectors = self.embedder.embed_query(query)
        vector = vectors.vector
        kind = question_kind(query)
        typed = np.array([float(has_phrase_of_kind(kind, text, asked)) for *_, text, _ in sentences])
        rows = _stored_rows(index, hits, sentences) if s.sentence_vectors else None
        if rows is not None:
            assert index.sentence_vectors is not None  # rows are found only then
            late = index.sentence_vectors[rows].astype(np.float32) @ vector
            keep = np.arange(len(sentences))
            scores = s.late_weight * late + lexical + s.typed_weight * typed
            if s.token_weight and index.sentence_tokens is not None:
                bits, counts = index.sentence_tokens.of(rows)
                scores = scores + s.token_weight * token_match(vectors.tokens, bits, counts)
            cosines = np.full(len(sentences), np.nan)
        else:
            # Embedding is most of the cost of such an answer; the lexically weakest sentences almost never win.
            keep = np.argsort(-lexical, kind="stable")[: s.embed_top]
            late = None
            cosines = np.full(len(sentences), np.nan)
            cosines[keep] = self.embedder.embed([sentences[i][3] for i in keep]) @ vector
            scores = np.full(len(sentences), -np.inf)
            scores[keep] = s.cosine_weight * cosines[keep] + lexical[keep] + s.typed_weight * typed[keep]
        if s.context_weight:
            # "Title. previous sentence + sentence" embedded alone: about +2 points of evidence accuracy
            # for several times the answer time (docs/answers.md), so it is off by default.
            top = np.argsort(-scores, kind="stable")[: s.embed_top]
            contexts = [_context(index.document(sentences[i][0]), sentences[i][1], sentences[i][3]) for i in top]
            scores[top] += s.context_weight * (self.embedder.embed(contexts) @ vector)
            keep = top
        kept = set(keep.tolist())
        order = [int(i) for i in np.argsort(-scores, kind="stable") if i in kept]
        if order and rows is not None:
            # Only the winner is embedded alone: its plain cosine is what abstention looks at.
            best = order[0]
            cosines[best] = float(self.embedder.embed([sentences[best][3]])[0] @ vector)
        return [
            Evidence(
                *sentences[i][:4],
                int(ranks[i]),
                float(cosines[i]),
                float(overlaps[i]),
                float(scores[i]),
                None if late is None else float(late[i]),
            )
            for i in order
        ]


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


def _stored_rows(index, hits: list[Hit], sentences: list[tuple[str, int, int, str, int]]) -> list[int] | None:
    """The stored rows of ``sentences`` (vectors, tokens), or None unless every one is stored."""
    if index.sentence_vectors is None:
        return None
    rows: dict[tuple[str, int, int], int] = {}
    for hit in hits:
        for row in index.sentence_rows(hit.chunk_id):
            entry = index.sentences[row]
            rows.setdefault((hit.doc_id, int(entry["start"]), int(entry["end"])), row)
    found = [rows.get(sentence[:3]) for sentence in sentences]
    if any(row is None for row in found):
        return None
    return [int(row) for row in found if row is not None]


def _context(document: Document, start: int, sentence: str) -> str:
    """ "Title. previous sentence + sentence": what the sentence means in its place in the document."""
    before = document.text[max(0, start - _CONTEXT_CHARS) : start]
    spans = sentence_spans(before)
    previous = before[spans[-1][0] : spans[-1][1]] if spans else ""
    title = f"{document.title}. " if document.title else ""
    return f"{title}{previous} {sentence}".strip()


def _sentences(hits: list[Hit]) -> list[tuple[str, int, int, str, int]]:
    """``(doc_id, start, end, text, rank)`` of each distinct sentence, in passage order.

    Passages of one document overlap, so a sentence seen twice keeps its better rank. Headings
    and other fragments of fewer than ``_MIN_WORDS`` words echo the question without answering
    it ("## Supported formats"); they are candidates only when nothing longer is.
    """
    seen: dict[tuple[str, int, int], tuple[str, int, int, str, int]] = {}
    for rank, hit in enumerate(hits):
        for start, end in sentence_spans(hit.text):
            key = (hit.doc_id, hit.start + start, hit.start + end)
            if key not in seen:
                seen[key] = (*key, hit.text[start:end], rank)
    sentences = sorted(seen.values(), key=lambda s: (s[4], s[1]))
    full = [s for s in sentences if len(WORD.findall(s[3])) >= _MIN_WORDS and not s[3].startswith("#")]
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
