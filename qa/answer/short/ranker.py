"""Short answers by a small learned ranker over the candidate phrases of one parsed evidence sentence.

Candidates are what spaCy's parse offers as answer-sized phrases: named entities, noun chunks
("the Bank of Poland"), "X of Y" and coordinated chunks, numbers and single content words. Each
is described by a few dozen features: its entity type against the kind of question (a DATE for
"when"), how close it stands to the question's words in the sentence, whether it fills the
dependency role the wh-word fills in the question, the focus noun after "what"/"which", its
length, and whether the regular-expression rules (qa/answer/short/finder.py) chose it. A linear model
trained listwise on SQuAD (eval/train/short_answer.py) scores them; the softmax over candidates
is read as a distribution over the answer, and the candidate with the highest expected F1 against
it is returned (minimum Bayes risk), together with that expected F1 as its confidence.
Candidates made only of the question's own words are dropped (the question already says them),
and so are those made only of pronouns and function words.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.answer.terms import STOPWORDS, content_terms, stem
from qa.core.errors import QAError

if TYPE_CHECKING:
    from spacy.tokens import Doc

WEIGHTS = Path(__file__).with_name("weights.json")

QTYPES = ("date", "number", "percent", "who", "where", "entity", "why", "called", "what", "which", "how", "other")
_GROUP_OF_LABEL = {
    "PERSON": "person",
    "ORG": "org",
    "GPE": "place",
    "LOC": "place",
    "FAC": "place",
    "NORP": "norp",
    "DATE": "time",
    "TIME": "time",
    "CARDINAL": "num",
    "QUANTITY": "num",
    "MONEY": "num",
    "PERCENT": "num",
    "ORDINAL": "ord",
}
GROUPS = ("person", "org", "place", "norp", "time", "num", "ord", "other_ent", "none")
DEPS = ("nsubj", "dobj", "pobj", "attr", "appos", "conj", "compound", "ROOT", "amod", "npadvmod")
POS = ("PROPN", "NOUN", "NUM", "ADJ", "VERB")
SOURCES = ("ent", "np", "npof", "coord", "num", "word")
_WH = frozenset({"who", "whom", "whose", "what", "which", "when", "where", "why", "how"})
_DETERMINERS = frozenset({"the", "a", "an"})
_DEP_CLASS = {"nsubjpass": "nsubj", "csubj": "nsubj", "csubjpass": "nsubj", "iobj": "dobj", "dative": "dobj"}
# spaCy's stop words include "one", "two", "hundred": answers to "how many"; parts of speech do not.
_FUNCTION_POS = frozenset({"PRON", "DET", "ADP", "AUX", "CCONJ", "SCONJ", "PART"})
_MODIFIER = frozenset({"det", "advmod", "amod", "nummod"})
_FOCUS = re.compile(r"\b(?:what|which)\s+(\w+)", re.I)


def _feature_names() -> tuple[str, ...]:
    names = ["bias", "has_label", "sup", "log_sup", "in_question", "any_question_word", "log_len", "long"]
    names += [f"src_{s}" for s in SOURCES] + ["src_word_only", "capitalised", "dist", "adjacent", "left", "right"]
    names += ["left3", "right3", "window10", "head_in_question", "has_focus", "next_to_focus"]
    names += [f"dep_{d}" for d in DEPS] + [f"pos_{p}" for p in POS]
    names += ["wh_dep", "wh_head", "wh_dep_head", "rule_exact", "rule_f1", "src_subtree"]
    names += ["tree_dist", "tree_adjacent", "grand_head_in_question"]
    names += [f"{q}*{g}" for q in QTYPES for g in GROUPS]
    names += [f"{q}*dep_{d}" for q in QTYPES for d in DEPS]
    names += [f"{q}*log_len" for q in QTYPES] + [f"{q}*np" for q in QTYPES] + [f"{q}*capitalised" for q in QTYPES]
    return tuple(names)


FEATURES = _feature_names()


@dataclass(frozen=True, slots=True)
class Question:
    """What the ranker needs from a parsed question."""

    qtype: str
    asked: frozenset[str]  # stems of its content words
    focus: str | None  # stem of the noun after "what"/"which"
    wh_dep: str | None  # dependency role of the wh-phrase
    wh_head: str | None  # stem of the word the wh-phrase depends on


@dataclass(frozen=True, slots=True)
class Scored:
    """Candidate spans of a sentence (character offsets) with their feature rows."""

    spans: tuple[tuple[int, int], ...]
    features: np.ndarray  # (len(spans), len(FEATURES))


@dataclass(frozen=True, slots=True)
class ShortSpan:
    """Characters ``[start, end)`` of the sentence, and the model's expected F1 for them (0..1)."""

    start: int
    end: int
    confidence: float


