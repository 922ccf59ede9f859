"""Which span the answerer cites (qa/answer/spans.py): the best sentence alone, a heading with the
answer under it, or two adjacent sentences; and how the margins were chosen.

    python -m eval.bench.spans [--realdocs-index DIR] [--guide-index DIR] [--squad-index DIR] [--no-squad] [--no-grid]

Each index is built in the folder given (reused when it already holds one; a temporary folder
otherwise) from eval/corpora/realdocs, docs/guide and the committed SQuAD v1.1 cut
(tests/data/squad/dev-v1.1.json, 233 paragraphs, 1,198 questions). Every question is retrieved
and its candidate sentences scored once (``ExtractiveAnswerer.candidates``, the product's own
code); each variant then chooses its span from the same candidates, so the variants differ in
the choice alone. A question the answerer abstains on is a miss for every variant (abstention
does not look at the span). Printed per set: evidence accuracy (the cited span contains a gold
answer, as ``qa eval`` scores it), the share of citations longer than one sentence, and their
mean length in words.

Halves: the real-documents questions are split by document, "tune" (flex.pdf, gmpl.pdf,
nano.html, gitfaq.html: 45 questions) and "check" (fhs-3.0.pdf, developers-reference.pdf,
nano-faq.html: 34). The margins are chosen on "tune" alone: the grid's best accuracy there, ties
to the fewest multi-sentence citations; "check", the guide and SQuAD are reported, not tuned on.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np

from eval.bench.common import REPO, index_folder, load_or_build, minilm
from eval.goldset import load_gold
from eval.metrics import evidence_contains
from eval.squad import exact_match, f1
from index.embedding import Embedder
from index.formats.corpora import iter_squad_documents
from index.loaders import iter_sources
from index.sentences import sentence_spans
from index.store import StoredIndex
from qa.answer.extractive import AnswerSettings, Candidates, ExtractiveAnswerer, support
from qa.answer.shapes import Shape
from qa.answer.short.finder import ShortAnswerFinder
from qa.answer.spans import RULE, EvidenceSpan, SpanRule, choose
from qa.answer.terms import WORD
from qa.search.retrieval import Retriever

REALDOCS = REPO / "eval" / "corpora" / "realdocs"
GUIDE = REPO / "docs" / "guide"
SQUAD_CUT = REPO / "tests" / "data" / "squad" / "dev-v1.1.json"
TUNE_DOCUMENTS = frozenset({"flex.pdf", "gmpl.pdf", "nano.html", "gitfaq.html"})
NEVER = 1e9  # a margin no pair reaches
GRID = sorted({(p, c) for p in (0.1, 0.2, 0.3, 0.4, 0.5, NEVER) for c in (0.0, 0.1, 0.2, 0.3, p) if c <= p})

HOW_TO = re.compile(r"\bhow\s+(?:do|can|should|could|would|may|must|to)\b", re.IGNORECASE)
_VERBS = (
    "use|run|type|press|hit|add|set|put|edit|create|make|call|pass|specify|write|install|remove|delete|send|give|"
    "open|see|try|enter|invoke|link|include|check|configure|mark|submit|copy|move|change|define|declare|follow|"
    "start|stop|save|do|don't|don’t|select|choose|append|unset|bind|unbind|toggle|turn|build|compile|load|upload|"
    "ask|file|tell|read|look|go|consider|avoid|keep|let|contact|mail|post|report|register|apply|fix|update"
)
# An instruction: a verb first, maybe after "To do X," / "First," / "If X,".
IMPERATIVE = re.compile(
    rf"^\W*(?:(?:to\s+[^,.;]{{1,80}},|first,?|then,?|next,?|instead,?|simply|just|if\s+[^,.;]{{1,80}},)\s+)?(?:{_VERBS})\b",
    re.IGNORECASE,
)
# Procedural in the wide sense: an instruction, or a command, option, key or call.
CODE = re.compile(r"(?:^|\s)--?[A-Za-z][\w-]*|\^[A-Z]\b|\bM-\S\b|\bMeta-\S|`[^`]+`|\b\w+\(\)|\bgit\s+\w+")


@dataclass(frozen=True)
class Asked:
    """One question's candidates, scored once."""

    half: str
    question: str
    answers: tuple[str, ...]
    abstained: bool
    candidates: Candidates


Variant = Callable[[Asked, Callable[[str], str]], EvidenceSpan | None]


