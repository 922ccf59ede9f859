"""Multi-turn chat on a conversational gold set: does rewriting follow-ups help?

    python -m eval.bench.chat [--index DIR] [--gold FILE] [--verbose] [--modes MODE ...]

Indexes the 447 SQuAD v1.1 dev paragraphs and the seed UN News article together with MiniLM (in a
temporary folder, or ``--index DIR``, built there when missing and reused after), then replays
every conversation of ``eval/goldsets/chat.jsonl`` once per mode (``MODES``): each question as
asked (``ChatSession(answerer, rewrite=False)``); rewritten (the default ``ChatSession``); and a
naive baseline, made here and not in the product, that searches the previous question and the new
one together (``answerer.answer(question, query=...)``). For each it prints, separately for first
turns and for follow-ups (turn > 1), and for each split of the gold (written before the rewriter,
after it, and the self-contained follow-ups; ``eval/chat_gold.py``):
- evidence accuracy: the first citation's quote contains a gold answer (official normalisation);
- hit@1 / hit@3 / hit@5: a gold document is among the top 1 / 3 / 5 documents retrieved for the
  query actually searched (the rewritten one when rewriting).
- changed: how many follow-ups were searched with a query other than the question as asked.
The "self-contained" split is also shown in its two parts: follow-ups that name their own subject
(which the rewriter should leave alone; those it changed are listed) and those that need the
history. Citation exactness over every answer (``Answer.verify``) is printed too (anything under
100% is a bug), and the rewriter's own time per follow-up.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval.bench.common import add_shared_argument, chat_index, index_folder, minilm, shared_folder
from eval.chat_gold import GOLD, SELF_CONTAINED, SPLITS, ChatGold, load_chat_gold
from eval.metrics import evidence_contains, percentile
from qa.answer.chat import ChatSession
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.rewrite import rewrite_followup
from qa.core.answers import Answer
from qa.core.errors import SpanMismatch
from qa.search.retrieval import Retriever

AS_ASKED, REWRITTEN, BASELINE = "as asked", "rewritten", "+ previous question"
MODES = (AS_ASKED, REWRITTEN, BASELINE)
KS = (1, 3, 5)
# The two parts of the "self-contained" split: follow-ups naming their own subject, and the others.
OWN_SUBJECT, NEEDS_HISTORY = f"{SELF_CONTAINED}: own subject", f"{SELF_CONTAINED}: needs history"


@dataclass
class PreviousQuestion:
    """Naive baseline: search the previous question and this one together (one turn back only)."""

    answerer: ExtractiveAnswerer
    questions: list[str] = field(default_factory=list)

    def ask(self, question: str) -> Answer:
        query = f"{self.questions[-1]} {question}" if self.questions else question
        self.questions.append(question)
        return self.answerer.answer(question, query=query)


def conversation(answerer: ExtractiveAnswerer, mode: str) -> ChatSession | PreviousQuestion:
    """A fresh conversation answered in ``mode``."""
    if mode == BASELINE:
        return PreviousQuestion(answerer)
    return ChatSession(answerer, rewrite=mode == REWRITTEN)


@dataclass
class Tally:
    n: int = 0
    evidence: int = 0
    verified: int = 0
    changed: int = 0  # searched with a query other than the question as asked

    def __post_init__(self) -> None:
        self.hits = dict.fromkeys(KS, 0)

    def row(self) -> dict[str, float]:
        n = max(self.n, 1)
        return {
            "n": self.n,
            "evidence": self.evidence / n,
            **{f"hit@{k}": self.hits[k] / n for k in KS},
            "changed": self.changed,
        }


@dataclass
class RewriteTimes:
    """The rewriter's wall and CPU milliseconds per follow-up."""

    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def time(self, session: ChatSession, question: str) -> None:
        """Rewrite ``question`` as ``session.ask`` is about to (same function, same turns), timed."""
        if not session.turns:
            return
        t, cpu = time.perf_counter(), time.thread_time()
        rewrite_followup(question, session.turns)
        self.ms.append((time.perf_counter() - t) * 1000)
        self.cpu_ms.append((time.thread_time() - cpu) * 1000)


