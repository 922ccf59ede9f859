"""Rewriting a chat follow-up into a standalone retrieval query, without a language model.

A follow-up leans on earlier turns through an anaphor ("When was *he* born?", "What fort did they
build *there*?") or an ellipsis ("And Peru?", "In what year?"). The phrases it leaves out are
appended in parentheses: "When was he born? (Frédéric Chopin)". The question is kept word for word
(the user sees the query searched; the short-answer finder reads its wh-word).

What is appended comes from a light form of centering. Every turn has a *center*: what its
anaphor was resolved to, else its first name, else its last run of content words. An anaphor is
resolved, among names of the right kind (he/she a person, it no person, they preferably plural),
to the previous answer after a standalone question or to the previous center after a follow-up
(a conversation keeps its referent), and the names of the last standalone question (the subject)
are added. An ellipsis carries the previous question's words and answer, less the name it
replaces ("And Peru?" after "... in Brazil?"). A question with its own subject and no anaphor
pointing outside itself, a first turn, and an empty history are returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from qa.answer.terms import STOPWORDS, WORD, stem
from qa.core.answers import Answer


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PERSON = _words("he him his she her hers himself herself")
_THING = _words("it its itself")
_PLURAL = _words("they them their theirs themselves")
_DEMONSTRATIVE = _words("this that these those")
_OBJECT = _words("it them him")
_BE = _words("is are was were be been being isn't aren't wasn't weren't")
_AUX = _BE | _words("do does did has have had can could will would shall should may might must")
# A noun after these introduces its own referent ("each application", "a parser"): a possessive
# after it points at that noun, not at the conversation.
_INTRODUCING = _words("each every all any some no both a an")
_POSSESSIVE = _words("its their his")
_ELLIPSIS_OPENERS = ("and ", "what about ", "how about ", "what of ", "and what about ", "also ")
# Words that say what kind of answer is wanted, not what the question is about.
_GENERIC = _words(
    """year years date dates day days month months century time many much long old far large big
    first last main number amount often soon ago"""
)
# Capitalised words joined by these stay one name ("Bank of England", "Battle of Hastings").
_NAME_JOINERS = _words("of the de du von van der la le del da for")
# A name holding one of these refers to a person even when it is not two capitalised words.
_TITLES = _words(
    """mr mrs ms dr sir lord lady king queen prince princess duke duchess emperor empress pope saint
    president secretary minister governor senator general captain lieutenant admiral chancellor
    bishop archbishop professor"""
)
# Heads of names of places, bodies and things: "Melbourne Cricket Ground" is not a person.
_NON_PERSON_HEADS = _words(
    """ground court office council act river desert bay island islands union party company
    television broadcasting museum park palace garden gardens theory engine railway cycle war wars
    crisis treaty edict summit agency agencies republic kingdom empire state states county
    university school college church cathedral bridge street square forest lake mountains mountain
    sea ocean basin prize award league cup games olympics army navy bank group station house
    castle city valley box"""
)
# Words of place names: "Southern California", "New South Wales", "San Diego" are no people.
_PLACE_WORDS = _words(
    """north northern south southern east eastern west western central upper lower new san santa
    los las great greater saint st port fort mount"""
)
_PERSON_NOUNS = _TITLES | _words(
    """person people man woman men women scientist musician composer writer author poet painter artist
    engineer inventor chemist physicist explorer leader ruler official politician player head founder
    monarch emperor"""
)
_WH_NOUN = re.compile(r"\s*(?:which|what)\s+(\w+)(?:\s+(\w+))?", re.I)
_MONTH = re.compile(r"^(?:January|February|March|April|May|June|July|August|September|October|November|December)\b")
_MAX_TURNS = 20
_MAX_PHRASES = 4
_MAX_WORDS = 12


class PastTurn(Protocol):
    """An earlier turn: what was asked and what was answered (qa.answer.chat.Turn)."""

    question: str
    answer: Answer


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    person: bool  # a person-like name (for he/she/him/his/her)
    entity: bool  # a name (capitalised), not a run of ordinary words
    the: bool = False  # read with "the" in place of a pronoun ("the Pico Act", "the raiders")


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A rewritten question and why: ``reason`` and ``added`` are shown when explaining a query."""

    question: str
    query: str
    reason: str  # "no history", "standalone", or what needed context ("pronoun 'he'", "ellipsis")
    added: tuple[str, ...]
    center: Phrase | None  # what this turn is about, handed on to the next


