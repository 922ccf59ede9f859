"""Train the short-answer span ranker (qa/answer/short/ranker.py) on SQuAD v1.1 dev and write its weights.

    python -m eval.train.short_answer [--articles tune|check|all] [--out qa/answer/short/weights.json]
                                      [--cache FILE] [--threshold T]

Each question's example is the sentence of its gold paragraph that holds the first gold answer,
with every candidate phrase labelled by its SQuAD F1 against the gold answers. The model is a
linear scorer trained listwise (softmax over a sentence's candidates, towards targets
proportional to F1², Adam, L2). "tune" trains on the first six articles and reports the other
six as held out ("check" the reverse, for a cross-fitted estimate; the same split as the
benchmarks', eval/bench/common.py); the committed weights are trained on all twelve
(``--articles all``), after settings were chosen tune -> check. Prints
conditional F1/EM (the sentence holds the answer) for the rules and the ranker on both halves,
and, for the held-out half, what each confidence threshold keeps. ``--cache`` keeps the spaCy
parses between runs (development only). The weights written are measured end to end with
``python -m eval.bench.answers --short-answer-weights FILE``. The SQuAD file is read from the
shared data folder as the benchmarks read it (eval/bench/common.py: ``--shared DIR``, else
``$QA_SHARED``, else ``../shared``).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.bench.common import TUNE_ARTICLES, add_shared_argument, shared_folder
from eval.squad import exact_match, f1
from index.sentences import sentence_spans
from qa.answer.short.nlp import doc_from_bytes, doc_to_bytes, parse
from qa.answer.short.ranker import FEATURES, WEIGHTS, choose, featurize, read_question
from qa.answer.short.rules import question_kind, rule_short_answer

SQUAD = "data/squad/dev-v1.1.json"
THRESHOLD = 0.1  # docs/answers.md: the coverage / F1 table behind it
MBR_TOP = 10


@dataclass(frozen=True, slots=True)
class Example:
    question: str
    sentence: str
    answers: tuple[str, ...]
    tune: bool


def examples(squad: Path) -> list[Example]:
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    out = []
    for n, article in enumerate(data):
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans = sentence_spans(context)
            for qa in paragraph["qas"]:
                where = qa["answers"][0]["answer_start"]
                sentence = next(((s, e) for s, e in spans if s <= where < e), None)
                if sentence is None:
                    continue
                answers = tuple(a["text"] for a in qa["answers"])
                tune = n < TUNE_ARTICLES
                out.append(Example(qa["question"], context[sentence[0] : sentence[1]], answers, tune))
    return out


def parses(texts: list[str], cache: Path | None) -> dict[str, bytes]:
    stored: dict[str, bytes] = pickle.loads(cache.read_bytes()) if cache and cache.exists() else {}
    missing = sorted(set(texts) - stored.keys())
    for i in range(0, len(missing), 256):
        batch = missing[i : i + 256]
        stored.update((t, doc_to_bytes(d)) for t, d in zip(batch, parse(batch)))
    if cache and missing:
        cache.write_bytes(pickle.dumps(stored))
    return stored


def featurized(items: list[Example], cache: Path | None) -> list[tuple[np.ndarray, np.ndarray, Example, list]]:
    docs = parses([t for e in items for t in (e.question, e.sentence)], cache)
    rows = []
    for e in items:
        question = read_question(e.question, doc_from_bytes(docs[e.question]), question_kind(e.question).name)
        scored = featurize(question, doc_from_bytes(docs[e.sentence]), rule_short_answer(e.question, e.sentence))
        labels = np.array([f1(e.sentence[a:b], e.answers) for a, b in scored.spans])
        rows.append((scored.features, labels, e, scored))
    return rows


def train(lists: list[tuple[np.ndarray, np.ndarray]], l2: float, iters: int, lr: float = 0.05) -> np.ndarray:
    """Listwise softmax regression, all questions in one batch (segment sums over a stacked matrix)."""
    lists = [(x, y) for x, y in lists if len(y) and y.max() > 0]
    features = np.vstack([x for x, _ in lists])
    sizes = np.array([len(y) for _, y in lists])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group = np.repeat(np.arange(len(sizes)), sizes)
    target = np.concatenate([y for _, y in lists]) ** 2
    target /= np.add.reduceat(target, starts)[group]
    w, m, v = (np.zeros(features.shape[1]) for _ in range(3))
    for it in range(1, iters + 1):
        s = features @ w
        e = np.exp(s - np.maximum.reduceat(s, starts)[group])
        p = e / np.add.reduceat(e, starts)[group]
        g = features.T @ (p - target) / len(sizes) + l2 * w
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= lr * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.999**it)) + 1e-8)
    return w


def scores(rows: list, w: np.ndarray) -> list[tuple[float, float, float]]:
    """(F1, EM, confidence) of the ranker's choice per example; no candidate scores 0."""
    out = []
    for _, _, e, scored in rows:
        choice = choose(scored, e.sentence, w, MBR_TOP)
        text = "" if choice is None else e.sentence[choice.start : choice.end]
        out.append((f1(text, e.answers), exact_match(text, e.answers), 0.0 if choice is None else choice.confidence))
    return out