def ask_all(
    index: StoredIndex, gold: Path, embedder: Embedder, half: Callable[[str], str]
) -> tuple[list[Asked], Callable[[str], str]]:
    """Every question of ``gold`` retrieved and its candidates scored, as ``qa ask`` would (no short answers)."""
    answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder, short_answers=None)
    threshold = AnswerSettings().threshold(embedder.name)
    asked = []
    for q in load_gold(gold).questions:
        vectors = embedder.embed_query(q.question)
        hits = answerer.retriever.search(q.question, k=answerer.settings.passages, mode="hybrid", vector=vectors)
        candidates = answerer.candidates(q.question, hits, vectors)
        abstained = not candidates.evidence or (threshold is not None and support(candidates.evidence) < threshold)
        asked.append(Asked(half(q.doc_ids[0] if q.doc_ids else ""), q.question, q.answers, abstained, candidates))
    return asked, lambda doc_id: index.document(doc_id).text


def with_rule(rule: SpanRule) -> Variant:
    """The product's choice with margins ``rule``."""
    return lambda a, text_of: _choose(a.candidates, text_of, rule)


def _choose(c: Candidates, text_of, rule: SpanRule = RULE, scores=None, paired=None) -> EvidenceSpan | None:
    scores = c.scores if scores is None else scores
    paired = c.paired if paired is None else paired
    return choose(c.sentences, scores, c.pairs, paired, text_of, rule)


def best_alone(a: Asked, text_of) -> EvidenceSpan | None:
    """The answerer before: the best sentence alone."""
    if not a.candidates.evidence:
        return None
    e = a.candidates.evidence[0]
    return EvidenceSpan(e.doc_id, e.start, e.end, e.start, 1)


def best_and_next(a: Asked, text_of) -> EvidenceSpan | None:
    """A length baseline: the best sentence and the one after it, always."""
    span = best_alone(a, text_of)
    if span is None:
        return None
    text = text_of(span.doc_id)
    after = sentence_spans(text[span.end : span.end + 1500])
    end = span.end + after[0][1] if after else span.end
    return EvidenceSpan(span.doc_id, span.start, end, span.start, 2)


def without_shapes(rule: SpanRule) -> Variant:
    """Pairs only: no sentence is a heading or a lead-in."""

    def variant(a: Asked, text_of) -> EvidenceSpan | None:
        with mock.patch("qa.answer.spans.shape", lambda *_: Shape(heading=False, lead_in=False)):
            return _choose(a.candidates, text_of, rule)

    return variant


def how_to_bonus(weight: float, procedural: Callable[[str], bool]) -> Variant:
    """The chosen rule, with ``weight`` added to the score of procedural sentences (and of pairs
    holding one) when the question asks how to do something."""

    def variant(a: Asked, text_of) -> EvidenceSpan | None:
        c = a.candidates
        if not HOW_TO.search(a.question):
            return _choose(c, text_of)
        bonus = np.array([weight * procedural(s.text) for s in c.sentences])
        paired = np.array([s + max(bonus[i], bonus[j]) for (i, j), s in zip(c.pairs, c.paired, strict=True)])
        return _choose(c, text_of, scores=c.scores + bonus, paired=paired)

    return variant


def _half(doc_id: str) -> str:
    """The real-documents half a question about ``doc_id`` is in."""
    return "tune" if doc_id in TUNE_DOCUMENTS else "check"


def figures(asked: Sequence[Asked], text_of, variant: Variant) -> tuple[float, float, float]:
    """Evidence accuracy, share of multi-sentence citations, mean words of the citations."""
    right = longer = words = 0
    for a in asked:
        span = None if a.abstained else variant(a, text_of)
        if span is None:
            continue
        quote = text_of(span.doc_id)[span.start : span.end]
        right += evidence_contains(quote, a.answers)
        longer += span.sentences > 1
        words += len(WORD.findall(quote))
    n = max(len(asked), 1)
    return right / n, longer / n, words / n


