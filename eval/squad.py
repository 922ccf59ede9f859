"""The official SQuAD v1.1 / v2.0 answer scorer (evaluate-v2.0.py), as importable functions.

Exact match and F1 are compared with published leaderboard figures, so the normalisation and
the edge cases below deliberately copy the official script rather than improve on it.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)  # ASCII only, as in the official script


def normalize_answer(s: str) -> str:
    """Lower text, remove punctuation, articles (a/an/the) and extra whitespace."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _gold_or_empty(gold_answers: Iterable[str]) -> list[str]:
    # evaluate-v2.0.py drops gold answers that normalise to nothing, and an unanswerable
    # question's only correct answer is the empty string.
    golds = [a for a in gold_answers if normalize_answer(a)]
    return golds or [""]


def _exact_one(gold: str, prediction: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(prediction))


def _f1_one(gold: str, prediction: str) -> float:
    gold_toks = normalize_answer(gold).split()
    pred_toks = normalize_answer(prediction).split()
    if not gold_toks or not pred_toks:
        # No-answer on either side: 1 if both are no-answer, else 0 (v2.0 rule).
        return float(gold_toks == pred_toks)
    num_same = sum((Counter(gold_toks) & Counter(pred_toks)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def exact_match(prediction: str, gold_answers: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer; () means unanswerable."""
    return max(_exact_one(gold, prediction) for gold in _gold_or_empty(gold_answers))


def f1(prediction: str, gold_answers: Sequence[str]) -> float:
    """Best token-bag F1 of the prediction against any gold answer; () means unanswerable."""
    return max(_f1_one(gold, prediction) for gold in _gold_or_empty(gold_answers))


def score_predictions(dataset: Mapping[str, Any], predictions: Mapping[str, str]) -> dict[str, float | int]:
    """Score ``{question id: answer text}`` against a parsed SQuAD JSON file (the whole dict).

    Returns percentages (0-100) like evaluate-v2.0.py: ``exact``, ``f1``, ``total``, plus
    ``HasAns_*`` when there are answerable questions and ``NoAns_*`` when there are
    unanswerable ones. A question missing from ``predictions`` scores 0 and stays in every
    total (v1.1 behaviour; v2.0 prints a warning and would leave it out).
    """
    golds = {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for article in dataset["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }
    return score_answers(golds, predictions)


def score_answers(golds: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> dict[str, float | int]:
    """``score_predictions`` over ``{question id: gold answer texts}``, ``[]`` meaning unanswerable."""
    exact: dict[str, float] = {}
    f1s: dict[str, float] = {}
    has_ans: dict[str, bool] = {}
    for qid, answers in golds.items():
        # The official script calls a question answerable iff its answers list is non-empty.
        has_ans[qid] = bool(answers)
        prediction = predictions.get(qid)
        if prediction is None:
            exact[qid] = f1s[qid] = 0.0
            continue
        exact[qid] = exact_match(prediction, answers)
        f1s[qid] = f1(prediction, answers)

    result: dict[str, float | int] = dict(_summary(exact, f1s, list(exact)))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, answerable in has_ans.items() if answerable is wanted]
        if qids:
            result.update({f"{prefix}_{key}": value for key, value in _summary(exact, f1s, qids).items()})
    return result


def _summary(exact: Mapping[str, float], f1s: Mapping[str, float], qids: Sequence[str]) -> dict[str, float | int]:
    total = len(qids)
    if total == 0:
        raise ValueError("dataset has no questions to score")
    return {
        "exact": 100.0 * sum(exact[q] for q in qids) / total,
        "f1": 100.0 * sum(f1s[q] for q in qids) / total,
        "total": total,
    }
