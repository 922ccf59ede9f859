"""Multi-turn chat on a conversational gold set: does rewriting follow-ups help?

    python -m eval.bench.chat [--index DIR] [--gold FILE] [--verbose] [--modes MODE ...]

Indexes the 447 SQuAD v1.1 dev paragraphs and the seed UN News article together with MiniLM (in a
temporary folder, or ``--index DIR``, built there when missing and reused after), then replays
every conversation of ``eval/goldsets/chat.jsonl`` through ``ChatSession`` once per mode (``MODES``):
each question as asked; rewritten (the default session); rewritten with evidence weighed against
the rewritten query instead of the question; the substituted form of the rewrite; and a naive
baseline that searches the previous question and the new one together. For each it prints,
separately for first turns and for follow-ups (turn > 1), and for the part of the gold written
before and after the rewriter:
- evidence accuracy: the first citation's quote contains a gold answer (official normalisation);
- hit@1 / hit@3 / hit@5: a gold document is among the top 1 / 3 / 5 documents retrieved for the
  query actually searched (the rewritten one when rewriting).
Citation exactness over every answer is printed too (anything under 100% is a bug), and the
rewriter's own time per follow-up.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.bench.answers import SHARED, SQUAD, citations_verify
from eval.metrics import evidence_contains, percentile
from index.build import build_index
from index.embedding import MiniLMEmbedder
from index.formats.corpora import iter_squad_documents
from index.loaders import iter_sources
from index.store import IndexDir, StoredIndex
from qa.answer.chat import ChatSession, Turn
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.rewrite import rewrite_followup
from qa.core.errors import QAError
from qa.search.retrieval import Retriever

GOLD = Path(__file__).resolve().parents[1] / "goldsets" / "chat.jsonl"
SEED = "seeds/000_e0905da38116da84.txt"
SPLITS = ("before", "after")  # gold written before the rewriter existed, and after it was frozen
KS = (1, 3, 5)


@dataclass(frozen=True, slots=True)
class ChatGold:
    """One turn of a gold conversation."""

    qid: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    conversation_id: str
    turn: int
    split: str


def load_chat_gold(path: str | Path = GOLD) -> list[list[ChatGold]]:
    """The conversations of a chat gold file, each in turn order; QAError naming the bad line."""
    path = Path(path)
    conversations: dict[str, list[ChatGold]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QAError(f"{path}: cannot read ({exc})") from exc
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            gold = ChatGold(
                str(r["id"]),
                str(r["question"]),
                tuple(str(a) for a in r["answers"]),
                tuple(str(d) for d in r["doc_ids"]),
                str(r["conversation_id"]),
                int(r["turn"]),
                str(r["split"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise QAError(f"{path}:{line_no}: not a chat gold line ({exc})") from exc
        if not gold.answers or not gold.doc_ids or r.get("answerable") is not True:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} needs answers, doc_ids and answerable: true")
        if gold.split not in SPLITS:
            raise QAError(f"{path}:{line_no}: split {gold.split!r} is not one of {SPLITS}")
        turns = conversations.setdefault(gold.conversation_id, [])
        if gold.turn != len(turns) + 1:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} is turn {gold.turn}, expected {len(turns) + 1}")
        turns.append(gold)
    return list(conversations.values())


def previous_question(question: str, turns: Sequence[Turn]) -> str:
    """Naive baseline: search the previous question and this one together."""
    return f"{turns[-1].question} {question}" if turns else question


MODES: dict[str, tuple[bool, Callable[[str, Sequence[Turn]], str], str]] = {
    # name: (rewrite, rewriter, what evidence sentences are weighed against)
    "as asked": (False, rewrite_followup, "question"),
    "rewritten": (True, rewrite_followup, "question"),
    "rewritten, evidence vs query": (True, rewrite_followup, "query"),
    "rewritten (substitute)": (True, lambda q, t: rewrite_followup(q, t, "substitute"), "question"),
    "+ previous question": (True, previous_question, "question"),
}


@dataclass
class Tally:
    n: int = 0
    evidence: int = 0
    verified: int = 0

    def __post_init__(self) -> None:
        self.hits = dict.fromkeys(KS, 0)

    def row(self) -> dict[str, float]:
        n = max(self.n, 1)
        return {"n": self.n, "evidence": self.evidence / n, **{f"hit@{k}": self.hits[k] / n for k in KS}}


def replay(
    answerer: ExtractiveAnswerer, conversations: list[list[ChatGold]], mode: str, verbose: bool = False
) -> tuple[dict[tuple[str, str], Tally], tuple[list[float], list[float]]]:
    """Tallies keyed by (turn kind, split), and the rewriter's wall and CPU milliseconds per follow-up."""
    rewrite, rewriter, evidence = MODES[mode]
    timed = _timed(rewriter)
    tallies: dict[tuple[str, str], Tally] = {}
    for conversation in conversations:
        session = ChatSession(answerer, rewrite=rewrite, rewriter=timed.call, evidence=evidence)
        for gold in conversation:
            answer = session.ask(gold.question)
            kind = "first turns" if gold.turn == 1 else "follow-ups"
            ranked = _doc_ranking(answerer.retriever, answer.rewritten_query, max(KS))
            right = bool(answer.citations) and evidence_contains(answer.citations[0].quote, gold.answers)
            for key in ((kind, gold.split), (kind, "all")):
                tally = tallies.setdefault(key, Tally())
                tally.n += 1
                tally.evidence += right
                tally.verified += citations_verify(answer, answerer.retriever.index)
                for k in KS:
                    tally.hits[k] += any(d in gold.doc_ids for d in ranked[:k])
            if verbose:
                mark = ("E" if right else "-") + ("R" if ranked[:1] and ranked[0] in gold.doc_ids else "-")
                print(f"  [{mode}] {mark} {gold.qid}: {answer.rewritten_query}")
    return tallies, (timed.ms, timed.cpu_ms)