@dataclass(frozen=True, slots=True)
class Model:
    weights: np.ndarray
    threshold: float  # no short answer when the chosen span's confidence is below this
    mbr_top: int  # candidates considered by the minimum-Bayes-risk choice

    @classmethod
    def from_json(cls, data: dict) -> Model:
        if tuple(data["features"]) != FEATURES:
            raise QAError(
                f"short-answer weights name {len(data['features'])} features, the code computes {len(FEATURES)}"
                " (or others); retrain: python -m eval.train.short_answer"
            )
        return cls(np.asarray(data["weights"], dtype=np.float64), float(data["threshold"]), int(data["mbr_top"]))


@cache
def load_model(path: Path = WEIGHTS) -> Model:
    return Model.from_json(json.loads(path.read_text(encoding="utf-8")))


def question_type(question: str, rule_kind: str) -> str:
    """The rules' answer kind when typed, else the wh-word ("what", "which", "how"), else "other"."""
    if rule_kind != "other":
        return rule_kind
    for word in re.findall(r"\w+", question.lower()):
        if word in ("what", "which", "how"):
            return word
    return "other"


def read_question(question: str, qdoc: Doc, rule_kind: str) -> Question:
    focus = _FOCUS.search(question)
    focus_stem = stem(focus.group(1)) if focus and focus.group(1).lower() not in STOPWORDS else None
    wh_dep = wh_head = None
    for token in qdoc:
        if token.lower_ in _WH:
            node = token
            # "how many people", "which river": the role is played by the noun the wh-word modifies
            while node.dep_ in _MODIFIER and node.head is not node and node.head.pos_ != "VERB":
                node = node.head
            wh_dep, wh_head = _DEP_CLASS.get(node.dep_, node.dep_), stem(node.head.text)
            break
    return Question(question_type(question, rule_kind), frozenset(content_terms(question)), focus_stem, wh_dep, wh_head)


def candidates(sdoc: Doc) -> dict[tuple[int, int], set[str]]:
    """Token ranges ``[a, b)`` of candidate phrases, each with where it came from."""
    spans: dict[tuple[int, int], set[str]] = {}

    def add(a: int, b: int, source: str) -> None:
        # SQuAD answers leave out leading articles and surrounding punctuation.
        while a < b and (sdoc[a].lower_ in _DETERMINERS or sdoc[a].is_punct):
            a += 1
        while b > a and sdoc[b - 1].is_punct and sdoc[b - 1].text != "%":
            b -= 1
        if a < b:
            spans.setdefault((a, b), set()).add(source)

    for ent in sdoc.ents:
        add(ent.start, ent.end, "ent:" + ent.label_)
    chunks = list(sdoc.noun_chunks)
    for i, chunk in enumerate(chunks):
        add(chunk.start, chunk.end, "np")
        following = chunks[i + 1] if i + 1 < len(chunks) else None
        if following is not None and following.start == chunk.end + 1 and sdoc[chunk.end].lower_ in ("of", "for", "in"):
            add(chunk.start, following.end, "npof")
        conj = [t for t in chunk.root.subtree if t.dep_ == "conj" and (t.head == chunk.root or t.head.dep_ == "conj")]
        if conj:
            last = max(conj, key=lambda t: t.i)
            ends = [c.end for c in chunks if c.start <= last.i < c.end]
            add(chunk.start, ends[0] if ends else last.i + 1, "coord")
        # a noun with its modifiers and prepositional phrases ("the ghost of le roi Huguet")
        left, right = chunk.root.left_edge.i, chunk.root.right_edge.i + 1
        if right - left <= 10 and (left, right) != (chunk.start, chunk.end):
            add(left, right, "subtree")
    for token in sdoc:
        if token.pos_ == "NUM":
            add(token.i, token.i + 1, "num")
        if token.pos_ in ("ADJ", "VERB", "NOUN", "PROPN") and not token.is_stop:
            add(token.i, token.i + 1, "word")
    return spans


