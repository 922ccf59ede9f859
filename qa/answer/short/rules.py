"""Short answers by rules, without a parser: a typed phrase of the evidence sentence, near the question's words.

The question's wh-phrase says what kind of phrase is wanted (a year, a number, a name, ...);
regular expressions and capitalisation find candidate phrases of that kind in the sentence;
phrases made only of the question's own words are dropped (they are what the question already
says); and the candidate with the most question words close around it wins (each counted by
1 / distance in words, the noun after "what"/"which" twice), capitalised phrases first.
Questions with no typed phrase fall back to any run of content words; a typed question whose
pattern finds nothing (a "when" with no date in the sentence) gets no short answer.

These rules are no longer the short answer itself (qa/answer/short/finder.py ranks spaCy candidates);
their choice is one of the ranker's features, and their question kinds type the evidence score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answer.terms import STOPWORDS, WORD, content_terms, stem

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|twenty|thirty|"
    r"forty|fifty|sixty|seventy|eighty|ninety|hundred|dozens?|several|a few)"
)
_SCALE = r"(?:\s(?:thousand|million|billion|trillion))"
_UNIT = r"(?:\s?(?:%|percent|per cent|km|kilometres|kilometers|miles|metres|meters|feet|years|months|days|hours))"
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s\d{{1,2}},?\s\d{{4}}|\d{{1,2}}\s{_MONTH}\s\d{{4}}|{_MONTH}\s\d{{4}}|"
    rf"(?:early |late |mid-?)?\d{{4}}s?|\d{{1,2}}(?:st|nd|rd|th) century)\b"
)
_NUMBER = re.compile(
    rf"(?:[$£€]\s?)?\b(?:\d[\d,]*(?:\.\d+)?|{_NUMBER_WORD}(?:[- ]{_NUMBER_WORD})*){_SCALE}?{_UNIT}?(?![\w])",
    re.IGNORECASE,
)
# The phrase after a causal or naming cue answers "why" and "what is it called" questions.
_REASON = re.compile(r"\b(?:because(?: of)?|due to|as a result of|owing to|in order to|so that)\s+([^,;:.()]+)")
_CALLED = re.compile(r"\b(?:called|named|known as|termed|dubbed)\s+([^,;:.()]+)")
# The noun after "what"/"which" names the kind of thing asked for: the answer tends to stand next to it.
_FOCUS = re.compile(r"\b(?:what|which)\s+(\w+)", re.I)
_CLAUSE_BREAK = re.compile(r"[,;:()\"]")
_PERCENT = re.compile(r"\b\d[\d,]*(?:\.\d+)?\s?(?:%|percent|per cent)")
# Capitalised words, with the short function words that join names ("Bank of England").
_NAME_WORD = r"[A-Z](?:[\w'’-]|\.(?=\w))*"
_NAME = re.compile(rf"\b{_NAME_WORD}(?:\s(?:(?:of|the|and|de|du|von|van|for|la|le)\s)?{_NAME_WORD})*")


@dataclass(frozen=True, slots=True)
class _Kind:
    """What a question asks for: candidate patterns, best first."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    free: bool  # when no pattern matches, fall back to any content phrase


_KINDS: tuple[tuple[re.Pattern[str], _Kind], ...] = (
    (
        re.compile(r"\b(?:what|which) (?:percentage|percent|proportion|share)\b|\bhow much of\b", re.I),
        _Kind("percent", (_PERCENT, _NUMBER), False),
    ),
    (
        re.compile(
            r"\b(?:when|what (?:year|century|decade|date|month)|which (?:year|century|decade)|"
            r"(?:in|by|since|until) what (?:year|time))\b",
            re.I,
        ),
        _Kind("date", (_DATE,), False),
    ),
    (
        re.compile(r"\bhow (?:many|much|long|old|far|large|big|tall|high|deep|often|fast)\b", re.I),
        _Kind("number", (_NUMBER,), False),
    ),
    (re.compile(r"\bwhy\b", re.I), _Kind("why", (_REASON,), True)),
    (re.compile(r"\b(?:called|named|known as|termed|dubbed)\b", re.I), _Kind("called", (_CALLED,), True)),
    (re.compile(r"\b(?:who|whom|whose)\b", re.I), _Kind("who", (_NAME,), False)),
    (re.compile(r"\bwhere\b", re.I), _Kind("where", (_NAME,), False)),
    (
        re.compile(
            r"\b(?:which|what) (?:city|country|state|region|company|organi[sz]ation|person|team|group|"
            r"river|university|language|party|county|island|nation|town|body|court|name)\b",
            re.I,
        ),
        _Kind("entity", (_NAME,), True),
    ),
)
_GENERIC = _Kind("other", (), True)


