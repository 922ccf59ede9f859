"""Abstention: does the answerer refuse questions its documents cannot answer, and still answer the rest?

    python -m eval.bench.abstain [--work DIR] [--scifact N] [--threshold T] [--sweep]

Settings, each asked with the real all-MiniLM-L6-v2 model and the default AnswerSettings:
- ``tune-indexed``: only the six "tune" SQuAD v1.1 dev articles indexed; their questions are
  in-corpus, the six "check" articles' questions out-of-corpus (a different topic, same style);
- ``check-indexed``: the swap, to see that a threshold chosen on the first carries over;
- ``scifact``: SciFact train claims (a seeded sample) against all SQuAD v2.0 paragraphs,
  out-of-corpus, with the answerable v2.0 questions of that same index as the in-corpus side;
- ``squad2``: SQuAD v2.0 dev, all paragraphs indexed: abstention as a classifier of the
  unanswerable questions (precision, recall, F1);
- ``chat``: the conversations of eval/goldsets/chat.jsonl through ChatSession (follow-ups rewritten),
  SQuAD v1.1 and the seed article indexed: all in-corpus;
- ``guide``: eval/goldsets/abstain-guide.jsonl against the user guide (docs/guide): questions asked
  as a user would, and questions the guide cannot answer.

Per-question features (the passages' dense/BM25/fused scores, every embedded sentence's cosine,
overlap and evidence score, whether the best sentence holds a gold answer) are cached as JSON in
``--work`` (default ``../cache/abstain`` next to the repository, with the half-corpus indexes), so
a second run, a sweep or another decision rule costs no model time. A cache made with other
answer settings, other evidence weights (``qa.answer.extractive.WEIGHTS``) or another number of
questions is recomputed; the indexes are built once (eval/bench/common.py ``load_or_build``).
The decision measured here is the support check alone, ``qa.answer.extractive.support`` against
``AnswerSettings.abstain_below``; ``--threshold`` evaluates another value, ``--sweep`` prints a table
over thresholds. The answerer's second check, whether the evidence answers (near-domain questions,
qa/answer/abstention.py), is fitted and measured by eval/bench/abstention.py.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from eval.bench.common import (
    CACHE,
    HALVES,
    REPO,
    SCIFACT,
    SQUAD1,
    SQUAD2,
    add_shared_argument,
    article_halves,
    cached_rows,
    chat_index,
    half_of,
    load_or_build,
    minilm,
    shared_folder,
    squad_documents,
)
from eval.chat_gold import ChatGold, load_chat_gold
from eval.metrics import abstention_scores, evidence_contains
from eval.questions import GoldQuestion, load_beir_queries, load_jsonl_questions, load_squad_questions
from index.embedding import MINILM_NAME, MiniLMEmbedder, QueryVectors
from index.loaders import iter_sources
from index.sentences import sentence_spans
from index.store import StoredIndex
from qa.answer.chat import ChatSession
from qa.answer.extractive import ABSTAIN_BELOW, WEIGHTS, AnswerSettings, Evidence, ExtractiveAnswerer, support
from qa.core.types import Hit
from qa.search.retrieval import Retriever

WORK = CACHE / "abstain"
GUIDE = REPO / "docs" / "guide"
# Questions about the user guide asked as a user would, without looking at its wording, and
# questions it cannot answer: SQuAD's questions were written while reading their paragraph.
GUIDE_GOLD = REPO / "eval" / "goldsets" / "abstain-guide.jsonl"


@dataclass(frozen=True, slots=True)
class Features:
    """What the abstention decision may look at for one question, as the answerer saw it."""

    qid: str
    question: str
    in_corpus: bool  # the index holds a paragraph answering it
    hits: tuple[tuple[float, float, float], ...]  # (dense, bm25, fused) of each passage, best first
    evidence: tuple[tuple[float, float, float], ...]  # (cosine, overlap, score) of each sentence, best first
    correct: bool  # the best sentence holds a gold answer (in-corpus SQuAD questions only)
    # In a conversation, the same sentences weighed against the rewritten query when it differs.
    query_evidence: tuple[tuple[float, float, float], ...] = ()

    def support(self) -> float:
        """``qa.answer.extractive.support`` of the cached candidates, the better of question and query."""

        def rebuilt(scores: tuple[tuple[float, float, float], ...]) -> list[Evidence]:
            return [Evidence("", 0, 0, "", 0, cosine=c, overlap=o, token_match=0.0, score=s) for c, o, s in scores]

        return max(support(rebuilt(self.evidence)), support(rebuilt(self.query_evidence)))

    @classmethod
    def of(
        cls,
        gold: GoldQuestion | ChatGold,
        in_corpus: bool,
        hits: Sequence[Hit],
        evidence: Sequence[Evidence],
        query_evidence: Sequence[Evidence] = (),
    ) -> Features:
        """The features of what the answerer saw; ``correct`` only for in-corpus questions with answers."""
        return cls(
            gold.qid,
            gold.question,
            in_corpus,
            tuple((h.scores.dense, h.scores.bm25, h.score) for h in hits),
            _scores(evidence),
            bool(in_corpus and gold.answers and evidence and evidence_contains(evidence[0].text, gold.answers)),
            _scores(query_evidence),
        )


def _scores(evidence: Sequence[Evidence]) -> tuple[tuple[float, float, float], ...]:
    return tuple((e.cosine, e.overlap, e.score) for e in evidence)


class CachingEmbedder:
    """MiniLM with a memory of every text it embedded, filled in large batches up front.

    Answering embeds each candidate sentence one small batch at a time; embedding every sentence
    of the index and every question once, in batches of 64, makes collecting features several
    times faster and gives the same vectors up to float rounding.
    """

    def __init__(self, base: MiniLMEmbedder) -> None:
        self.base = base
        self.name, self.dim, self.fingerprint = base.name, base.dim, base.fingerprint
        self.vectors: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.base.embed(missing), strict=True))
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> QueryVectors:
        return self.base.embed_query(text)

    def prefill(self, index: StoredIndex, questions: Sequence[str]) -> None:
        """Embed every sentence any passage of ``index`` can offer, and the questions."""
        texts = list(questions)
        for chunk in index.chunks:
            text = index.documents[int(chunk["doc"])].text[int(chunk["start"]) : int(chunk["end"])]
            texts.extend(text[a:b] for a, b in sentence_spans(text))
        self.embed(texts)


def collect(answerer: ExtractiveAnswerer, questions: Sequence[tuple[GoldQuestion, bool]], label: str) -> list[Features]:
    """Ask each question as ``answer()`` does and keep the features, not the answer."""
    rows = []
    k = answerer.settings.passages
    for n, (q, in_corpus) in enumerate(questions, 1):
        vectors = answerer.embedder.embed_query(q.question)
        hits = answerer.retriever.search(q.question, k=k, mode="hybrid", vector=vectors.vector)
        evidence = answerer.evidence(q.question, hits, vectors)
        rows.append(Features.of(q, in_corpus, hits, evidence))
        if n % 250 == 0:
            print(f"  {label}: {n}/{len(questions)}", file=sys.stderr, flush=True)
    return rows


def collect_chat(answerer: ExtractiveAnswerer, conversations: list[list[ChatGold]]) -> list[Features]:
    """Replay each conversation as ``qa chat`` does (follow-ups rewritten), never abstaining."""
    rows = []
    for conversation in conversations:
        session = ChatSession(answerer)
        for gold in conversation:
            answer = session.ask(gold.question)
            hits = list(answer.hits)
            evidence = answerer.evidence(gold.question, hits)
            query = answer.rewritten_query
            rewritten = answerer.evidence(query, hits) if query != gold.question else []
            rows.append(Features.of(gold, True, hits, evidence, rewritten))
    return rows


def _features(r: dict) -> Features:
    return Features(
        r["qid"],
        r["question"],
        r["in_corpus"],
        tuple(map(tuple, r["hits"])),
        tuple(map(tuple, r["evidence"])),
        r["correct"],
        tuple(map(tuple, r.get("query_evidence", ()))),
    )


def cached(path: Path, key: dict, compute: Callable[[], list[Features]]) -> list[Features]:
    return cached_rows(path, key, compute, _features)


def all_features(shared: Path, work: Path, settings: AnswerSettings, scifact_n: int) -> dict[str, list[Features]]:
    """Each setting's per-question features, from the cache in ``work`` or computed (and cached)."""
    embedder: MiniLMEmbedder | None = None

    def model() -> MiniLMEmbedder:
        nonlocal embedder
        if embedder is None:
            embedder = minilm()
        return embedder

    squad1, squad2 = shared / SQUAD1, shared / SQUAD2
    v1 = load_squad_questions(squad1)
    halves = article_halves(v1)
    v2 = load_squad_questions(squad2)
    claims = load_beir_queries(shared / SCIFACT, "train")
    claims = random.Random(0).sample(claims, min(scifact_n, len(claims)))
    # Abstention is decided afterwards from the features, so its settings are no part of the key;
    # the evidence weights are constants of the code, and are.
    evidence_settings = {k: v for k, v in asdict(settings).items() if k not in ("abstain", "abstain_below")}
    key = {"settings": evidence_settings, "weights": asdict(WEIGHTS), "embedder": MINILM_NAME}

    def run(name: str, root: Path, squad: Path, keep: Callable[[str], bool], asked: list[tuple[GoldQuestion, bool]]):
        def compute() -> list[Features]:
            index = load_or_build(root, model(), squad_documents(squad, keep))
            embedder = CachingEmbedder(model())
            embedder.prefill(index, [q.question for q, _ in asked])
            answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder, settings)
            return collect(answerer, asked, name)

        return cached(work / "features" / f"{name}.json", {**key, "questions": len(asked)}, compute)

    out: dict[str, list[Features]] = {}
    for half in HALVES:
        asked = [(q, half_of(q, halves) == half) for q in v1]
        out[f"{half}-indexed"] = run(
            f"{half}-indexed", work / f"abst-{half}", squad1, lambda title, h=half: halves[title] == h, asked
        )
    whole = work / "abst-squad2"
    out["scifact"] = run("scifact", whole, squad2, lambda _: True, [(c, False) for c in claims])
    out["squad2"] = run("squad2", whole, squad2, lambda _: True, [(q, q.answerable) for q in v2])
    conversations = load_chat_gold()

    def chat() -> list[Features]:
        index = chat_index(work / "abst-chat", model(), shared)
        embedder = CachingEmbedder(model())
        embedder.prefill(index, [g.question for c in conversations for g in c])
        never = replace(settings, abstain=False)
        return collect_chat(ExtractiveAnswerer(Retriever(index, embedder), embedder, never), conversations)

    turns = sum(map(len, conversations))
    out["chat"] = cached(work / "features" / "chat.json", {**key, "questions": turns}, chat)

    def guide() -> list[Features]:
        with tempfile.TemporaryDirectory() as tmp:  # a few seconds to build; never stale
            index = load_or_build(Path(tmp), model(), lambda: iter_sources([GUIDE]))
        answerer = ExtractiveAnswerer(Retriever(index, model()), model(), settings)
        return collect(answerer, [(q, q.answerable) for q in load_jsonl_questions(GUIDE_GOLD)], "guide")

    texts = GUIDE_GOLD.read_text() + "".join(p.read_text() for p in sorted(GUIDE.glob("*.md")))
    guide_key = {**key, "content": hashlib.sha256(texts.encode()).hexdigest()}
    out["guide"] = cached(work / "features" / "guide.json", guide_key, guide)
    return out