def featurize(question: Question, sdoc: Doc, rule_span: tuple[int, int] | None) -> Scored:
    """Feature rows of the candidates of ``sdoc`` (spans in characters of ``sdoc.text``)."""
    asked = question.asked
    n_asked = max(1, len(asked))
    # Token attributes are read once: each spaCy attribute access builds a Python object.
    tokens = list(sdoc)
    texts = [t.text for t in tokens]
    punct = [t.is_punct for t in tokens]
    function = [t.pos_ in _FUNCTION_POS for t in tokens]
    stems = [stem(t) for t in texts]
    is_asked = [s in asked for s in stems]
    weight = [(2.0 if s == question.focus else 1.0) * q for s, q in zip(stems, is_asked)]
    matched = [i for i, q in enumerate(is_asked) if q]
    tree_distance = _tree_distances(sdoc, matched)
    rule_words = _norm_tokens(sdoc.text[rule_span[0] : rule_span[1]]) if rule_span else []
    qt = question.qtype
    rows: list[list[float]] = []
    spans: list[tuple[int, int]] = []
    for (a, b), sources in candidates(sdoc).items():
        words = [i for i in range(a, b) if not punct[i]]
        in_question = sum(is_asked[i] for i in words) / max(1, len(words))
        # The question's own words, or only pronouns and function words ("it", "which"), never answer it.
        if in_question >= 1.0 or all(function[i] for i in words):
            continue
        labels = {s[4:] for s in sources if s.startswith("ent:")}
        groups = {_GROUP_OF_LABEL.get(label, "other_ent") for label in labels} or {"none"}
        sup = sum(weight[i] / (a - i if i < a else i - b + 1) for i in matched if not a <= i < b)
        dist = min((min(abs(i - a), abs(i - (b - 1))) for i in matched), default=20)
        left3 = len({stems[i] for i in range(max(0, a - 3), a) if is_asked[i]}) / n_asked
        right3 = len({stems[i] for i in range(b, min(len(tokens), b + 3)) if is_asked[i]}) / n_asked
        window = {stems[i] for i in range(max(0, a - 10), min(len(tokens), b + 10)) if is_asked[i] and not a <= i < b}
        root = sdoc[a:b].root
        dep = _DEP_CLASS.get(root.dep_, root.dep_)
        head_token = root.head
        head = stems[head_token.i]
        capitalised = float(a > 0 and any(texts[i][:1].isupper() for i in words))
        n_words = max(1, len(words))
        is_np = float("np" in sources)
        focus = question.focus
        start, end = tokens[a].idx, tokens[b - 1].idx + len(texts[b - 1])
        text = sdoc.text[start:end]
        row = [1.0, float(bool(labels)), sup, math.log1p(sup), in_question, float(in_question > 0)]
        row += [math.log(n_words), float(n_words > 6)]
        row += [float(any(s.startswith("ent:") for s in sources))] + [float(s in sources) for s in SOURCES[1:]]
        row += [float(sources == {"word"}), capitalised, dist / 10, float(dist == 1)]
        row += [float(bool(matched) and b <= matched[0]), float(bool(matched) and a > matched[-1])]
        row += [left3, right3, len(window) / n_asked, float(head in asked)]
        row += [float(focus is not None and any(stems[i] == focus for i in range(a, b)))]
        beside = (b < len(tokens) and stems[b] == focus) or (a > 0 and stems[a - 1] == focus)
        row += [float(focus is not None and beside)]
        row += [float(dep == d) for d in DEPS] + [float(root.pos_ == p) for p in POS]
        wh_dep = question.wh_dep is not None and dep == question.wh_dep
        wh_head = head == question.wh_head
        row += [float(wh_dep), float(wh_head), float(wh_dep and wh_head)]
        row += [float(rule_span == (start, end)), _f1(_norm_tokens(text), rule_words)]
        row += [float("subtree" in sources)]
        tree = tree_distance[root.i]
        row += [min(tree, 10) / 10, float(tree == 1), float(stems[head_token.head.i] in asked)]
        row += [float(q == qt and g in groups) for q in QTYPES for g in GROUPS]
        row += [float(q == qt and dep == d) for q in QTYPES for d in DEPS]
        row += [float(q == qt) * math.log(n_words) for q in QTYPES]
        row += [float(q == qt) * is_np for q in QTYPES] + [float(q == qt) * capitalised for q in QTYPES]
        rows.append(row)
        spans.append((start, end))
    features = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    return Scored(tuple(spans), features)


def choose(scored: Scored, text: str, weights: np.ndarray, mbr_top: int) -> ShortSpan | None:
    """The candidate with the highest expected F1 under the model's softmax over candidates."""
    ranked = rank(scored, text, weights, mbr_top)
    return None if ranked is None else ranked.span