def replay(
    answerer: ExtractiveAnswerer, conversations: list[list[ChatGold]], mode: str, verbose: bool = False
) -> tuple[dict[tuple[str, str], Tally], RewriteTimes, list[tuple[str, str]]]:
    """Tallies keyed by (turn kind, split), the rewriter's times per follow-up (rewritten mode), and
    the follow-ups naming their own subject that were searched with another query (id, query)."""
    times = RewriteTimes()
    own_changed: list[tuple[str, str]] = []
    tallies: dict[tuple[str, str], Tally] = {}
    index = answerer.retriever.index
    for gold_turns in conversations:
        session = conversation(answerer, mode)
        for gold in gold_turns:
            if mode == REWRITTEN:
                assert isinstance(session, ChatSession)
                times.time(session, gold.question)
            answer = session.ask(gold.question)
            kind = "first turns" if gold.turn == 1 else "follow-ups"
            ranked = _doc_ranking(answerer.retriever, answer.rewritten_query, max(KS))
            right = bool(answer.citations) and evidence_contains(answer.citations[0].text, gold.answers)
            try:
                answer.verify(index)
                verified = True
            except SpanMismatch:
                verified = False
            changed = answer.rewritten_query != gold.question
            if changed and gold.turn > 1 and gold.self_contained:
                own_changed.append((gold.qid, answer.rewritten_query))
            for key in ((kind, group) for group in groups(gold)):
                tally = tallies.setdefault(key, Tally())
                tally.n += 1
                tally.evidence += right
                tally.verified += verified
                tally.changed += changed
                for k in KS:
                    tally.hits[k] += any(d in gold.doc_ids for d in ranked[:k])
            if verbose:
                mark = ("E" if right else "-") + ("R" if ranked[:1] and ranked[0] in gold.doc_ids else "-")
                print(f"  [{mode}] {mark} {gold.qid}: {answer.rewritten_query}")
    return tallies, times, own_changed


def groups(gold: ChatGold) -> tuple[str, ...]:
    """The rows a turn counts in: its split, the part of the "self-contained" split, and "all"."""
    if gold.split == SELF_CONTAINED and gold.turn > 1:
        return (gold.split, OWN_SUBJECT if gold.self_contained else NEEDS_HISTORY, "all")
    return (gold.split, "all")


def _doc_ranking(retriever: Retriever, query: str, k: int) -> list[str]:
    """Distinct document ids of the best chunks for ``query``, best first (a document's best chunk ranks it)."""
    ranked: list[str] = []
    for hit in retriever.search(query, k=3 * k):
        if hit.doc_id not in ranked:
            ranked.append(hit.doc_id)
    return ranked[:k]


def print_table(results: dict[str, dict[tuple[str, str], Tally]]) -> None:
    columns = ["evidence", *(f"hit@{k}" for k in KS)]
    print(f"\n{'turns':<44}{'n':>4}  {'mode':<22}" + "".join(f"{c:>10}" for c in (*columns, "changed")))
    splits = (*SPLITS, OWN_SUBJECT, NEEDS_HISTORY, "all")
    for kind, split in [("first turns", "all"), *(("follow-ups", s) for s in splits)]:
        label = f"{kind} ({split})" if kind == "follow-ups" else kind
        modes = [AS_ASKED] if kind == "first turns" else list(results)
        for mode in modes:
            tally = results[mode].get((kind, split))
            if tally is None:
                continue
            row = tally.row()
            print(
                f"{label:<44}{row['n']:>4}  {mode:<22}"
                + "".join(f"{row[c]:>10.3f}" for c in columns)
                + f"{row['changed']:>10}"
            )
            label = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--index", type=Path, help="index folder to reuse (built there when missing)")
    parser.add_argument("--verbose", action="store_true", help="print every query searched, E/R = evidence/hit@1")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="modes to replay")
    args = parser.parse_args(argv)

    shared = shared_folder(args.shared)
    conversations = load_chat_gold(args.gold)
    embedder = minilm()
    results: dict[str, dict[tuple[str, str], Tally]] = {}
    times = RewriteTimes()
    own_changed: list[tuple[str, str]] = []
    with index_folder(args.index) as root:
        index = chat_index(root, embedder, shared)
        answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder)
        for mode in [AS_ASKED, *(m for m in args.modes if m != AS_ASKED)]:  # first turns are read from "as asked"
            results[mode], mode_times, mode_changed = replay(answerer, conversations, mode, args.verbose)
            if mode == REWRITTEN:
                times, own_changed = mode_times, mode_changed
    turns = sum(len(c) for c in conversations)
    print(f"\n== chat gold {args.gold.name}: {len(conversations)} conversations, {turns} turns")
    print_table(results)
    verified = {m: sum(t.verified for (_, s), t in r.items() if s == "all") / turns for m, r in results.items()}
    print("\ncitation exactness " + "  ".join(f"{m}: {100 * v:.1f}%" for m, v in verified.items()))
    if REWRITTEN in results:
        own = results[REWRITTEN].get(("follow-ups", OWN_SUBJECT), Tally())
        print(f"follow-ups naming their own subject that the rewriter changed: {own.changed} of {own.n}")
        for qid, query in own_changed:
            print(f"  {qid}: {query}")
    if times.ms:
        # Wall time includes waiting for a core on a shared machine; CPU time is the rewriter's own cost.
        print(
            f"rewrite time per follow-up: wall p50 {percentile(times.ms, 50):.3f} ms, max {max(times.ms):.3f} ms;"
            f" CPU p50 {percentile(times.cpu_ms, 50):.3f} ms, max {max(times.cpu_ms):.3f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
