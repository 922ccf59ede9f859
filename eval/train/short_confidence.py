"""Calibrate the short answer's confidence (qa/answer/short/confidence.py) and choose the threshold
above which a short answer is shown.

    python -m eval.train.short_confidence [--work DIR] [--target 0.8] [--write]

Every question of SQuAD v1.1 dev (all 447 paragraphs indexed, the open setting) and of the
real-documents gold set (eval/goldsets/realdocs.jsonl over eval/corpora/realdocs) is asked with
the product's ``ExtractiveAnswerer``, and the short-answer candidate it considers is recorded:
the span ranker's choice and margins (``ShortAnswerFinder.rank``), the evidence signals the
answerer passes, the phrase and its SQuAD F1 / EM against the gold answers. A short answer is
"right" when its F1 is at least 0.5.

Cross-fitting. The committed span-ranker weights were trained on all twelve SQuAD articles, so
their margins are in-sample there and would look surer than on a user's documents. The SQuAD
questions are therefore asked with ranker weights trained on the other half
(``python -m eval.train.short_answer --articles tune|check --out FILE``, made here when missing):
the "tune" articles with the weights trained on "check", and the reverse. The logistic model is
fitted on tune alone; its threshold is chosen on tune out of fold (leave one article out: six
folds), as the lowest for which the short answers shown are right at least ``--target`` of the
time; check and the real documents (asked with the committed ranker, never trained on) are
reported, not tuned on. Printed: the coefficients, precision / coverage / EM / F1 before (the
ranker's own rule: expected F1 >= 0.1) and after, and precision/coverage curves per set (also
drawn in ``DIR/curves.html``). ``--write`` puts the coefficients and the threshold into
qa/answer/short/confidence.py.

Indexes (onnx backend), ranker weights, spaCy parses and the recorded candidates are kept in
``--work`` (default ../cache/short_confidence), so a refit takes seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.bench.common import (
    CACHE,
    REPO,
    SQUAD1,
    add_shared_argument,
    article_halves,
    article_of,
    half_of,
    load_or_build,
    shared_folder,
    squad_documents,
)
from eval.goldset import load_gold
from eval.questions import GoldQuestion, load_squad_questions
from eval.squad import exact_match, f1
from eval.svg import unit_chart
from index.loaders import iter_sources
from index.onnx_embedding import OnnxMiniLMEmbedder
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.short import confidence as product
from qa.answer.short.confidence import NAMES, EvidenceSignals, inputs
from qa.answer.short.finder import ShortAnswerFinder, ShortCandidate
from qa.answer.short.ranker import WEIGHTS, Ranked, ShortSpan
from qa.search.retrieval import Retriever

REALDOCS = REPO / "eval" / "corpora" / "realdocs"
REALDOCS_GOLD = REPO / "eval" / "goldsets" / "realdocs.jsonl"
RIGHT = 0.5  # a short answer is right when its F1 against the gold answers reaches this
BEFORE = 0.1  # the ranker's own rule before: shown when its expected F1 reaches this
L2 = 1.0
Z = 1.645  # the precision target must hold at the one-sided 95% lower bound on tune
GRID = [round(0.05 * i, 2) for i in range(2, 20)]
CONFIDENCE_FILE = REPO / "qa" / "answer" / "short" / "confidence.py"


@dataclass(frozen=True)
class Record:
    """One question asked: its part ("tune", "check", "realdocs"), and its short-answer candidate."""

    part: str
    article: str
    question: str
    answers: tuple[str, ...]
    abstained: bool
    ranked: Ranked | None
    evidence: EvidenceSignals | None
    text: str  # the candidate phrase, "" without one
    sentence: str  # where it was looked for
    f1: float
    em: float

    @property
    def right(self) -> bool:
        return self.f1 >= RIGHT


class Recorder:
    """Stands in for the answerer's ShortAnswerFinder and keeps what it was asked and chose."""

    def __init__(self, finder: ShortAnswerFinder) -> None:
        self.finder = finder
        self.seen: tuple[Ranked | None, EvidenceSignals, str] | None = None

    def candidate(self, question: str, sentence: str, evidence: EvidenceSignals) -> ShortCandidate | None:
        ranked = self.finder.rank(question, sentence)
        self.seen = (ranked, evidence, sentence)
        return None if ranked is None else self.finder.judge(ranked, evidence)


