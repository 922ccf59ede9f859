"""Near-domain abstention: fit the model of qa/answer/abstention.py on one half, report on the other.

    python -m eval.bench.abstention [--work DIR] [--sets squad1,squad2,guide,realdocs] [--fit] [--no-collect]

Sets, each asked with the ONNX MiniLM (``index.onnx_embedding``) and the default AnswerSettings
with abstention off (the decision is re-applied from the cached features):
- ``squad1``: all SQuAD v1.1 dev paragraphs indexed; its questions (answerable) and the
  hand-written near-domain questions of eval/goldsets/squad-near-domain.jsonl (the topic is in an
  article, the answer is not);
- ``squad2``: all SQuAD v2.0 dev paragraphs indexed; its questions (1,996 unanswerable, written to
  resemble answerable ones) and 300 SciFact train claims (out of corpus);
- ``guide``: the user guide (docs/guide); eval/goldsets/guide.jsonl and abstain-guide.jsonl
  (users' questions, off-topic ones, near-domain ones);
- ``realdocs``: eval/corpora/realdocs; eval/goldsets/realdocs.jsonl and realdocs-abstain.jsonl.
Halves: SQuAD questions by article (``eval.bench.common.article_halves``: the first six articles
"tune"), SciFact, guide and realdocs questions by a seeded hash of their id.

For each question the raw ingredients of ``qa.answer.abstention.signals`` are cached as JSON in
``--work`` (default ``../cache/abstain``, with the indexes): the winner and the runner-up's
scores, the passages' texts, the winner's per-token matches, the support, and whether the cited
span holds a gold answer (the evidence accuracy ``qa eval`` scores). ``--fit`` fits the logistic
model on the tune half (each group weighted equally), chooses the thresholds on tune, and prints
the constants for qa/answer/abstention.py; without it the constants in the code are evaluated.
Both print before (support < 0.5) and after, tune and check.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eval.bench.common import (
    CACHE,
    REPO,
    SCIFACT,
    SQUAD1,
    SQUAD2,
    add_shared_argument,
    article_halves,
    cached_rows,
    half_of,
    load_or_build,
    shared_folder,
    squad_documents,
)
from eval.metrics import abstention_scores, evidence_contains
from eval.questions import GoldQuestion, load_beir_queries, load_jsonl_questions, load_squad_questions
from index.loaders import iter_sources
from index.onnx_embedding import OnnxMiniLMEmbedder
from qa.answer import abstention
from qa.answer.abstention import ABSTAIN_PROBABILITY, MODEL, SIGNALS, SURE_PROBABILITY, Model, Signals
from qa.answer.evidence import WEIGHTS, Evidence, texts_of
from qa.answer.extractive import ABSTAIN_BELOW, AnswerSettings, ExtractiveAnswerer, support
from qa.answer.spans import choose
from qa.search.retrieval import Retriever

WORK = CACHE / "abstain"
GOLD = REPO / "eval" / "goldsets"
GUIDE = REPO / "docs" / "guide"
REALDOCS = REPO / "eval" / "corpora" / "realdocs"
SETS = ("squad1", "squad2", "guide", "realdocs")
SUPPORT_BELOW = ABSTAIN_BELOW["all-MiniLM-L6-v2"]
ANSWER_TARGET = 0.96  # SQuAD v1.1 questions answered on tune; the check target is 0.95
SMALL_SET_TARGET = 0.95  # the guide's 27 and realdocs' 40 tune questions: one or two misses
MAX_ACCURACY_DROP = 0.01  # of SQuAD v1.1 evidence accuracy on tune, from the support rule's


@dataclass(frozen=True, slots=True)
class Row:
    """One question as the answerer saw it: what ``abstention.signals`` reads, and the gold side."""

    group: str  # squad1, near, squad2, scifact, guide, guide-off, guide-near, realdocs, realdocs-near
    qid: str
    question: str
    answerable: bool
    half: str
    correct: bool  # the cited span holds a gold answer (answered with abstention off)
    best: tuple  # (text, cosine, overlap, token_match, score) of the winner; () without candidates
    second: float | None  # the runner-up's evidence score
    passages: tuple[str, ...]
    matches: tuple[float, ...]
    support: float
    scores: tuple[float, ...] = ()  # every candidate's evidence score, best first (research)
    token_matches: tuple[float, ...] = ()  # their token matches, same order (research)
    hit_scores: tuple[tuple[float, float, float], ...] = ()  # (dense, bm25, fused) of each passage

    def signals(self) -> Signals | None:
        if not self.best:
            return None
        text, cosine, overlap, token_match, score = self.best
        evidence = [Evidence("", 0, 0, text, 0, cosine, overlap, token_match, score)]  # the winner
        if self.second is not None:
            evidence.append(Evidence("", 0, 0, "", 0, float("nan"), 0.0, 0.0, self.second))
        return abstention.signals(self.question, evidence, self.passages, np.array(self.matches), self.support)


def seeded_half(qid: str) -> str:
    return "tune" if int(hashlib.sha256(f"abstention:{qid}".encode()).hexdigest(), 16) % 2 == 0 else "check"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class MemoEmbedder:
    """The ONNX embedder, remembering the sentences it embedded alone (winners repeat)."""

    def __init__(self, base: OnnxMiniLMEmbedder) -> None:
        self.base = base
        self.name, self.dim, self.fingerprint = base.name, base.dim, base.fingerprint
        self.memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            self.memo.update(zip(missing, self.base.embed(missing), strict=True))
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str):
        return self.base.embed_query(text)


def collect(index, embedder: MemoEmbedder, asked: Sequence[tuple[GoldQuestion, str, str]], label: str) -> list[Row]:
    """Ask each (question, group, half) as ``ExtractiveAnswerer.answer`` does, abstention off."""
    answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder, AnswerSettings(abstain=False), None)
    rows = []
    for n, (q, group, half) in enumerate(asked, 1):
        vectors = embedder.embed_query(q.question)
        hits = answerer.retriever.search(q.question, k=answerer.settings.passages, mode="hybrid", vector=vectors)
        candidates = answerer.candidates(q.question, hits, vectors)
        evidence = candidates.evidence
        correct, best, second, matches = False, (), None, ()
        if evidence:
            top = evidence[0]
            cited = choose(
                candidates.sentences, candidates.scores, candidates.pairs, candidates.paired, texts_of(index)
            )
            assert cited is not None
            quote = index.document(cited.doc_id).text[cited.start : cited.end]
            correct = bool(q.answers) and evidence_contains(quote, q.answers)
            best = (top.text, top.cosine, top.overlap, top.token_match, top.score)
            second = evidence[1].score if len(evidence) > 1 else None
            matches = tuple(float(x) for x in abstention.winner_matches(index, hits, top, vectors))
        rows.append(
            Row(
                group,
                q.qid,
                q.question,
                q.answerable,
                half,
                correct,
                best,
                second,
                tuple(h.text for h in hits),
                matches,
                support(evidence),
                tuple(float(e.score) for e in evidence),
                tuple(float(e.token_match) for e in evidence),
                tuple((float(h.scores.dense), float(h.scores.bm25), float(h.score)) for h in hits),
            )
        )
        if n % 250 == 0:
            print(f"  {label}: {n}/{len(asked)}", file=sys.stderr, flush=True)
    return rows


def _row(r: dict) -> Row:
    tuples = {k: tuple(r[k]) for k in ("best", "passages", "matches", "scores", "token_matches")}
    return Row(**{**r, **tuples, "hit_scores": tuple(map(tuple, r["hit_scores"]))})


def cached(path: Path, key: dict, compute: Callable[[], list[Row]]) -> list[Row]:
    return cached_rows(path, key, compute, _row)


def questions_of(name: str, shared: Path) -> tuple[Callable, list[tuple[GoldQuestion, str, str]]]:
    """The documents of set ``name`` (for ``load_or_build``) and its (question, group, half)."""
    if name in ("squad1", "squad2"):
        squad = shared / (SQUAD1 if name == "squad1" else SQUAD2)
        gold = load_squad_questions(squad)
        halves = article_halves(gold)
        asked = [(q, name, half_of(q, halves)) for q in gold]
        if name == "squad1":
            by_slug = {slug(t): h for t, h in halves.items()}
            for q in load_jsonl_questions(GOLD / "squad-near-domain.jsonl"):
                article = q.qid.removeprefix("near-").rsplit("-", 1)[0]
                asked.append((q, "near", by_slug[article]))
        else:
            claims = load_beir_queries(shared / SCIFACT, "train")
            claims = random.Random(0).sample(claims, 300)
            asked += [(GoldQuestion(c.qid, c.question, (), (), False), "scifact", seeded_half(c.qid)) for c in claims]
        return squad_documents(squad), asked
    if name == "guide":
        asked = [(q, "guide", seeded_half(q.qid)) for q in load_jsonl_questions(GOLD / "guide.jsonl")]
        for q in load_jsonl_questions(GOLD / "abstain-guide.jsonl"):
            group = "guide" if q.answerable else "guide-near" if q.qid.startswith("guide-near") else "guide-off"
            asked.append((q, group, seeded_half(q.qid)))
        return lambda: iter_sources([GUIDE]), asked
    asked = [(q, "realdocs", seeded_half(q.qid)) for q in load_jsonl_questions(GOLD / "realdocs.jsonl")]
    asked += [(q, "realdocs-near", seeded_half(q.qid)) for q in load_jsonl_questions(GOLD / "realdocs-abstain.jsonl")]
    return lambda: iter_sources([REALDOCS]), asked


def all_rows(shared: Path, work: Path, names: Sequence[str], collect_missing: bool) -> list[Row]:
    embedder: MemoEmbedder | None = None
    out: list[Row] = []
    for name in names:
        documents, asked = questions_of(name, shared)
        content = "".join(f"{q.qid}\t{q.question}\t{g}\t{h}\n" for q, g, h in asked)
        key = {"version": 2, "weights": asdict(WEIGHTS), "questions": hashlib.sha256(content.encode()).hexdigest()}
        if name in ("guide", "realdocs"):
            folder = GUIDE if name == "guide" else REALDOCS
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            key["content"] = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()

        def compute(name=name, documents=documents, asked=asked) -> list[Row]:
            nonlocal embedder
            if not collect_missing:
                raise SystemExit(f"no cached features for {name} (run without --no-collect)")
            if embedder is None:
                embedder = MemoEmbedder(OnnxMiniLMEmbedder())
            index = load_or_build(work / f"idx-{name}", embedder.base, documents)
            return collect(index, embedder, asked, name)

        out += cached(work / "features" / f"{name}.json", key, compute)
    return out


# --- fitting and reporting ------------------------------------------------------------------


def matrix(rows: Sequence[Row]) -> np.ndarray:
    """One row of signal values per question; rows without candidates get NaN (always abstain)."""
    values = []
    for r in rows:
        s = r.signals()
        values.append([float("nan")] * len(SIGNALS) if s is None else [float(getattr(s, n)) for n in SIGNALS])
    return np.array(values)


def fit(rows: Sequence[Row], x: np.ndarray, c: float) -> Model:
    """Logistic regression of answerable on the signals, each group weighing the same in total."""
    from sklearn.linear_model import LogisticRegression

    keep = ~np.isnan(x).any(axis=1)
    x, y = x[keep], np.array([r.answerable for r in rows])[keep]
    groups = np.array([r.group for r in rows])[keep]
    weights = np.zeros(len(y))
    for g in set(groups):
        for label in (True, False):
            part = (groups == g) & (y == label)
            if part.any():
                weights[part] = 1.0 / part.sum()
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((x - means) / scales, y, sample_weight=weights * len(y))
    return Model(
        round(float(model.intercept_[0]), 4),
        tuple(round(float(w), 4) for w in model.coef_[0]),
        tuple(round(float(m), 4) for m in means),
        tuple(round(float(s), 4) for s in scales),
    )


def probabilities(model: Model, x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x))
    for i, row in enumerate(x):
        if not np.isnan(row).any():
            out[i] = model.probability(Signals(*row))
    return out


def answered_share(rows, answered, group: str, half: str, answerable: bool | None = None) -> tuple[float, int]:
    pick = np.array(
        [r.group == group and r.half in half and (answerable is None or r.answerable == answerable) for r in rows]
    )
    return (float(answered[pick].mean()) if pick.any() else float("nan")), int(pick.sum())


def table(rows: Sequence[Row], decisions: dict[str, np.ndarray], halves: Sequence[str]) -> None:
    """Per group and half: answered share (answerable) or abstained share (not), per decision."""
    lines = [
        ("SQuAD v1.1 answered", "squad1", True, False),
        ("SQuAD v1.1 evidence accuracy", "squad1", True, "acc"),
        ("SQuAD near-domain abstained", "near", False, True),
        ("SQuAD v2.0 answerable answered", "squad2", True, False),
        ("SQuAD v2.0 unanswerable abstained", "squad2", False, True),
        ("SciFact claims (out of corpus) abstained", "scifact", False, True),
        ("guide answerable answered", "guide", True, False),
        ("guide near-domain abstained", "guide-near", False, True),
        ("guide off-topic abstained", "guide-off", False, True),
        ("realdocs answerable answered", "realdocs", True, False),
        ("realdocs evidence accuracy", "realdocs", True, "acc"),
        ("realdocs near-domain abstained", "realdocs-near", False, True),
    ]
    names = list(decisions)
    print("| | " + " | ".join(f"{n} {h}" for h in halves for n in names) + " |")
    print("|---|" + "---|" * (len(names) * len(halves)))
    correct = np.array([r.correct for r in rows])
    for title, group, answerable, how in lines:
        cells = []
        for h in halves:
            for n in names:
                answered = decisions[n]
                if how == "acc":
                    share, count = answered_share(rows, answered & correct, group, h, answerable)
                else:
                    share, count = answered_share(rows, answered, group, h, answerable)
                    share = 1 - share if how else share
                cells.append(f"{share:.3f} ({count})")
        print(f"| {title} | " + " | ".join(cells) + " |")
    for h in halves:
        pick = np.array([r.group == "squad2" and r.half in h for r in rows])
        unanswerable = [not r.answerable for r, p in zip(rows, pick, strict=True) if p]
        for n in names:
            a = abstention_scores(list(~decisions[n][pick]), unanswerable)
            print(f"SQuAD v2.0 {h} {n}: abstained {a.abstained}, P {a.precision:.3f} R {a.recall:.3f} F1 {a.f1:.3f}")


def choose_thresholds(rows: Sequence[Row], p: np.ndarray, floor: np.ndarray, sure_share: float) -> tuple[float, float]:
    """On tune: the highest abstain threshold that, with the support floor applied too, still
    answers >= ANSWER_TARGET of the SQuAD v1.1 questions and >= SMALL_SET_TARGET of the guide's and
    the real documents' answerable ones, and costs at most MAX_ACCURACY_DROP of SQuAD v1.1 evidence
    accuracy; the sure threshold is the one below which ``sure_share`` of the answered near-domain
    questions (SQuAD, guide, realdocs) fall: most of what is wrongly answered is marked low-confidence."""
    tune = np.array([r.half == "tune" for r in rows])
    correct = np.array([r.correct for r in rows])
    squad = tune & np.array([r.group == "squad1" for r in rows])
    before = (floor & correct)[squad].mean()
    best = 0.0
    for t in np.round(np.arange(0.01, 0.95, 0.01), 2):
        answered = floor & (p >= t)
        ok = before - (answered & correct)[squad].mean() <= MAX_ACCURACY_DROP
        for group, target in (("squad1", ANSWER_TARGET), ("guide", SMALL_SET_TARGET), ("realdocs", SMALL_SET_TARGET)):
            pick = tune & np.array([r.group == group and r.answerable for r in rows])
            if pick.any() and answered[pick].mean() < target:
                ok = False
        if ok:
            best = float(t)
    near = tune & floor & (p >= best) & np.array([r.group in ("near", "guide-near", "realdocs-near") for r in rows])
    sure = float(np.round(np.quantile(p[near], sure_share), 2)) if near.any() else best
    return best, max(sure, best)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--fit", action="store_true", help="fit the model on tune and print its constants")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation of the fit")
    parser.add_argument("--sure-share", type=float, default=0.67, help="near-domain answers marked low (tune)")
    parser.add_argument("--floor-only", action="store_true", help="fit only on questions above the support floor")
    parser.add_argument("--no-collect", action="store_true", help="use cached features only")
    args = parser.parse_args(argv)
    names = [n for n in args.sets.split(",") if n]
    rows = all_rows(shared_folder(args.shared), args.work, names, not args.no_collect)
    x = matrix(rows)
    supports = np.array([r.support for r in rows])
    model, low, sure = MODEL, ABSTAIN_PROBABILITY, SURE_PROBABILITY
    if args.fit:
        tune = [
            i for i, r in enumerate(rows) if r.half == "tune" and (not args.floor_only or r.support >= SUPPORT_BELOW)
        ]
        model = fit([rows[i] for i in tune], x[tune], args.c)
        low, sure = choose_thresholds(rows, probabilities(model, x), supports >= SUPPORT_BELOW, args.sure_share)
        print(f"MODEL = {model!r}\nABSTAIN_PROBABILITY = {low}\nSURE_PROBABILITY = {sure}")
        print("signals:", ", ".join(f"{n} {w:+.3f}" for n, w in zip(SIGNALS, model.weights, strict=True)))
    p = probabilities(model, x)
    decisions = {"before": supports >= SUPPORT_BELOW, "after": (supports >= SUPPORT_BELOW) & (p >= low)}
    print(f"\nbefore: support >= {SUPPORT_BELOW}; after: probability >= {low} (sure >= {sure})")
    table(rows, decisions, ("tune", "check"))
    band = decisions["after"] & (p < sure)
    correct = np.array([r.correct for r in rows])
    for h in ("tune", "check"):
        squad = np.array([r.group == "squad1" and r.half == h for r in rows])
        low_right, sure_right = correct[squad & band].mean(), correct[squad & decisions["after"] & ~band].mean()
        print(f"SQuAD v1.1 {h}: evidence right in the low-confidence band {low_right:.3f}, above it {sure_right:.3f}")
    for h in ("tune", "check"):
        for group in ("squad1", "near", "guide", "guide-near", "realdocs", "realdocs-near"):
            pick = np.array([r.group == group and r.half == h for r in rows])
            if pick.any():
                print(f"low-confidence band {h} {group}: {band[pick].mean():.3f} of {pick.sum()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