def _doc_ranking(retriever: Retriever, query: str, k: int) -> list[str]:
    """Distinct document ids of the best chunks for ``query``, best first (a document's best chunk ranks it)."""
    ranked: list[str] = []
    for hit in retriever.search(query, k=3 * k):
        if hit.doc_id not in ranked:
            ranked.append(hit.doc_id)
    return ranked[:k]


@dataclass
class _timed:
    rewriter: Callable[[str, Sequence[Turn]], str]

    def __post_init__(self) -> None:
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []

    def call(self, question: str, turns: Sequence[Turn]) -> str:
        t, cpu = time.perf_counter(), time.thread_time()
        query = self.rewriter(question, turns)
        if turns:
            self.ms.append((time.perf_counter() - t) * 1000)
            self.cpu_ms.append((time.thread_time() - cpu) * 1000)
        return query


def load_or_build(index_dir: Path, embedder: MiniLMEmbedder, shared: Path) -> StoredIndex:
    if not IndexDir(index_dir).exists():
        sources = itertools.chain(iter_squad_documents(shared / SQUAD), iter_sources([shared / SEED]))
        report = build_index(sources, index_dir, embedder)
        print(f"built {report.documents} documents, {report.chunks} chunks in {report.seconds:.1f}s", flush=True)
    index = IndexDir(index_dir).load(embedder)
    index.document(Path(SEED).name)  # an index without the seed article cannot score its turns
    return index


def print_table(results: dict[str, dict[tuple[str, str], Tally]]) -> None:
    columns = ["evidence", *(f"hit@{k}" for k in KS)]
    print(f"\n{'turns':<24}{'n':>4}  {'mode':<22}" + "".join(f"{c:>10}" for c in columns))
    for kind, split in [("first turns", "all"), *(("follow-ups", s) for s in (*SPLITS, "all"))]:
        label = f"{kind} ({split})" if kind == "follow-ups" else kind
        modes = ["as asked"] if kind == "first turns" else list(results)
        for mode in modes:
            tally = results[mode].get((kind, split))
            if tally is None:
                continue
            row = tally.row()
            print(f"{label:<24}{row['n']:>4}  {mode:<22}" + "".join(f"{row[c]:>10.3f}" for c in columns))
            label = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--index", type=Path, help="index folder to reuse (built there when missing)")
    parser.add_argument("--verbose", action="store_true", help="print every query searched, E/R = evidence/hit@1")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES), help="modes to replay")
    args = parser.parse_args(argv)

    conversations = load_chat_gold(args.gold)
    embedder = MiniLMEmbedder()
    embedder.warm_up()
    results: dict[str, dict[tuple[str, str], Tally]] = {}
    rewrite_ms: list[float] = []
    rewrite_cpu_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        index = load_or_build(args.index or Path(tmp), embedder, args.shared)
        answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder)
        for mode in ["as asked", *(m for m in args.modes if m != "as asked")]:
            results[mode], times = replay(answerer, conversations, mode, args.verbose)
            if mode == "rewritten":
                rewrite_ms, rewrite_cpu_ms = times
    turns = sum(len(c) for c in conversations)
    print(f"\n== chat gold {args.gold.name}: {len(conversations)} conversations, {turns} turns")
    print_table(results)
    verified = {m: sum(t.verified for (_, s), t in r.items() if s == "all") / turns for m, r in results.items()}
    print("\ncitation exactness " + "  ".join(f"{m}: {100 * v:.1f}%" for m, v in verified.items()))
    if rewrite_ms:
        # Wall time includes waiting for a core on a shared machine; CPU time is the rewriter's own cost.
        print(
            f"rewrite time per follow-up: wall p50 {percentile(rewrite_ms, 50):.3f} ms, max {max(rewrite_ms):.3f} ms;"
            f" CPU p50 {percentile(rewrite_cpu_ms, 50):.3f} ms, max {max(rewrite_cpu_ms):.3f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