# --- asking --------------------------------------------------------------------------------


def ranker_weights(work: Path, half: str, shared: Path) -> Path:
    """Span-ranker weights trained on one SQuAD half (made with eval.train.short_answer when missing)."""
    out = work / f"w_{half}.json"
    if not out.is_file():
        command = [sys.executable, "-m", "eval.train.short_answer", "--articles", half, "--out", str(out)]
        command += ["--cache", str(work / "parses.pkl"), "--shared", str(shared)]
        subprocess.run(command, check=True, cwd=REPO)
    return out


def ask(answerer: ExtractiveAnswerer, recorder: Recorder, q: GoldQuestion, part: str, article: str) -> Record:
    recorder.seen = None
    answer = answerer.answer(q.question)
    ranked, evidence, sentence = recorder.seen if recorder.seen is not None else (None, None, "")
    text = "" if ranked is None else sentence[ranked.span.start : ranked.span.end]
    if ranked is not None and answer.short_answer_confidence is not None:
        shown = answer.short_answer or answer.withheld_short_answer
        assert shown is not None and shown.text == text  # the recorder saw what the answerer used
    return Record(
        part,
        article,
        q.question,
        q.answers,
        answer.abstained,
        ranked,
        evidence,
        text,
        sentence,
        f1(text, q.answers) if ranked else 0.0,
        exact_match(text, q.answers) if ranked else 0.0,
    )


def collect(work: Path, shared: Path) -> list[Record]:
    cache = work / "records.json"
    if cache.is_file():
        return [_record(d) for d in json.loads(cache.read_text(encoding="utf-8"))]
    weights = {"tune": ranker_weights(work, "check", shared), "check": ranker_weights(work, "tune", shared)}
    embedder = OnnxMiniLMEmbedder()
    records: list[Record] = []
    squad = shared / SQUAD1
    questions = load_squad_questions(squad)
    halves = article_halves(questions)
    index = load_or_build(work / "squad-idx", embedder, squad_documents(squad))
    for half in ("tune", "check"):
        recorder = Recorder(ShortAnswerFinder(weights[half]))
        answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder, short_answers=recorder)  # type: ignore[arg-type]
        asked = [q for q in questions if half_of(q, halves) == half]
        for n, q in enumerate(asked, 1):
            records.append(ask(answerer, recorder, q, half, article_of(q.doc_ids[0])))
            if n % 200 == 0:
                print(f"  squad {half}: {n} of {len(asked)}", flush=True)
    index = load_or_build(work / "realdocs-idx", embedder, lambda: iter_sources([REALDOCS]))
    recorder = Recorder(ShortAnswerFinder(WEIGHTS))
    answerer = ExtractiveAnswerer(Retriever(index, embedder), embedder, short_answers=recorder)  # type: ignore[arg-type]
    for q in load_gold(REALDOCS_GOLD).questions:
        records.append(ask(answerer, recorder, q, "realdocs", q.doc_ids[0] if q.doc_ids else ""))
    cache.write_text(json.dumps([dataclasses.asdict(r) for r in records]), encoding="utf-8")
    return records


def _record(data: dict) -> Record:
    """A record read back from ``records.json``."""
    ranked = data["ranked"]
    if ranked is not None:
        ranked = Ranked(**(ranked | {"span": ShortSpan(**ranked["span"])}))
    evidence = None if data["evidence"] is None else EvidenceSignals(**data["evidence"])
    return Record(**(data | {"answers": tuple(data["answers"]), "ranked": ranked, "evidence": evidence}))


# --- the model -----------------------------------------------------------------------------


