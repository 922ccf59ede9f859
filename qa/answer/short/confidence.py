"""How likely the short answer is right: a small logistic model over the span ranker's margins and
the evidence behind the sentence, and the threshold above which a short answer is shown.

The span ranker's own confidence (its expected F1 under its softmax, qa/answer/short/ranker.py)
is relative to the sentence's candidates: a sentence with one candidate gets 1.0 whatever it is,
and it knows nothing of whether the sentence was the right one. This model reads it together
with the ranker's margin to the runner-up, the chosen phrase (length, entity, whether its entity
type is what the question asks for, whether the rules agree), the kind of question, and the
evidence (the support the abstention compares, the evidence score's lead over the next
sentence), and gives the probability that the short answer is right: SQuAD F1 >= 0.5 against the
gold answers.

The coefficients are measured constants written by ``python -m eval.train.short_confidence``:
fitted on the six SQuAD v1.1 dev "tune" articles, asked in the open setting (all paragraphs
indexed) with the span-ranker weights trained on the other six (so the ranker's margins are held
out, as on a user's documents), and checked on the "check" articles and the real-documents gold
set (docs/answers.md "Short-answer confidence"). ``SHOW_ABOVE`` is the lowest threshold whose
short answers were right at least 80% of the time on tune, out of fold (leave one article out)
and at the one-sided 95% lower bound: 0.861 there, 0.798 on check, 3 of 4 on the real documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa.answer.short.ranker import MARGIN_CAP, TYPED_GROUPS, Ranked


@dataclass(frozen=True, slots=True)
class EvidenceSignals:
    """What the answerer knows of the sentence the short answer was looked for in.

    ``support``: the abstention's support (``qa.answer.extractive.support``); ``margin``: the best
    sentence's evidence score minus the runner-up's (``EVIDENCE_MARGIN_CAP`` when alone);
    ``inside``: the short answer was looked for in the best sentence itself, not in a longer span.
    The defaults describe a sentence nothing is known about beyond its being chosen.
    """

    support: float = 1.0
    margin: float = 0.5
    inside: bool = True


EVIDENCE_MARGIN_CAP = 2.0
SUPPORT_RANGE = (0.0, 2.0)

# The model's inputs, in the order of its coefficients.
NAMES = (
    "bias",
    "expected_f1",
    "top_probability",
    "margin",
    "log_candidates",
    "log_words",
    "entity",
    "typed_match",
    "typed_question",
    "which",
    "how",
    "why",
    "called",
    "other",
    "rule_agrees",
    "closeness",
    "in_question",
    "wh_role",
    "runner_up",
    "support",
    "evidence_margin",
    "inside",
)

# python -m eval.train.short_confidence --write (fitted on 965 SQuAD tune candidates, L2 1).
COEFFICIENTS: dict[str, float] = {
    "bias": -5.1551,
    "expected_f1": 2.3864,
    "top_probability": 1.1662,
    "margin": 0.2323,
    "log_candidates": 0.4107,
    "log_words": -0.2484,
    "entity": 0.4709,
    "typed_match": -0.1980,
    "typed_question": 0.2291,
    "which": 0.1469,
    "how": -1.1457,
    "why": -0.0036,
    "called": -0.4038,
    "other": -0.9393,
    "rule_agrees": -0.0536,
    "closeness": 0.0628,
    "in_question": 0.1691,
    "wh_role": 0.2599,
    "runner_up": 1.6027,
    "support": 0.8988,
    "evidence_margin": 0.4372,
    "inside": 0.7771,
}
# Short answers whose confidence is below this are withheld (the evidence is shown alone).
SHOW_ABOVE = 0.74


def inputs(ranked: Ranked, evidence: EvidenceSignals) -> tuple[float, ...]:
    """The model's inputs for one short answer, in the order of ``NAMES``."""
    q = ranked.qtype
    low, high = SUPPORT_RANGE
    support = evidence.support if math.isfinite(evidence.support) else low
    return (
        1.0,
        ranked.expected_f1,
        ranked.top_probability,
        min(max(ranked.margin, 0.0), MARGIN_CAP),
        math.log(max(ranked.candidates, 1)),
        math.log(max(ranked.words, 1)),
        float(ranked.entity),
        float(ranked.typed_match),
        float(q in TYPED_GROUPS),
        float(q == "which"),
        float(q == "how"),
        float(q == "why"),
        float(q == "called"),
        float(q == "other"),
        float(ranked.rule_agrees),
        min(ranked.closeness, 3.0),
        ranked.in_question,
        float(ranked.wh_role),
        ranked.runner_up,
        min(max(support, low), high),
        min(max(evidence.margin, 0.0), EVIDENCE_MARGIN_CAP) if math.isfinite(evidence.margin) else EVIDENCE_MARGIN_CAP,
        float(evidence.inside),
    )


def confidence(ranked: Ranked, evidence: EvidenceSignals, coefficients: dict[str, float] = COEFFICIENTS) -> float:
    """The probability (0..1) that the short answer ``ranked`` chose is right (F1 >= 0.5)."""
    z = sum(coefficients[name] * x for name, x in zip(NAMES, inputs(ranked, evidence), strict=True))
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def in_words(p: float | None) -> str:
    """How sure the answerer is of a short answer, in words for people: "very likely" from 0.85,
    "likely" from 0.5, "unsure" below (only seen when ``show_above`` is set under 0.5)."""
    if p is None or not math.isfinite(p):
        return "unsure"
    return "very likely" if p >= 0.85 else "likely" if p >= 0.5 else "unsure"
