"""Can the packaged language model read? SmolLM2-135M-Instruct as a judge of evidence (research).

    python -m eval.bench.llm_reader [--parts abstain,sentences,scifact] [--threads 1] [--claims 40]

The three targets of issues 15, 16 and 20 that no signal of the index reaches all ask for a
model that reads the question and a passage together. The only one this project can run offline
is SmolLM2-135M-Instruct (the ``llm`` extra, run by llama.cpp). This measures what it would give,
with two readings of it, before any product code is written for it:

- **judge**: the log-odds of "yes" against "no" as the first word of its reply to "Does the text
  answer the question?" (a pointwise relevance judge, as LLM rerankers prompt);
- **likelihood**: the mean log-probability of the question's tokens after the passage and "Write
  a question this passage answers." (query likelihood, the UPR reranker's score), which needs no
  instruction following.

Parts, each against the product's own figure on the same questions:
- ``abstain`` (issue 16): ROC AUC of answerable against near-domain questions, scoring the
  answerer's best sentence, on the cached rows of ``eval.bench.abstention`` (SQuAD v1.1 check
  half: up to 150 answerable questions, seeded, and the 48 near-domain ones; the real documents'
  79 and 20). The product's score is its abstention model's probability.
- ``sentences`` (issue 15): on the real-documents gold set, the answerer's five best candidate
  sentences re-chosen by each reading; evidence accuracy of the sentence alone, tune / check halves
  of ``eval.bench.spans``, against the product's best sentence alone and the five's oracle.
- ``scifact`` (issue 20): the product's first five passages of ``--claims`` SciFact train claims
  (check half, seeded) reordered by each reading; nDCG@10 against the product's.

Prints the figures and the model's cost per call (milliseconds, prompt tokens). Results:
docs/benchmarks.md, "A reading model".
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from eval.bench.common import CACHE, add_shared_argument, index_folder, load_or_build, minilm, shared_folder
from eval.metrics import evidence_contains, ndcg_at_k
from qa.core.errors import LLMUnavailable

SYSTEM = "You are a careful reader. Reply with yes or no."
PASSAGE_WORDS = 180  # a passage is cut to this many words: a 200-token chunk, and a bounded prompt
TOP = 5


def chatml(user: str) -> str:
    """SmolLM2-Instruct's chat template (ChatML), up to the assistant's first token."""
    return f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def cut(text: str, words: int = PASSAGE_WORDS) -> str:
    parts = text.split()
    return " ".join(parts[:words])


class Reader:
    """SmolLM2-135M-Instruct in process, scoring (question, passage) pairs two ways."""

    def __init__(self, threads: int) -> None:
        from llama_cpp import Llama  # research script: the product's one llama_cpp module is qa/llm/local.py

        from qa.llm.local import default_gguf_path

        self.threads = threads
        self.calls = self.tokens = 0
        self.seconds = 0.0
        self._llm = Llama(
            model_path=str(default_gguf_path()),
            n_ctx=2048,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=True,  # the likelihood reads every position's logits
            verbose=False,
        )
        self._yes = self._first_tokens(("yes", "Yes", " yes", " Yes"))
        self._no = self._first_tokens(("no", "No", " no", " No"))

    def _first_tokens(self, words: Sequence[str]) -> list[int]:
        return sorted({self._llm.tokenize(w.encode(), add_bos=False)[0] for w in words})

    def _logits(self, tokens: list[int], rows: slice) -> np.ndarray:
        """The logits at positions ``rows`` after reading ``tokens`` (only those rows are copied)."""
        began = time.perf_counter()
        self._llm.reset()
        self._llm.eval(tokens)
        logits = np.array(self._llm.scores[: len(tokens)][rows], dtype=np.float64)
        self.calls += 1
        self.seconds += time.perf_counter() - began
        self.tokens += len(tokens)
        return logits

    def _tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode(), add_bos=False, special=True)

    def judge(self, question: str, passage: str) -> float:
        """log P(yes) - log P(no) for the reply's first token."""
        prompt = chatml(f"Question: {question}\nText: {cut(passage)}\nDoes the text answer the question?")
        last = self._logits(self._tokens(prompt), slice(-1, None))[0]
        return float(np.logaddexp.reduce(last[self._yes]) - np.logaddexp.reduce(last[self._no]))

    def likelihood(self, question: str, passage: str) -> float:
        """Mean log-probability of the question's tokens written after the passage."""
        prefix = self._tokens(chatml(f"Passage: {cut(passage)}\nWrite a question this passage answers."))
        asked = self._tokens(question)
        rows = self._logits(prefix + asked, slice(len(prefix) - 1, -1))
        log_softmax = rows - np.logaddexp.reduce(rows, axis=1, keepdims=True)
        return float(log_softmax[np.arange(len(asked)), asked].mean())

    def cost(self) -> str:
        if not self.calls:
            return "no calls"
        return (
            f"{self.calls} calls, {1000 * self.seconds / self.calls:.0f} ms and {self.tokens / self.calls:.0f} "
            f"prompt tokens a call ({self.tokens / self.seconds:.0f} tokens/s, {self.threads} thread(s))"
        )


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney)."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