def support_of(rows: Sequence[Features]) -> np.ndarray:
    return np.array([r.support() for r in rows])


@dataclass(frozen=True, slots=True)
class Rates:
    answered_in: float  # share of in-corpus questions answered
    abstained_out: float  # share of out-of-corpus questions abstained on
    correct_kept: float  # share of the in-corpus questions answered correctly that stay answered
    n_in: int
    n_out: int


def rates(rows: Sequence[Features], values: np.ndarray, threshold: float) -> Rates:
    inside = np.array([r.in_corpus for r in rows])
    correct = np.array([r.correct for r in rows])
    answered = values >= threshold
    return Rates(
        float(answered[inside].mean()) if inside.any() else float("nan"),
        float((~answered[~inside]).mean()) if (~inside).any() else float("nan"),
        float(answered[correct].mean()) if correct.any() else float("nan"),
        int(inside.sum()),
        int((~inside).sum()),
    )


def report(features: dict[str, list[Features]], threshold: float, sweep: Sequence[float]) -> None:
    values = {name: support_of(rows) for name, rows in features.items()}
    squad2 = features["squad2"]
    # The in-corpus side of SciFact-vs-SQuAD is the answerable v2.0 questions on the same index.
    answerable = [r for r in squad2 if r.in_corpus]
    sci_rows = list(features["scifact"]) + answerable
    sci_values = np.concatenate([values["scifact"], values["squad2"][[r.in_corpus for r in squad2]]])
    settings = [
        ("tune indexed: tune in, check out", features["tune-indexed"], values["tune-indexed"]),
        ("check indexed: check in, tune out", features["check-indexed"], values["check-indexed"]),
        ("all v2.0 indexed: answerable in, SciFact claims out", sci_rows, sci_values),
        ("chat gold, follow-ups rewritten: all in", features["chat"], values["chat"]),
        ("user guide: users' questions in, off-topic out", features["guide"], values["guide"]),
    ]
    print(f"\nabstain_below = {threshold:g} on support (qa.answer.extractive.support)")
    print("| setting | in-corpus answered | correct answers kept | out-of-corpus abstained |")
    print("|---|---|---|---|")
    for title, rows, v in settings:
        r = rates(rows, v, threshold)
        print(
            f"| {title} | {r.answered_in:.3f} of {r.n_in} | {r.correct_kept:.3f} | {r.abstained_out:.3f} of {r.n_out} |"
        )
    unanswerable = [not r.in_corpus for r in squad2]
    a = abstention_scores(list(values["squad2"] < threshold), unanswerable)
    print(
        f"\nSQuAD v2.0 dev, all paragraphs indexed ({len(squad2)} questions, {a.unanswerable} unanswerable):"
        f" abstained on {a.abstained}; precision {a.precision:.3f} recall {a.recall:.3f} F1 {a.f1:.3f}"
    )
    if not sweep:
        return
    print("\n| threshold | tune-idx in / out | check-idx in / out | SciFact out", end="")
    print(" | v2.0 answerable in | chat in | guide in / out | v2.0 P / R |")
    print("|---|---|---|---|---|---|---|---|")
    for t in sweep:
        a1 = rates(features["tune-indexed"], values["tune-indexed"], t)
        a2 = rates(features["check-indexed"], values["check-indexed"], t)
        s = rates(sci_rows, sci_values, t)
        c = rates(features["chat"], values["chat"], t)
        g = rates(features["guide"], values["guide"], t)
        a = abstention_scores(list(values["squad2"] < t), unanswerable)
        print(
            f"| {t:.2f} | {a1.answered_in:.3f} / {a1.abstained_out:.3f} | {a2.answered_in:.3f} / {a2.abstained_out:.3f}"
            f" | {s.abstained_out:.3f} | {s.answered_in:.3f} | {c.answered_in:.3f}"
            f" | {g.answered_in:.3f} / {g.abstained_out:.3f}"
            f" | {a.precision:.3f} / {a.recall:.3f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--work", type=Path, default=WORK, help="indexes and cached features")
    parser.add_argument("--scifact", type=int, default=300, help="SciFact train claims asked (seeded sample)")
    parser.add_argument("--threshold", type=float, default=ABSTAIN_BELOW[MINILM_NAME])
    parser.add_argument("--sweep", action="store_true", help="also print rates over a range of thresholds")
    args = parser.parse_args(argv)
    # Features are collected with abstention off: the decision is re-applied from the cache.
    settings = AnswerSettings()
    features = all_features(shared_folder(args.shared), args.work, settings, args.scifact)
    sweep = [round(t, 2) for t in np.arange(0.30, 0.86, 0.05)] if args.sweep else []
    report(features, args.threshold, sweep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
