"""Words of questions and sentences, and the terms they are compared by.

A term is a word's Snowball stem, from the same PyStemmer instance BM25 uses (index/sparse.py),
so the answerer and retrieval normalise words one way: "invented" and "invention" are one term
for both.
"""

from __future__ import annotations

import re

from index.sparse import stem as snowball

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


def stem(word: str) -> str:
    """The term of a word: lower case, without a possessive "'s" or apostrophes, Snowball-stemmed."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    return snowball(word.replace("'", ""))


def content_terms(text: str) -> set[str]:
    """Stems of the words of ``text`` that are not stopwords."""
    return {stem(w) for w in (m.group().lower() for m in WORD.finditer(text)) if w not in STOPWORDS}
