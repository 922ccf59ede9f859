"""Answers without a language model: the best evidence of the top passages, quoted exactly.

The top hybrid passages are split into sentences, each scored as evidence for the question
(qa/answer/evidence.py, EvidenceWeights). The best sentence is the answer, cited as [1], with
the sentence under it when it is a heading, or as one span with its neighbour when the two
answer better together (qa/answer/spans.py). Every citation is built from the stored
document's text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from index.embedding import MINILM_NAME, Embedder, QueryVectors
from qa.answer.abstention import ABSTAIN_PROBABILITY, CALIBRATED, SURE_PROBABILITY, answer_probability
from qa.answer.evidence import WEIGHTS, Candidates, Evidence, EvidenceWeights, Sentence, score, texts_of
from qa.answer.short.confidence import EVIDENCE_MARGIN_CAP, EvidenceSignals
from qa.answer.short.finder import ShortAnswerFinder
from qa.answer.spans import choose
from qa.core.answers import NO_ANSWER_TEXT, Answer, Citation, ShortAnswer, TokenSink
from qa.core.errors import BadQuery, QAError
from qa.core.types import Hit
from qa.search.retrieval import Retriever

# Scoring moved to qa/answer/evidence.py; its names stay importable from here.
__all__ = [
    "ABSTAIN_BELOW",
    "WEIGHTS",
    "AnswerSettings",
    "Candidates",
    "Evidence",
    "EvidenceWeights",
    "ExtractiveAnswerer",
    "Sentence",
    "support",
]

# The support below which the answerer abstains, per embedder: cosines of another model have
# another scale, so a threshold holds only for the model it was measured with (docs/answers.md
# "Abstention"). An embedder missing here (the hashing one of tests) never abstains by default.
ABSTAIN_BELOW: dict[str, float] = {MINILM_NAME: 0.5}
# The weight of the question's content words found in a sentence, next to its cosine, in ``support``.
SUPPORT_OVERLAP_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """What a caller chooses: how many passages are read, and when the answerer abstains.

    The answerer abstains (says the documents do not contain the answer, cites nothing, still
    returns the passages) when ``support``, the best ``cosine + 0.5 * overlap`` of the candidates
    embedded alone (with stored vectors, only the winner is), is below ``abstain_below``; None
    takes the threshold calibrated for the embedder in use (ABSTAIN_BELOW: 0.5 for
    all-MiniLM-L6-v2; eval/bench/abstain.py, docs/answers.md "Abstention"). With None it also
    abstains when the calibrated probability that the winner answers (qa/answer/abstention.py)
    is below ABSTAIN_PROBABILITY: a near-domain question passes support without being answered.
    An explicit ``abstain_below`` is a support threshold alone. ``abstain=False`` never abstains.
    In chat, the rewritten query's support and probability count too (the better of the two).
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
        self.retriever.cover(hits)
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
        candidates = self.candidates(question, hits, vectors)
        evidence = candidates.evidence
        best = evidence[0] if evidence else None
        score = support(evidence)
        threshold = self.settings.threshold(self.embedder.name)
        sure = self._probability(question, hits, evidence, vectors, score)  # None: no calibrated model
        if self._withholds(threshold, score, sure) and query != question and best is not None:
            # A follow-up names its subject only in the rewritten query ("What did he call for?"),
            # so it matches the sentence that answers it poorly on its own.
            rewritten = self.evidence(query, hits, query_vectors)
            score = max(score, support(rewritten))
            if sure is not None:
                sure = max(sure, self._probability(query, hits, rewritten, query_vectors, support(rewritten)) or 0.0)
        if best is None or self._withholds(threshold, score, sure):
            return Answer(question, query, NO_ANSWER_TEXT, None, True, (), tuple(hits), score, answer_confidence=sure)
        index = self.retriever.index
        cited = choose(candidates.sentences, candidates.scores, candidates.pairs, candidates.paired, texts_of(index))
        assert cited is not None  # there is a best sentence
        document = index.document(cited.doc_id)
        citation = Citation.verified(1, document, cited.start, cited.end)
        short = withheld = confidence = None
        if self.short_answers is not None:
            # Looked for in the best sentence when it is part of the answer proper (the span ranker
            # reads one sentence; eval/bench/spans.py), else in the answer proper: a heading quoted
            # with it repeats the question's words.
            inside = best.doc_id == cited.doc_id and cited.answer_start <= best.start and best.end <= cited.end
            start, end = (best.start, best.end) if inside else (cited.answer_start, cited.end)
            # Shown only when probably right (qa/answer/short/confidence.py); else the evidence stands alone.
            lead = best.score - evidence[1].score if len(evidence) > 1 else EVIDENCE_MARGIN_CAP
            found = self.short_answers.candidate(
                question, document.text[start:end], EvidenceSignals(score, lead, inside)
            )
            if found is not None:
                confidence = found.confidence
                phrase = ShortAnswer.verified(document, start + found.start, start + found.end)
                short, withheld = (phrase, None) if found.shown else (None, phrase)
        text = f"{citation.text} [{citation.n}]"
        return Answer(
            question,
            query,
            text,
            short,
            False,
            (citation,),
            tuple(hits),
            score,
            short_answer_confidence=confidence,
            withheld_short_answer=withheld,
            answer_confidence=sure,
            low_confidence=sure is not None and sure < SURE_PROBABILITY,
        )

    def _probability(
        self, question: str, hits: list[Hit], evidence: list[Evidence], vectors: QueryVectors | None, score: float
    ) -> float | None:
        """The calibrated probability that ``evidence`` answers (qa/answer/abstention.py); None for
        an embedder it was not calibrated for."""
        if self.embedder.name not in CALIBRATED:
            return None
        vectors = self.embedder.embed_query(question) if vectors is None else vectors
        return answer_probability(self.retriever.index, question, hits, evidence, vectors, score)

    def _withholds(self, threshold: float | None, score: float, sure: float | None) -> bool:
        """Abstain: support below the threshold, or, with the calibrated threshold (``abstain_below``
        None), a probability below ABSTAIN_PROBABILITY that the evidence answers."""
        if threshold is None:
            return False
        calibrated = self.settings.abstain_below is None and sure is not None
        return score < threshold or (calibrated and sure < ABSTAIN_PROBABILITY)

    def evidence(self, query: str, hits: list[Hit], vectors: QueryVectors | None = None) -> list[Evidence]:
        """The sentences of ``hits`` scored as evidence for ``query``, best first.

        ``vectors`` is the query's embedding (vector and tokens) when the caller has it. With stored sentence
        vectors every sentence is scored and only the best is also embedded alone (its ``cosine``;
        NaN for the others); without, the ``embed_top`` lexically best are embedded and returned.
        """
        return self.candidates(query, hits, vectors).evidence

    def candidates(self, query: str, hits: list[Hit], vectors: QueryVectors | None = None) -> Candidates:
        """``evidence``'s sentences and scores, with the adjacent pairs the cited span is chosen among."""
        return score(self.retriever.index, self.embedder, query, hits, vectors)


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