def short_answer_f1(asked: Sequence[Asked], text_of: Callable[[str], str]) -> None:
    """Where the short answer is looked for when the cited span is more than the best sentence:
    in the best sentence (when it is part of the answer proper) or in the whole answer proper;
    SQuAD F1 and EM summed over the questions where the two differ."""
    finder = ShortAnswerFinder()
    sums = {"best sentence": [0.0, 0.0], "whole answer": [0.0, 0.0]}
    differ = 0
    for a in asked:
        span = None if a.abstained else _choose(a.candidates, text_of)
        best = a.candidates.evidence[0] if a.candidates.evidence else None
        if span is None or best is None or (span.start, span.end) == (best.start, best.end):
            continue
        differ += 1
        text = text_of(span.doc_id)
        inside = best.doc_id == span.doc_id and span.answer_start <= best.start and best.end <= span.end
        for name, piece in (
            ("best sentence", best.text if inside else text[span.answer_start : span.end]),
            ("whole answer", text[span.answer_start : span.end]),
        ):
            found = finder.span(a.question, piece)
            prediction = piece[found.start : found.end] if found else ""
            sums[name][0] += f1(prediction, a.answers)
            sums[name][1] += exact_match(prediction, a.answers)
    print(f"\nshort answers where the cited span is not the best sentence alone ({differ} of {len(asked)} questions):")
    for name, (f, em) in sums.items():
        print(f"  in the {name}: F1 sum {f:.1f}, EM sum {em:.0f} (F1 over all questions: {f / len(asked):.4f})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realdocs-index", type=Path)
    parser.add_argument("--guide-index", type=Path)
    parser.add_argument("--squad-index", type=Path)
    parser.add_argument("--no-squad", action="store_true", help="leave out the SQuAD cut (the slowest set)")
    parser.add_argument("--no-grid", action="store_true", help="only the before/after rows, no margin grid")
    args = parser.parse_args(argv)
    embedder = minilm()
    sets: dict[str, tuple[list[Asked], Callable]] = {}
    goldsets = REPO / "eval" / "goldsets"
    plan = [
        ("realdocs", args.realdocs_index, lambda: iter_sources([REALDOCS]), goldsets / "realdocs.jsonl"),
        ("guide", args.guide_index, lambda: iter_sources([GUIDE]), goldsets / "guide.jsonl"),
    ]
    if not args.no_squad:
        plan.append(("squad", args.squad_index, lambda: iter_squad_documents(SQUAD_CUT), SQUAD_CUT))
    for name, given, documents, gold in plan:
        with index_folder(given) as root:
            index = load_or_build(root, embedder, documents)
            sets[name] = ask_all(index, gold, embedder, _half if name == "realdocs" else lambda _: "all")
            print(f"{name}: {len(sets[name][0])} questions asked", flush=True)
    parts = {
        "realdocs tune": ([a for a in sets["realdocs"][0] if a.half == "tune"], sets["realdocs"][1]),
        "realdocs check": ([a for a in sets["realdocs"][0] if a.half == "check"], sets["realdocs"][1]),
        **{name: sets[name] for name in sets if name != "realdocs"},
    }

    def row(label: str, variant: Variant) -> list[tuple[float, float, float]]:
        out = [figures(asked, text_of, variant) for asked, text_of in parts.values()]
        cells = " | ".join(f"{acc:.3f} ({longer:.2f}, {words:.0f} w)" for acc, longer, words in out)
        print(f"| {label} | {cells} |", flush=True)
        return out

    print("\nevidence accuracy (share of multi-sentence citations, mean words) per set\n")
    print("| variant | " + " | ".join(parts) + " |")
    print("|---" * (len(parts) + 1) + "|")
    row("best sentence alone (before)", best_alone)
    row("best sentence + the next, always (length baseline)", best_and_next)
    row("headings and lead-ins only (no pairs)", with_rule(SpanRule(NEVER, NEVER)))
    row(f"pairs only, margins {RULE.pair_margin:g} / {RULE.continued_margin:g} (no headings)", without_shapes(RULE))
    row(f"committed: margins {RULE.pair_margin:g} / {RULE.continued_margin:g}", with_rule(RULE))
    if "squad" in sets:
        short_answer_f1(*sets["squad"])
    if args.no_grid:
        return
    grid = {}
    for pair, continued in GRID:
        label = f"margins {'never' if pair == NEVER else pair} / {'never' if continued == NEVER else continued}"
        grid[(pair, continued)] = row(label, with_rule(SpanRule(pair, continued)))
    chosen = max(grid, key=lambda k: (grid[k][0][0], -grid[k][0][1]))
    print(f"\nchosen on realdocs tune: pair_margin {chosen[0]:g}, continued_margin {chosen[1]:g}", flush=True)
    print(f"committed (qa/answer/spans.py RULE): {RULE.pair_margin:g} / {RULE.continued_margin:g}\n")
    for weight in (0.1, 0.2, 0.3):
        row(
            f"committed + how-to bonus {weight:g} (imperative)",
            how_to_bonus(weight, lambda t: bool(IMPERATIVE.search(t))),
        )
    for weight in (0.1, 0.2):
        row(
            f"committed + how-to bonus {weight:g} (imperative or code)",
            how_to_bonus(weight, lambda t: bool(IMPERATIVE.search(t) or CODE.search(t))),
        )


if __name__ == "__main__":
    main()