def rules(rows: list) -> list[tuple[float, float]]:
    out = []
    for *_, e, _ in rows:
        span = rule_short_answer(e.question, e.sentence)
        text = "" if span is None else e.sentence[span[0] : span[1]]
        out.append((f1(text, e.answers), exact_match(text, e.answers)))
    return out


def summary(name: str, results: list) -> None:
    a = np.array(results, dtype=float)
    print(f"{name:34s} n={len(a):5d}  F1 {100 * a[:, 0].mean():5.1f}  EM {100 * a[:, 1].mean():5.1f}")


def thresholds(results: list) -> None:
    a = np.array(results, dtype=float)
    print("threshold  answered  F1(all)  EM(all)  F1(answered)  EM(answered)")
    for t in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5):
        kept = a[:, 2] >= t
        f, em = (a[:, 0] * kept).mean(), (a[:, 1] * kept).mean()
        fa, ea = (a[kept, 0].mean(), a[kept, 1].mean()) if kept.any() else (0.0, 0.0)
        print(f"{t:9.2f}  {kept.mean():8.3f}  {100 * f:7.1f}  {100 * em:7.1f}  {100 * fa:12.1f}  {100 * ea:12.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_argument(parser)
    parser.add_argument("--articles", choices=("tune", "check", "all"), default="all", help="train on these articles")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--cache", type=Path, help="pickle of spaCy parses kept between runs")
    parser.add_argument("--l2", type=float, default=3e-3)
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    args = parser.parse_args(argv)

    rows = featurized(examples(shared_folder(args.shared) / SQUAD), args.cache)
    tune = [r for r in rows if r[2].tune]
    check = [r for r in rows if not r[2].tune]
    trained_on = {"tune": tune, "check": check, "all": rows}[args.articles]
    w = train([(x, y) for x, y, *_ in trained_on], args.l2, args.iters)
    print(f"trained on {args.articles}: {len(trained_on)} questions, {len(FEATURES)} features")
    for name, part in (("tune", tune), ("check", check)):
        summary(f"{name}: rules", rules(part))
        summary(f"{name}: ranker", scores(part, w))
    held_out = {"tune": check, "check": tune, "all": rows}[args.articles]
    print(f"\nconfidence thresholds on {'the other half (held out)' if held_out is not rows else 'all (in sample)'}:")
    thresholds(scores(held_out, w))
    weights = {
        "trained_on": f"SQuAD v1.1 dev, {args.articles} articles, {len(trained_on)} gold sentences",
        "command": f"python -m eval.train.short_answer --articles {args.articles} --l2 {args.l2} --iters {args.iters}",
        "threshold": args.threshold,
        "mbr_top": MBR_TOP,
        "features": list(FEATURES),
        "weights": [round(float(x), 5) for x in w],
    }
    args.out.write_text(json.dumps(weights, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
