"""Calibrate the support threshold of LLM sentences (qa/llm/grounding.py) on SQuAD v1.1 dev.

    python -m eval.bench.grounding --index DIR [--gold FILE] [--limit 200] [--seed 0]

No language model is needed: claims of known status are made from the data, and each is scored
as a generated sentence citing no passage would be (best of every sentence of the top-5 passages):
- copied: a sentence of the retrieved passages that holds a gold answer, with 30% of its words
  dropped (small models mostly copy and compress); these should be supported;
- qa: the question restated with its gold answer ("What century did ...: 10th century.");
- topic: a sentence of the same article from a paragraph not retrieved (on topic, not in the passages);
- other: a sentence of another article; these two should not be supported;
- swapped: a copied claim with its gold answer replaced by another question's answer: a wrong
  detail in a right sentence, which a similarity threshold cannot catch (reported, not tuned on).
Prints each kind's score percentiles and the share accepted at each threshold. ``--index DIR`` is
the MiniLM index of the gold file's paragraphs (SQuAD v1.1 dev by default), built there when missing.
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import numpy as np

from eval.bench.common import SQUAD1, add_shared_argument, load_or_build, minilm, shared_folder, squad_documents
from eval.metrics import evidence_contains
from eval.questions import load_squad_questions
from index.sentences import sentence_spans
from qa.llm.grounding import Claim, GroundingSettings, candidates, find_support
from qa.search.retrieval import Retriever

KINDS = ("copied", "qa", "topic", "other", "swapped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index", type=Path, required=True, help="MiniLM index of the SQuAD dev paragraphs (built there when missing)"
    )
    add_shared_argument(parser)
    parser.add_argument("--gold", type=Path, help=f"SQuAD file (default {SQUAD1} of the shared folder)")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    gold = args.gold or shared_folder(args.shared) / SQUAD1
    rng = random.Random(args.seed)
    embedder = minilm()
    index = load_or_build(args.index, embedder, squad_documents(gold))
    retriever = Retriever(index, embedder)
    questions = load_squad_questions(gold)
    step = max(1, len(questions) // args.limit)
    sample = questions[::step][: args.limit]
    docs = [d.doc_id for d in index.documents]
    all_answers = [a for q in questions for a in q.answers[:1]]
    scores: dict[str, list[float]] = {k: [] for k in KINDS}
    complete: dict[str, list[bool]] = {k: [] for k in KINDS}  # every number and name found in the source
    settings = GroundingSettings(check_details=True)
    for q in sample:
        hits = retriever.search(q.question, k=5, mode="hybrid")
        retrieved = {h.doc_id for h in hits}
        claims: dict[str, str] = {}
        holding = [c.text for c in candidates(hits) if evidence_contains(c.text, q.answers)]
        if holding:
            claims["copied"] = _compress(holding[0], rng)
            wrong = rng.choice([a for a in all_answers if a not in q.answers])
            answer = next((a for a in q.answers if a in claims["copied"]), None)
            if answer:
                claims["swapped"] = claims["copied"].replace(answer, wrong, 1)
        claims["qa"] = f"{q.question.rstrip(' ?')}: {q.answers[0]}."
        article = q.doc_ids[0].rsplit("#", 1)[0]
        same = [d for d in docs if d.startswith(article + "#") and d not in retrieved]
        other = [d for d in docs if not d.startswith(article + "#")]
        if same:
            claims["topic"] = _sentence(index.document(rng.choice(same)).text, rng)
        claims["other"] = _sentence(index.document(rng.choice(other)).text, rng)
        kinds = list(claims)
        supports = find_support([Claim(claims[k], (), ()) for k in kinds], hits, embedder, settings)
        for kind, support in zip(kinds, supports, strict=True):
            scores[kind].append(support.score)
            complete[kind].append(not support.missing)
    print(f"{len(sample)} questions of {gold.name}; score = cosine + {settings.overlap_weight} x overlap\n")
    print("| claims | n | p5 | p25 | p50 | p75 | p95 |\n|---|---|---|---|---|---|---|")
    for kind in KINDS:
        v = np.array(scores[kind])
        p = np.percentile(v, [5, 25, 50, 75, 95]) if len(v) else [float("nan")] * 5
        print(f"| {kind} | {len(v)} | " + " | ".join(f"{x:.2f}" for x in p) + " |")
    print("\n| threshold | " + " | ".join(f"{k} accepted" for k in KINDS) + " |")
    print("|---" * (len(KINDS) + 1) + "|")
    for threshold in np.arange(0.6, 1.51, 0.1):
        shares = [np.mean(np.array(scores[k]) >= threshold) if scores[k] else float("nan") for k in KINDS]
        print(f"| {threshold:.1f} | " + " | ".join(f"{s:.3f}" for s in shares) + " |")
    print("\nWith the details rule (every number and name of the claim in the supporting sentence):\n")
    print("| threshold | " + " | ".join(f"{k} accepted" for k in KINDS) + " |")
    print("|---" * (len(KINDS) + 1) + "|")
    for threshold in np.arange(0.8, 1.21, 0.1):
        shares = [
            np.mean((np.array(scores[k]) >= threshold) & np.array(complete[k])) if scores[k] else float("nan")
            for k in KINDS
        ]
        print(f"| {threshold:.1f} | " + " | ".join(f"{s:.3f}" for s in shares) + " |")
    return 0


def _compress(sentence: str, rng: random.Random, keep: float = 0.7) -> str:
    words = sentence.split()
    kept = [w for w in words if rng.random() < keep] or words[:1]
    return re.sub(r"[,;:]$", "", " ".join(kept)).rstrip(".") + "."


def _sentence(text: str, rng: random.Random) -> str:
    spans = [s for s in sentence_spans(text) if len(text[s[0] : s[1]].split()) >= 6] or sentence_spans(text)
    start, end = rng.choice(spans)
    return text[start:end]


if __name__ == "__main__":
    raise SystemExit(main())