# The logit margin of a sentence with a single candidate, and the cap of any margin: past a few
# units the runner-up has no chance left, and the calibrated confidence should not read on.
MARGIN_CAP = 8.0
# The entity groups that answer each typed question kind (qa/answer/short/rules.py kinds).
TYPED_GROUPS: dict[str, frozenset[str]] = {
    "date": frozenset({"time"}),
    "number": frozenset({"num"}),
    "percent": frozenset({"num"}),
    "who": frozenset({"person", "org", "norp"}),
    "where": frozenset({"place", "org"}),
    "entity": frozenset({"person", "org", "place", "norp", "other_ent"}),
}
_COLUMN = {name: i for i, name in enumerate(FEATURES)}


@dataclass(frozen=True, slots=True)
class Ranked:
    """The ranker's choice and what its calibrated confidence reads (qa/answer/short/confidence.py).

    ``expected_f1`` is ``span.confidence``; ``top_probability`` the softmax probability of the best
    scored candidate; ``margin`` its score minus the runner-up's (MARGIN_CAP with one candidate);
    the rest describe the chosen phrase: its words, whether it is a named entity, whether its
    entity type is one the question's kind asks for, whether the rules chose it too, how close
    the question's words stand around it (``closeness``: log(1 + their summed 1/distance)), the
    share of its words the question already says, whether it fills the wh-phrase's role, and
    the expected F1 of the runner-up phrase (``runner_up``; 0 with one candidate).
    """

    span: ShortSpan
    qtype: str
    expected_f1: float
    top_probability: float
    margin: float
    candidates: int
    words: int
    entity: bool
    typed_match: bool
    rule_agrees: bool
    closeness: float = 0.0
    in_question: float = 0.0
    wh_role: bool = False
    runner_up: float = 0.0


def rank(scored: Scored, text: str, weights: np.ndarray, mbr_top: int) -> Ranked | None:
    """``choose``'s choice, with the margins and features of the chosen phrase."""
    if not scored.spans:
        return None
    logits = scored.features @ weights
    p = np.exp(logits - logits.max())
    p /= p.sum()
    top = np.argsort(-p, kind="stable")[:mbr_top]
    tokens = [_norm_tokens(text[scored.spans[i][0] : scored.spans[i][1]]) for i in top]
    expected = [sum(p[j] * _f1(tokens[x], tokens[y]) for y, j in enumerate(top)) for x in range(len(top))]
    best = int(np.argmax(expected))
    start, end = scored.spans[top[best]]
    row = scored.features[top[best]]
    ordered = np.sort(logits)[::-1]
    margin = min(float(ordered[0] - ordered[1]), MARGIN_CAP) if len(ordered) > 1 else MARGIN_CAP
    # Exactly one question type has one of its type x group columns set ("none" is a group).
    qtype = next((q for q in QTYPES if any(row[_COLUMN[f"{q}*{g}"]] for g in GROUPS)), "other")
    typed = TYPED_GROUPS.get(qtype, frozenset())
    return Ranked(
        span=ShortSpan(start, end, float(expected[best])),
        qtype=qtype,
        expected_f1=float(expected[best]),
        top_probability=float(p[top[0]]),
        margin=margin,
        candidates=len(scored.spans),
        words=max(1, len(tokens[best])),
        entity=bool(row[_COLUMN["has_label"]]),
        typed_match=any(row[_COLUMN[f"{qtype}*{g}"]] for g in typed),
        rule_agrees=bool(row[_COLUMN["rule_exact"]]),
        closeness=float(row[_COLUMN["log_sup"]]),
        in_question=float(row[_COLUMN["in_question"]]),
        wh_role=bool(row[_COLUMN["wh_dep"]]),
        runner_up=float(sorted(expected)[-2]) if len(expected) > 1 else 0.0,
    )


def _tree_distances(sdoc: Doc, sources: list[int]) -> list[int]:
    """Edges from each token to the nearest of ``sources`` in the dependency tree (10 when none)."""
    distance = [10] * len(sdoc)
    frontier = list(sources)
    for i in frontier:
        distance[i] = 0
    while frontier:
        following = []
        for i in frontier:
            token = sdoc[i]
            for j in (token.head.i, *(c.i for c in token.children)):
                if distance[j] > distance[i] + 1:
                    distance[j] = distance[i] + 1
                    following.append(j)
        frontier = following
    return distance


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _norm_tokens(text: str) -> list[str]:
    # SQuAD's answer normalisation: the expected F1 is taken in the metric being maximised.
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def _f1(a: list[str], b: list[str]) -> float:
    same = sum((Counter(a) & Counter(b)).values())
    if not same:
        return 0.0
    precision, recall = same / len(a), same / len(b)
    return 2 * precision * recall / (precision + recall)