@dataclass(frozen=True, slots=True)
class _Parsed:
    entities: tuple[Phrase, ...]
    words: tuple[Phrase, ...]  # runs of content words outside names
    anaphors: tuple[str, ...]  # anaphors with no antecedent inside the question, lower case
    elliptical: bool
    has_number: bool


def rewrite_followup(question: str, turns: Sequence[PastTurn]) -> str:
    """The query to search for ``question`` after the earlier ``turns`` (oldest first)."""
    return explain_followup(question, turns).query


def explain_followup(question: str, turns: Sequence[PastTurn]) -> Rewrite:
    """Like ``rewrite_followup``, with the reason and the phrases added."""
    states: list[tuple[Rewrite, _Parsed, Phrase | None]] = []
    # Each call replays the recent turns (a few parses each), which keeps a long chat fast.
    for turn in turns[-_MAX_TURNS:]:
        states.append(_step(turn.question, states, _answer_phrase(turn.answer, turn.question)))
    return _step(question, states, None)[0]


def _step(
    question: str, history: list[tuple[Rewrite, _Parsed, Phrase | None]], answer: Phrase | None
) -> tuple[Rewrite, _Parsed, Phrase | None]:
    """This turn's rewrite given the earlier ones; ``answer`` is its own short answer, kept for the next."""
    parsed = _parse(question)
    own_center = parsed.entities[0] if parsed.entities else (parsed.words[-1] if parsed.words else None)
    if not history:
        return Rewrite(question, question, "no history", (), own_center), parsed, answer
    if not parsed.anaphors and not parsed.elliptical:
        return Rewrite(question, question, "standalone", (), own_center), parsed, answer

    previous, previous_parsed, previous_answer = history[-1]
    anchor, anchor_parsed, _ = next(
        (state for state in reversed(history) if state[0].reason in ("standalone", "no history")), history[0]
    )
    candidates: list[Phrase] = []
    reasons: list[str] = []
    center = own_center
    if parsed.anaphors:
        reasons.append("pronoun " + ", ".join(repr(a) for a in parsed.anaphors))
        wanted = _wanted_kind(parsed.anaphors)
        # Centering: a turn that itself went on about an earlier referent (its own pronoun) keeps
        # that referent in focus; after a standalone question, what it asked for (the answer) is.
        near = (
            [previous.center, previous_answer] if "pronoun" in previous.reason else [previous_answer, previous.center]
        )
        pool = [
            *(p for p in near if p is not None),
            *previous_parsed.entities,
            *(e for _, p, _ in reversed(history[:-1]) for e in p.entities),
            *(_plural_nouns(anchor_parsed.words) if wanted == "plural" else ()),
        ]
        fitting = [p for p in pool if _fits(p, wanted)]
        agreeing = [p for p in fitting if _agrees(p, wanted)]
        if agreeing or fitting:
            center = (agreeing or fitting)[0]
            candidates.append(center)
        candidates += [p for p in near if p is not None and _fits(p, wanted)]
        # The conversation's subject: the last standalone question's names.
        candidates += [p for p in (anchor.center, *anchor_parsed.entities) if p is not None]
    if parsed.elliptical:
        reasons.append("ellipsis")
        carried = [previous.center, *previous_parsed.entities]
        # "And Peru?" replaces the previous question's name; of two or more ("How far is Warsaw
        # from the Carpathians?" → "And from the Baltic Sea?") it replaces one, not the subject.
        kept = previous.center if len(previous_parsed.entities) > 1 else None
        if parsed.entities:
            carried = [p for p in carried if p is not None and (not p.entity or p is kept)]
        if previous_answer is not None and previous_answer.entity and not parsed.entities:
            carried.append(previous_answer)
        candidates += [p for p in carried if p is not None] + list(previous_parsed.words)
        if anchor.center is not None and not (parsed.entities and anchor.center.entity and anchor.center is not kept):
            candidates.append(anchor.center)
        if center is None:
            center = previous.center

    reason = " and ".join(reasons)
    added = _select(candidates, question, parsed.has_number)
    query = f"{question} ({'; '.join(added)})" if added else question
    return Rewrite(question, query, reason, added, center), parsed, answer