def question_kind(question: str) -> _Kind:
    for pattern, kind in _KINDS:
        if pattern.search(question):
            return kind
    return _GENERIC


def has_phrase_of_kind(kind: _Kind, sentence: str, asked: set[str]) -> bool:
    """Whether ``sentence`` holds a phrase of a typed ``kind`` that the question does not already say."""
    return any(_new_phrases(pattern, sentence, asked) for pattern in kind.patterns)


def rule_short_answer(question: str, sentence: str) -> tuple[int, int] | None:
    """Span ``(start, end)`` of ``sentence`` answering ``question``, or None when none is found."""
    asked = content_terms(question)
    focus = _FOCUS.search(question)
    focus_stem = stem(focus.group(1)) if focus and focus.group(1).lower() not in STOPWORDS else None
    tokens = [
        (m.start(), m.end(), (2.0 if stem(m.group()) == focus_stem else 1.0) * (stem(m.group()) in asked))
        for m in WORD.finditer(sentence)
    ]
    kind = question_kind(question)
    for pattern in kind.patterns:
        best = _closest(_new_phrases(pattern, sentence, asked), tokens, sentence)
        if best is not None:
            return best
    if kind.free:
        return _closest(_free_phrases(sentence, asked), tokens, sentence)
    return None


def _new_phrases(pattern: re.Pattern[str], sentence: str, asked: set[str]) -> list[tuple[int, int]]:
    """Matches of ``pattern`` that add something to the question, trimmed of leading stopwords."""
    spans = []
    for m in pattern.finditer(sentence):
        span = _trim(sentence, *m.span(1 if pattern.groups else 0))
        if span is not None and content_terms(sentence[span[0] : span[1]]) - asked:
            spans.append(span)
    return spans


def _free_phrases(sentence: str, asked: set[str]) -> list[tuple[int, int]]:
    """Maximal runs of words that are neither stopwords nor question words, within a clause.

    "of" joins two runs ("Institute of Oncology"): SQuAD-style answers are whole noun phrases.
    """
    matches = list(WORD.finditer(sentence))
    outside = [m.group().lower() in STOPWORDS or stem(m.group()) in asked for m in matches]
    spans: list[tuple[int, int]] = []
    run: tuple[int, int] | None = None
    for i, m in enumerate(matches):
        clause_break = i > 0 and _CLAUSE_BREAK.search(sentence, matches[i - 1].end(), m.start())
        joins = (
            run is not None
            and m.group() == "of"
            and i + 1 < len(matches)
            and not outside[i + 1]
            and not _CLAUSE_BREAK.search(sentence, m.end(), matches[i + 1].start())
        )
        if run is not None and (clause_break or (outside[i] and not joins)):
            spans.append(run)
            run = None
        if not outside[i]:
            run = (run[0], m.end()) if run is not None else m.span()
    if run is not None:
        spans.append(run)
    return spans


def _trim(sentence: str, start: int, end: int) -> tuple[int, int] | None:
    words = [m for m in WORD.finditer(sentence, start, end)]
    # "May" is a month before it is a stopword.
    while words and words[0].group().lower() in STOPWORDS and not re.fullmatch(_MONTH, words[0].group()):
        words.pop(0)
    if not words:
        return None
    return words[0].start(), max(end if end > words[-1].end() else words[-1].end(), words[0].end())


def _closest(
    spans: list[tuple[int, int]], tokens: list[tuple[int, int, float]], sentence: str
) -> tuple[int, int] | None:
    """The span with the most question words around it, weighted by closeness (in words).

    A capitalised phrase (not just the sentence's first word) gets a bonus worth a question word
    two words away: names are what most factoid questions ask for.
    """
    if not spans:
        return None

    def score(span: tuple[int, int]) -> float:
        named = any(w[0].isupper() for w in sentence[span[0] : span[1]].split()) and span[0] > 0
        return _support(span, tokens) + 0.5 * named

    return max(spans, key=score)


def _support(span: tuple[int, int], tokens: list[tuple[int, int, float]]) -> float:
    inside = [i for i, (s, e, _) in enumerate(tokens) if s >= span[0] and e <= span[1]]
    if not inside:
        return 0.0
    first, last = inside[0], inside[-1]
    support = 0.0
    for i, (_, _, weight) in enumerate(tokens):
        if weight and not first <= i <= last:
            distance = first - i if i < first else i - last
            support += weight / distance
    return support