Readings = dict[str, Callable[[str, str], float]]


def readings(reader: Reader) -> Readings:
    return {"judge": reader.judge, "likelihood": reader.likelihood}


# --- issue 16: does the best sentence answer? ------------------------------------------------


def abstain_part(reader: Reader, shared: Path) -> None:
    from eval.bench.abstention import WORK, all_rows, matrix, probabilities
    from qa.answer.abstention import MODEL

    rows = [r for r in all_rows(shared, WORK, ["squad1", "realdocs"], collect_missing=False) if r.best]
    product = probabilities(MODEL, matrix(rows))
    answerable = [i for i, r in enumerate(rows) if r.group == "squad1" and r.half == "check"]
    sets = {
        "SQuAD v1.1 check: answerable vs near-domain": (
            random.Random(0).sample(answerable, min(150, len(answerable))),
            [i for i, r in enumerate(rows) if r.group == "near" and r.half == "check"],
        ),
        "real documents: answerable vs near-domain": (
            [i for i, r in enumerate(rows) if r.group == "realdocs"],
            [i for i, r in enumerate(rows) if r.group == "realdocs-near"],
        ),
    }
    print("\n## Abstention (issue 16): ROC AUC, answerable above near-domain\n")
    print("| questions | product (abstention model) | judge | likelihood |")
    print("|---|---|---|---|")
    for label, (pos, neg) in sets.items():
        cells = [f"{roc_auc(product[pos], product[neg]):.3f}"]
        for read in readings(reader).values():
            score = {i: read(rows[i].question, rows[i].best[0]) for i in pos + neg}
            cells.append(f"{roc_auc([score[i] for i in pos], [score[i] for i in neg]):.3f}")
        print(f"| {label} ({len(pos)} / {len(neg)}) | " + " | ".join(cells) + " |", flush=True)
    print(f"\ncost: {reader.cost()}")


# --- issue 15: which sentence answers? --------------------------------------------------------