def _plural_nouns(words: tuple[Phrase, ...]) -> list[Phrase]:
    """Single plural-looking words of content runs ("miners" of "miners rebel"), for they/them."""
    return [
        Phrase(w, False, False, True)
        for p in words
        for w in p.text.split()
        if _agrees(Phrase(w, False, False), "plural")
    ]


def _parse(question: str) -> _Parsed:
    tokens = [(m.start(), m.end(), m.group()) for m in WORD.finditer(question)]
    lower = [t[2].lower() for t in tokens]
    entities: list[tuple[int, Phrase]] = []  # (index of the first word, phrase)
    in_name: set[int] = set()
    i = 0
    while i < len(tokens):
        if _starts_name(tokens, lower, i):
            j = i
            while j + 1 < len(tokens) and (
                _capitalised(tokens[j + 1][2])
                or (lower[j + 1] in _NAME_JOINERS and j + 2 < len(tokens) and _capitalised(tokens[j + 2][2]))
            ):
                j += 1
            text = _strip_possessive(question[tokens[i][0] : tokens[j][1]])
            the = (i > 0 and lower[i - 1] == "the") or (j > i and lower[j] in _NON_PERSON_HEADS)
            entities.append((i, Phrase(text, _person_like(lower[i : j + 1]), True, the)))
            in_name.update(range(i, j + 1))
            i = j + 1
        else:
            i += 1

    words: list[Phrase] = []
    run: list[int] = []
    for k in range(len(tokens) + 1):
        if k < len(tokens) and k not in in_name and lower[k] not in STOPWORDS:
            run.append(k)
            continue
        while run and lower[run[0]] in _GENERIC:
            run.pop(0)
        while run and lower[run[-1]] in _GENERIC:
            run.pop()
        if run:
            words.append(Phrase(_strip_possessive(question[tokens[run[0]][0] : tokens[run[-1]][1]]), False, False))
        run = []

    first_entity = entities[0][0] if entities else len(tokens)
    anaphors: list[str] = []
    for k, word in enumerate(lower):
        if k > 0 and lower[k - 1] in _AUX and (word in _PERSON or word in _THING or word in _PLURAL):
            # "Which Olympics did it host?": a subject pronoun after the auxiliary cannot be the
            # wh-phrase before it, so a name there is no antecedent.
            local = False
        elif word in _POSSESSIVE and _introduced_before(lower, k):
            # "Where does each application install its source file?" names its own subject.
            local = True
        elif word == "his" and _subject_name_before(entities, lower, k):
            # Binding: in "In what work did Philo of Byzantium describe his experiment?" the "his" of
            # the predicate is the subject's (the name right after the auxiliary), even when the
            # name is not spelt like a person's.
            local = True
        elif word in _OBJECT:
            # Binding: "What did Microsoft rename it to?" - an object pronoun is never the subject
            # of its own clause, and a question rarely has another name for it to point at.
            local = False
        elif word in _PERSON:
            local = any(start < k and p.person for start, p in entities)
        elif word in _THING:
            local = any(start < k and not p.person for start, p in entities)
        elif word in _PLURAL:
            local = first_entity < k
        elif word == "that":
            # "that" after a content word opens a clause ("the gas that he named"); after a
            # function word it points back ("Why did that happen?", "in that year").
            local = k > 0 and lower[k - 1] not in STOPWORDS
        elif word in _DEMONSTRATIVE:
            local = False
        elif word == "there":
            local = (k > 0 and lower[k - 1] in _BE) or (k + 1 < len(lower) and lower[k + 1] in _BE)
        elif word == "then":
            local = False
        else:
            continue
        if not local and word not in anaphors:
            anaphors.append(word)

    opener = question.strip().lower()
    own_words = [w for w in lower if w not in STOPWORDS and w not in _GENERIC]
    # A question of function words only ("Why?", "In what year?") is elliptical; one whose only
    # subject is a pronoun ("What was it used for?") is complete once the pronoun is resolved.
    elliptical = opener.startswith(_ELLIPSIS_OPENERS) or (not own_words and not entities and not anaphors)
    has_number = any(any(c.isdigit() for c in w) for w in lower)
    return _Parsed(tuple(p for _, p in entities), tuple(words), tuple(anaphors), elliptical, has_number)


def _introduced_before(lower: list[str], k: int) -> bool:
    """Whether a determiner + content word that introduces a referent comes before word ``k``."""
    return any(lower[i] in _INTRODUCING and lower[i + 1] not in STOPWORDS for i in range(k - 1))


