"""Extractive answering on SQuAD v1.1 dev: evidence accuracy, short-answer EM/F1, exact citations, latency.

    python -m eval.bench.answers [--limit N] [--gold-paragraph] [--articles tune|check|all]
                                [--index DIR] [--passages K] [--short-answer-weights FILE] [--no-abstain]

Indexes the 447 paragraphs with MiniLM in a temporary folder (or ``--index DIR``, reused when it
exists) and asks every question with all paragraphs indexed (the open setting). Prints:
- evidence accuracy: the first citation's quote contains a gold answer, compared after the
  official SQuAD normalisation (lower case, no punctuation or articles), any occurrence;
- short-answer EM/F1 (official scorer), a question without a short answer scoring 0, and the
  share of questions with a short answer with EM/F1 on those;
- citation exactness: the share of answers that pass ``Answer.verify`` against the stored
  documents (every citation and the short answer); anything under 100% is a bug;
- latency p50/p95 of ``answer()`` (retrieval included).
An abstained question has no citation, so it counts as a miss unless ``--no-abstain``.
``--gold-paragraph`` answers from the gold paragraph alone (the evidence step under perfect retrieval).
``--short-answer-weights`` measures span-ranker weights other than the committed ones (as written
by ``python -m eval.train.short_answer --out FILE``).
The articles are split in two halves (eval/bench/common.py): "tune" (the first six in the file)
for choosing settings and "check" (the other six) to see that a choice carries over.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval.bench.common import (
    ARTICLES,
    SQUAD1,
    add_shared_argument,
    index_folder,
    load_or_build,
    minilm,
    select_articles,
    shared_folder,
    squad_documents,
)
from eval.metrics import evidence_contains, percentile
from eval.questions import GoldQuestion, load_squad_questions
from eval.squad import exact_match, f1
from index.store import StoredIndex
from qa.answer.extractive import AnswerSettings, ExtractiveAnswerer
from qa.answer.short.finder import ShortAnswerFinder
from qa.core.answers import Answer
from qa.core.errors import SpanMismatch
from qa.core.types import Hit, Scores, Span
from qa.search.retrieval import Retriever


@dataclass
class Tally:
    """Running sums over the questions asked."""

    questions: int = 0
    evidence: int = 0
    exact: float = 0.0
    f1: float = 0.0
    with_short: int = 0
    exact_short: float = 0.0
    f1_short: float = 0.0
    verified: int = 0
    abstained: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, gold: GoldQuestion, answer: Answer, index: StoredIndex, ms: float) -> None:
        self.questions += 1
        self.latencies_ms.append(ms)
        self.abstained += answer.abstained
        try:
            answer.verify(index)
            self.verified += 1
        except SpanMismatch:
            pass
        if answer.citations and evidence_contains(answer.citations[0].text, gold.answers):
            self.evidence += 1
        prediction = answer.short_answer.text if answer.short_answer is not None else ""
        em, f = exact_match(prediction, gold.answers), f1(prediction, gold.answers)
        self.exact += em
        self.f1 += f
        if answer.short_answer is not None:
            self.with_short += 1
            self.exact_short += em
            self.f1_short += f

    def report(self) -> dict[str, float]:
        n, s = self.questions, max(self.with_short, 1)
        return {
            "questions": n,
            "evidence_accuracy": self.evidence / n,
            "short_em": 100 * self.exact / n,
            "short_f1": 100 * self.f1 / n,
            "short_share": self.with_short / n,
            "short_em_answered": 100 * self.exact_short / s,
            "short_f1_answered": 100 * self.f1_short / s,
            "citation_exactness": self.verified / n,
            "abstained": self.abstained / n,
            "latency_ms_p50": percentile(self.latencies_ms, 50),
            "latency_ms_p95": percentile(self.latencies_ms, 95),
        }


def gold_hit(index: StoredIndex, doc_id: str) -> Hit:
    """The whole gold paragraph as the one passage retrieved."""
    doc = index.document(doc_id)
    return Hit(**Span.located(doc, 0, len(doc.text)), chunk_id=-1, score=0.0, scores=Scores(None, None))


def run(answerer: ExtractiveAnswerer, questions: list[GoldQuestion], gold_paragraph: bool) -> Tally:
    tally = Tally()
    index = answerer.retriever.index
    for q in questions:
        t = time.perf_counter()
        if gold_paragraph:
            answer = answerer.answer_from_hits(q.question, [gold_hit(index, q.doc_ids[0])])
        else:
            answer = answerer.answer(q.question)
        tally.add(q, answer, index, (time.perf_counter() - t) * 1000)
    return tally


def print_report(title: str, figures: dict[str, float]) -> None:
    f = figures
    print(f"\n== {title}: {f['questions']} questions")
    print(f"evidence accuracy (first citation holds a gold answer, normalised): {f['evidence_accuracy']:.4f}")
    print(f"short answer EM {f['short_em']:.2f}  F1 {f['short_f1']:.2f}  (no short answer scores 0)")
    print(
        f"short answers given {f['short_share']:.3f}; EM {f['short_em_answered']:.2f}"
        f"  F1 {f['short_f1_answered']:.2f} on those"
    )
    print(f"citation exactness {100 * f['citation_exactness']:.2f}%  abstained {f['abstained']:.3f}")
    print(f"answer() latency p50 {f['latency_ms_p50']:.1f} ms  p95 {f['latency_ms_p95']:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--limit", type=int, help="ask only the first N questions")
    parser.add_argument("--gold-paragraph", action="store_true", help="answer from the gold paragraph only")
    parser.add_argument("--articles", choices=ARTICLES, default="all")
    parser.add_argument("--index", type=Path, help="index folder to reuse (built there when missing)")
    parser.add_argument("--passages", type=int, default=AnswerSettings().passages)
    parser.add_argument("--no-abstain", action="store_true", help="never abstain (evidence of every question)")
    parser.add_argument(
        "--short-answer-weights", type=Path, help="span-ranker weights to measure instead of the committed ones"
    )
    args = parser.parse_args(argv)
    if args.short_answer_weights is not None and not args.short_answer_weights.is_file():
        parser.error(f"--short-answer-weights: no such file {args.short_answer_weights}")

    squad = shared_folder(args.shared) / SQUAD1
    finder = ShortAnswerFinder(args.short_answer_weights) if args.short_answer_weights else ShortAnswerFinder()
    finder.model()  # refuses weights made for other features before any model is loaded
    embedder = minilm()
    finder.warm_up()
    questions = select_articles(load_squad_questions(squad), args.articles, args.limit)
    settings = AnswerSettings(passages=args.passages, abstain=not args.no_abstain)
    with index_folder(args.index) as root:
        index = load_or_build(root, embedder, squad_documents(squad))
        answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder, settings, finder)
        answerer.answer(questions[0].question)  # first-call costs (caches, allocations) are not latency
        mode = "gold paragraph" if args.gold_paragraph else "open, all paragraphs indexed"
        tally = run(answerer, questions, args.gold_paragraph)
        print_report(f"SQuAD v1.1 dev ({args.articles} articles), {mode}", tally.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
