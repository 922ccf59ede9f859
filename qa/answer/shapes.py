"""What a sentence is in its document: a heading or a FAQ's question, a lead-in, a continuation.

Cheap text features, read from the stored document around the sentence, that say whether a
sentence can be quoted alone as an answer (qa/answer/spans.py):
- a heading, a title or a FAQ's question names what the answer is about without answering it
  ("How do I use hooks to prevent users from making certain changes?", "B.1 Obtaining current
  calendar time"): the answer is the sentence under it;
- a lead-in announces what follows ("you may use the following command:");
- a sentence opening with a pronoun or a connective continues the one before it ("They are
  mainly hosted on the OFTC network.", "Therefore, ...").
A block is the paragraph or list item holding the sentence: text between blank lines, or from a
line opening with a list marker to the next such line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answer.terms import WORD

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_LIST_ITEM = re.compile(r"\n[^\S\n]*(?:[-•*–▪◦]|\d{1,3}[.)])\s")
_QUESTION_END = re.compile(r"\?[\"'”’)\]]*$")
_CLOSED = re.compile(r"[.!?:;,][\"'”’)\]]*$")
_CONTINUES = re.compile(
    r"^\W*(?:it|its|this|that|these|those|they|them|their|such|therefore|thus|hence|so|however|but|"
    r"instead|otherwise|then|also|alternatively|here|note|for (?:example|instance)|"
    r"in (?:this|that|such a) case|as such|e\.g\.|i\.e\.)\b",
    re.IGNORECASE,
)
# A title opens with a capital or a section number; a command line ("glpsol --model foo.mod")
# is as short and as unpunctuated, but it is the answer.
_TITLE_START = re.compile(r"[^\w]*[A-Z0-9]")
_CODE = re.compile(r"--|[=${};<>]|\(\)")
# How far around a sentence its block is looked for: a block longer than this is prose, not a heading.
_REACH = 2000
# A FAQ's question may take a sentence of context before it ("I've made a mistake in the last
# commit. How do I change it?"); a block that long ending in "?" is prose asking a question.
QUESTION_BLOCK_WORDS = 40
# A title is a block of its own this short, without closing punctuation.
TITLE_WORDS = 12


@dataclass(frozen=True, slots=True)
class Shape:
    """``heading``: a heading, a title or a FAQ's question (it does not answer);
    ``lead_in``: it ends with ":" (it announces what follows)."""

    heading: bool
    lead_in: bool


def block(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` of the paragraph or list item of ``text`` holding the span ``[start, end)``."""
    low = max(0, start - _REACH)
    opened = [m.end() for m in _BLANK_LINE.finditer(text, low, start)]
    # A list marker may open the sentence itself, so the item's newline is looked for up to its first characters.
    opened += [m.start() + 1 for m in _LIST_ITEM.finditer(text, low, start + 4) if m.start() < start]
    high = min(len(text), end + _REACH)
    closed = [m.start() for m in _BLANK_LINE.finditer(text, max(start, end - 1), high)]
    closed += [m.start() for m in _LIST_ITEM.finditer(text, max(start, end - 1), high)]
    return max(opened, default=0), min(closed, default=len(text))


def shape(text: str, start: int, end: int) -> Shape:
    """The shape of the sentence ``text[start:end]`` (stripped of surrounding whitespace)."""
    sentence = text[start:end]
    first, last = block(text, start, end)
    around = text[first:last].strip()
    question = bool(_QUESTION_END.search(sentence)) or (
        bool(_QUESTION_END.search(around)) and len(WORD.findall(around)) <= QUESTION_BLOCK_WORDS
    )
    alone = len(around) <= len(sentence) + 4  # a list marker or a stray character besides it
    title = (
        alone
        and len(WORD.findall(sentence)) <= TITLE_WORDS
        and not _CLOSED.search(sentence)
        and bool(_TITLE_START.match(sentence))
        and not _CODE.search(sentence)
    )
    return Shape(heading=question or title, lead_in=sentence.endswith(":"))


def continues(sentence: str) -> bool:
    """Whether ``sentence`` opens with a pronoun or connective that refers back to the one before it."""
    return bool(_CONTINUES.search(sentence))