def design(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels of the records that have a candidate."""
    rows = [r for r in records if r.ranked is not None and r.evidence is not None]
    x = np.array([inputs(r.ranked, r.evidence) for r in rows], dtype=np.float64).reshape(len(rows), len(NAMES))
    return x, np.array([r.right for r in rows], dtype=np.float64)


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2, iters: int = 50) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method (the bias is not penalised)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[NAMES.index("bias")] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def probabilities(records: Sequence[Record], w: np.ndarray) -> list[float | None]:
    """Each record's confidence under coefficients ``w`` (None without a candidate), through the product's code."""
    coefficients = dict(zip(NAMES, (float(v) for v in w), strict=True))
    return [
        None if r.ranked is None or r.evidence is None else product.confidence(r.ranked, r.evidence, coefficients)
        for r in records
    ]


def out_of_fold(records: Sequence[Record]) -> list[float | None]:
    """Confidences of the tune records, each from a model fitted without its article."""
    out: list[float | None] = [None] * len(records)
    for article in dict.fromkeys(r.article for r in records):
        inside = [r for r in records if r.article != article]
        w = fit(*design(inside))
        held = [i for i, r in enumerate(records) if r.article == article]
        for i, p in zip(held, probabilities([records[i] for i in held], w), strict=True):
            out[i] = p
    return out


# --- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    questions: int
    shown: int
    right: int
    em: float
    f1: float

    @property
    def precision(self) -> float:
        return self.right / self.shown if self.shown else float("nan")

    @property
    def coverage(self) -> float:
        return self.shown / self.questions if self.questions else float("nan")

    def cells(self) -> str:
        s = max(self.shown, 1)
        return (
            f"{self.precision:.3f} | {self.coverage:.3f} ({self.shown}/{self.questions}) | "
            f"{100 * self.em / s:.1f} / {100 * self.f1 / s:.1f} | "
            f"{100 * self.em / self.questions:.1f} / {100 * self.f1 / self.questions:.1f}"
        )


def shown(records: Sequence[Record], keep: Sequence[bool]) -> Shown:
    kept = [r for r, k in zip(records, keep, strict=True) if k and r.ranked is not None]
    return Shown(len(records), len(kept), sum(r.right for r in kept), sum(r.em for r in kept), sum(r.f1 for r in kept))


def at(records: Sequence[Record], p: Sequence[float | None], threshold: float) -> Shown:
    return shown(records, [x is not None and x >= threshold for x in p])


def lower_bound(right: int, n: int, z: float) -> float:
    """Wilson's lower confidence bound on a proportion ``right / n`` (``z`` 1.645: one-sided 95%; 0: the proportion)."""
    if n == 0:
        return 0.0
    p = right / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def choose_threshold(records: Sequence[Record], p: Sequence[float | None], target: float, z: float) -> float:
    """The lowest threshold of a 0.01 grid whose shown answers are right at least ``target`` of the
    time with confidence (Wilson's lower bound with ``z``; a handful of lucky answers do not decide)."""
    for t in (i / 100 for i in range(1, 100)):
        s = at(records, p, t)
        if s.shown and lower_bound(s.right, s.shown, z) >= target:
            return t
    return 1.0


def curve(records: Sequence[Record], p: Sequence[float | None]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, precision) at every distinct confidence: the precision/coverage curve."""
    values = sorted({x for x in p if x is not None}, reverse=True)
    out = []
    for t in values:
        s = at(records, p, t)
        out.append((t, s.coverage, s.precision))
    return out


def write_coefficients(w: np.ndarray, threshold: float, note: str) -> None:
    text = CONFIDENCE_FILE.read_text(encoding="utf-8")
    body = "".join(f'    "{name}": {float(v):.4f},\n' for name, v in zip(NAMES, w, strict=True))
    block = (
        f"# python -m eval.train.short_confidence --write ({note}).\n"
        f"COEFFICIENTS: dict[str, float] = {{\n{body}}}\n"
        "# Short answers whose confidence is below this are withheld (the evidence is shown alone).\n"
        f"SHOW_ABOVE = {threshold:.2f}\n"
    )
    pattern = re.compile(r"# python -m eval\.train\.short_confidence.*?\nSHOW_ABOVE = [0-9.]+\n", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{CONFIDENCE_FILE}: the COEFFICIENTS ... SHOW_ABOVE block was not found")
    CONFIDENCE_FILE.write_text(pattern.sub(lambda _: block, text, count=1), encoding="utf-8")
    print(f"wrote {CONFIDENCE_FILE}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--work", type=Path, default=CACHE / "short_confidence")
    parser.add_argument("--target", type=float, default=0.8, help="precision the threshold is chosen for, on tune")
    parser.add_argument(
        "--z", type=float, default=Z, help="Wilson bound of the precision on tune (0: the point estimate)"
    )
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--write", action="store_true", help="write the coefficients into the product module")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    records = collect(args.work, shared_folder(args.shared))
    parts = {name: [r for r in records if r.part == name] for name in ("tune", "check", "realdocs")}
    tune = parts["tune"]
    w = fit(*design(tune), l2=args.l2)
    print(f"\nfitted on tune: {len(design(tune)[1])} candidates, {design(tune)[1].mean():.3f} right")
    for name, v in zip(NAMES, w, strict=True):
        print(f"  {name:16s} {v:+.4f}")
    oof = out_of_fold(tune)
    threshold = choose_threshold(tune, oof, args.target, args.z)
    print(f"\nthreshold for precision >= {args.target} on tune (out of fold, z {args.z:g}): {threshold:.2f}")
    confidences = {
        "tune": oof,
        "check": probabilities(parts["check"], w),
        "realdocs": probabilities(parts["realdocs"], w),
    }
    before = {
        name: [r.ranked is not None and r.ranked.expected_f1 >= BEFORE for r in part] for name, part in parts.items()
    }
    print("\n| set | rule | precision (F1 >= 0.5) | coverage (shown / asked) | EM / F1 on shown | EM / F1 on all |")
    print("|---|---|---|---|---|---|")
    for name, part in parts.items():
        label = "tune (out of fold)" if name == "tune" else name
        print(f"| {label} | before: expected F1 >= {BEFORE} | {shown(part, before[name]).cells()} |")
        print(f"| {label} | after: confidence >= {threshold:.2f} | {at(part, confidences[name], threshold).cells()} |")
    print("\nprecision / coverage by threshold")
    print("| threshold | " + " | ".join(f"{n} P / C" for n in parts) + " |")
    print("|---" * (len(parts) + 1) + "|")
    for t in GRID:
        cells = [at(parts[n], confidences[n], t) for n in parts]
        print(f"| {t:.2f} | " + " | ".join(f"{c.precision:.3f} / {c.coverage:.3f}" for c in cells) + " |")
    print("\nreliability (mean confidence -> share right, in five groups of equal size)")
    for name in parts:
        pairs = sorted((p, r.right) for p, r in zip(confidences[name], parts[name], strict=True) if p is not None)
        bins = np.array_split(np.array(pairs, dtype=float), 5)
        print(f"  {name}: " + ", ".join(f"{b[:, 0].mean():.2f}->{b[:, 1].mean():.2f}" for b in bins if len(b)))
    operating = {name: at(parts[name], confidences[name], threshold) for name in parts}
    chart = unit_chart(
        {name: [(c, p) for _, c, p in curve(parts[name], confidences[name])] for name in parts},
        "Short answers: precision vs coverage",
        "coverage (short answers shown / questions asked)",
        "precision (shown with F1 >= 0.5)",
        {name: (s.coverage, s.precision) for name, s in operating.items()},
        level=args.target,
    )
    (args.work / "curves.html").write_text(f"<!DOCTYPE html><html><body>{chart}</body></html>\n", encoding="utf-8")
    summary = {
        "threshold": threshold,
        "coefficients": dict(zip(NAMES, map(float, w), strict=True)),
        "sets": {
            name: dataclasses.asdict(at(parts[name], confidences[name], threshold))
            | {"before": dataclasses.asdict(shown(parts[name], before[name]))}
            for name in parts
        },
    }
    (args.work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"\ncurves: {args.work / 'curves.html'}")
    if args.write:
        write_coefficients(w, threshold, f"fitted on {len(design(tune)[1])} SQuAD tune candidates, L2 {args.l2:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