def _subject_name_before(entities: list[tuple[int, Phrase]], lower: list[str], k: int) -> bool:
    """Whether a name that is no place or thing by its spelling follows an auxiliary before word ``k``."""
    return any(0 < start < k and lower[start - 1] in _AUX and not p.the for start, p in entities)


def _capitalised(word: str) -> bool:
    return word[0].isupper() or (len(word) > 1 and word[1:].isupper() and word[0].isalpha())


def _starts_name(tokens: list[tuple[int, int, str]], lower: list[str], i: int) -> bool:
    word = tokens[i][2]
    if not _capitalised(word):
        return False
    # The first word of a question is capitalised anyway; it is a name only when it is no
    # function or question word ("Chopin was born where?").
    return i > 0 or lower[i] not in STOPWORDS


def _person_like(words: list[str]) -> bool:
    if any(w in _TITLES for w in words):
        return True
    names = [w for w in words if w not in _NAME_JOINERS]
    return (
        2 <= len(names) <= 4
        and len(names) == len(words)
        and names[-1] not in _NON_PERSON_HEADS
        and not any(w in _PLACE_WORDS for w in names)
    )


def _strip_possessive(text: str) -> str:
    return text[:-2] if text.endswith(("'s", "’s")) else text


def _answer_phrase(answer: Answer, question: str) -> Phrase | None:
    """The previous short answer as a phrase, when it is a name anaphors can point at (a phrase
    withheld for low confidence too: it is in the quoted sentence the user read)."""
    short = answer.short_answer or answer.withheld_short_answer
    if answer.abstained or short is None:
        return None
    words = [m.group() for m in WORD.finditer(short.text)]
    if not words or len(words) > 6 or len(words[0]) < 2 or not words[0][0].isupper() or _MONTH.match(short.text):
        return None
    lower = [w.lower() for w in words]
    # The question says what kind of thing answered it: a "where" answer is no person.
    if re.match(r"\s*(?:who|whom|whose)\b", question, re.I):
        person = True
    else:
        # "Which scientist ...?" asks for a person, "What name ...?" or "Where ...?" does not.
        focus = _WH_NOUN.match(question)
        nouns = {w.lower() for w in focus.groups() if w} if focus else set()
        person = bool(nouns & _PERSON_NOUNS) and _person_like(lower)
    the = len(lower) > 1 and lower[-1] in _NON_PERSON_HEADS and lower[0] != "the"
    return Phrase(_strip_possessive(short.text), person, True, the)


def _wanted_kind(anaphors: tuple[str, ...]) -> str:
    """What the first personal pronoun can point at: "person", "thing", "plural" or "any"."""
    for a in anaphors:
        if a in _PERSON:
            return "person"
        if a in _THING:
            return "thing"
        if a in _PLURAL:
            return "plural"
    return "any"


def _fits(phrase: Phrase, wanted: str) -> bool:
    """Gender and animacy: he/she need a person-like name, it and they cannot be one."""
    return phrase.person if wanted == "person" else (wanted == "any" or not phrase.person)


def _agrees(phrase: Phrase, wanted: str) -> bool:
    """Number, as far as spelling shows it: they/them/their prefer "Huguenots" to "Fort Coligny"."""
    last = phrase.text.split()[-1].lower()
    plural = len(last) > 3 and last.endswith("s") and not last.endswith(("ss", "us", "is"))
    return plural if wanted == "plural" else (not plural if wanted == "thing" else True)


def _select(candidates: list[Phrase], question: str, has_number: bool) -> tuple[str, ...]:
    """The candidates that add something to the question, in order, within the size limits."""
    seen = {stem(w.lower()) for w in WORD.findall(question)}
    chosen: list[str] = []
    words = 0
    for phrase in candidates:
        text = phrase.text
        if has_number:  # "And in 1974?" replaces the previous question's numbers
            text = " ".join(w for w in text.split() if not any(c.isdigit() for c in w))
        stems = {stem(w.lower()) for w in WORD.findall(text)} - STOPWORDS
        if not stems or stems <= seen:
            continue
        size = len(text.split())
        if len(chosen) == _MAX_PHRASES or (chosen and words + size > _MAX_WORDS):
            break
        chosen.append(text)
        seen |= stems
        words += size
    return tuple(chosen)
