"""Words of questions and sentences, as offsets and as normalised terms for overlap counting.

A light suffix stripper is enough here: overlap is counted between a question and a few dozen
candidate sentences, where "invented"/"invention" matching matters more than linguistic
accuracy, and it keeps PyStemmer inside the BM25 module.
"""

from __future__ import annotations

import re

WORD = re.compile(r"\w+(?:[-'’.]\w+)*")

# Question words, auxiliaries and function words: they say what kind of answer is wanted,
# not where it is.
_STOPWORDS = """
    a about above after again against all also am an and any are as at be been before being below
    between both but by can could did do does doing done down during each else ever few for from
    further had has have having he her here hers herself him himself his how however i if in into is
    it its itself just least less let like many may me might more most much must my myself no nor not
    now of off often on once one only or other others our ours ourselves out over own per rather same
    several shall she should since so some such than that the their theirs them themselves then there
    these they this those though through thus to too under until up upon us used very was we were
    what whatever when where whereas whether which while who whom whose why will with within without
    would yet you your yours yourself called call name named term kind type
"""
STOPWORDS = frozenset(_STOPWORDS.split())

_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s")


def stem(word: str) -> str:
    """A crude, idempotent-enough stem of a lower-cased word; short words are kept whole."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                word += "y"
            break
    # Doubled final consonants ("stopped" -> "stopp") meet their undoubled forms.
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def content_terms(text: str) -> set[str]:
    """Stems of the words of ``text`` that are not stopwords."""
    return {stem(w) for w in (m.group().lower() for m in WORD.finditer(text)) if w not in STOPWORDS}