def sentences_part(reader: Reader, realdocs_index: Path | None) -> None:
    from eval.bench.spans import REALDOCS, _half, ask_all
    from index.loaders import iter_sources

    gold = Path(__file__).resolve().parents[2] / "eval" / "goldsets" / "realdocs.jsonl"
    embedder = minilm()
    with index_folder(realdocs_index) as root:
        index = load_or_build(root, embedder, lambda: iter_sources([REALDOCS]))
        asked, _ = ask_all(index, gold, embedder, _half)
    choices: dict[str, list[int | None]] = {"product": [], "judge": [], "likelihood": [], "oracle": []}
    tops = []
    for a in asked:
        top = [] if a.abstained else a.candidates.evidence[:TOP]
        tops.append(top)
        right = [evidence_contains(e.text, a.answers) for e in top]
        choices["product"].append(0 if top else None)
        choices["oracle"].append(right.index(True) if any(right) else (0 if top else None))
        for name, read in readings(reader).items():
            scores = [read(a.question, e.text) for e in top]
            choices[name].append(int(np.argmax(scores)) if top else None)
    print("\n## Sentence choice (issue 15): evidence accuracy of the chosen sentence alone\n")
    print(f"Real documents, the answerer's {TOP} best candidate sentences; tune / check halves of eval.bench.spans.\n")
    print("| chosen by | tune | check | all |")
    print("|---|---|---|---|")
    labels = {
        "product": "the product's evidence score (its best sentence)",
        "judge": "the model, judge",
        "likelihood": "the model, likelihood",
        "oracle": f"oracle (any of the {TOP})",
    }
    for name, picks in choices.items():
        right = np.array(
            [
                p is not None and evidence_contains(t[p].text, a.answers)
                for a, t, p in zip(asked, tops, picks, strict=True)
            ]
        )
        halves = np.array([a.half for a in asked])
        cells = [f"{right[halves == h].mean():.3f}" for h in ("tune", "check")] + [f"{right.mean():.3f}"]
        print(f"| {labels[name]} | " + " | ".join(cells) + " |", flush=True)
    print(f"\ncost: {reader.cost()}")


# --- issue 20: which abstract is relevant? ----------------------------------------------------


def scifact_part(reader: Reader, shared: Path, claims: int) -> None:
    from eval.bench.rerank import corpus
    from qa.core.types import Hit
    from qa.search.retrieval import Retriever

    embedder = minilm()
    index, questions, halves = corpus("scifact", shared, CACHE / "rerank", embedder)
    check = [q for q, h in zip(questions, halves, strict=True) if h == "check"]
    chosen = random.Random(0).sample(check, min(claims, len(check)))
    retriever = Retriever(index, embedder)
    figures: dict[str, list[float]] = {"product": [], "judge": [], "likelihood": []}
    for q in chosen:
        hits = retriever.search(q.question, k=30, mode="hybrid")
        first: dict[str, Hit] = {}
        for hit in hits:  # the first passage of each document, in the product's order
            first.setdefault(hit.doc_id, hit)
        ranked = list(first.values())
        relevance = dict(q.relevance)
        figures["product"].append(ndcg_at_k([h.doc_id for h in ranked], relevance, 10))
        for name, read in readings(reader).items():
            scores = [read(q.question, h.text) for h in ranked[:TOP]]
            order = [ranked[i] for i in np.argsort(scores)[::-1]] + ranked[TOP:]
            figures[name].append(ndcg_at_k([h.doc_id for h in order], relevance, 10))
    print(f"\n## SciFact (issue 20): nDCG@10, the product's first {TOP} documents reordered\n")
    print(f"{len(chosen)} train claims of the check half (seeded sample).\n")
    print("| ranking | nDCG@10 |")
    print("|---|---|")
    for name, values in figures.items():
        print(f"| {name} | {np.mean(values):.4f} |", flush=True)
    print(f"\ncost: {reader.cost()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shared_argument(parser)
    parser.add_argument("--parts", default="abstain,sentences,scifact")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--claims", type=int, default=40, help="SciFact claims reranked")
    parser.add_argument("--realdocs-index", type=Path, help="a real-documents index folder (built there when empty)")
    args = parser.parse_args(argv)
    try:
        reader = Reader(args.threads)
    except (ImportError, LLMUnavailable) as exc:
        print(f"no model to measure ({exc}): QA_EXTRAS=llm bash scripts/setup.sh installs it", file=sys.stderr)
        return 2
    parts = args.parts.split(",")
    if "abstain" in parts:
        abstain_part(reader, shared_folder(args.shared))
    if "sentences" in parts:
        sentences_part(reader, args.realdocs_index)
    if "scifact" in parts:
        scifact_part(reader, shared_folder(args.shared), args.claims)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
