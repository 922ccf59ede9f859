"""The conversational gold set (eval/goldsets/chat.jsonl, docs/chat.md): conversations of turns.

Each line is a question in the project's gold JSONL (docs/eval.md) with ``conversation_id`` and
``turn``, plus ``split``: the part of the gold it belongs to ("before": written before the
rewriter existed and used while building it; "after": written once it was frozen, held out;
"self-contained": conversations whose follow-ups mostly name their own subject, mixed with a few
that need the history). A follow-up of the "self-contained" split says which it is with
``self_contained`` (true: it names its own subject and should be searched as asked); every
follow-up of the other splits needs an earlier turn (``self_contained`` false), and a first turn
is always self-contained. ``load_chat_gold`` returns the conversations in turn order and refuses a
line that breaks it, naming the line, so a bad edit cannot quietly reorder or shrink a conversation.

The gold cites the SQuAD v1.1 dev paragraphs (``{title}#{i}``) and one seed article, ``SEED``:
its path relative to the data folder the corpus is read from (``../shared`` for the benchmarks,
``tests/data`` for the tests), whose document id is its file name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qa.core.errors import QAError

GOLD = Path(__file__).resolve().parent / "goldsets" / "chat.jsonl"
SEED = "seeds/000_e0905da38116da84.txt"
# Gold written before the rewriter existed, after it was frozen, and follow-ups that name their own subject.
SPLITS = ("before", "after", "self-contained")
SELF_CONTAINED = "self-contained"


@dataclass(frozen=True, slots=True)
class ChatGold:
    """One turn of a gold conversation."""

    qid: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    conversation_id: str
    turn: int
    split: str
    self_contained: bool  # names its own subject: searched as asked (always true of a first turn)


def load_chat_gold(path: str | Path = GOLD) -> list[list[ChatGold]]:
    """The conversations of a chat gold file, each in turn order; QAError naming the bad line."""
    path = Path(path)
    conversations: dict[str, list[ChatGold]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QAError(f"{path}: cannot read ({exc})") from exc
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            turn = int(r["turn"])
            own = r.get("self_contained", turn == 1)
            if not isinstance(own, bool):
                raise TypeError(f"self_contained {own!r} is not true or false")
            gold = ChatGold(
                str(r["id"]),
                str(r["question"]),
                tuple(str(a) for a in r["answers"]),
                tuple(str(d) for d in r["doc_ids"]),
                str(r["conversation_id"]),
                turn,
                str(r["split"]),
                own,
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise QAError(f"{path}:{line_no}: not a chat gold line ({exc})") from exc
        if not gold.answers or not gold.doc_ids or r.get("answerable") is not True:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} needs answers, doc_ids and answerable: true")
        if gold.split not in SPLITS:
            raise QAError(f"{path}:{line_no}: split {gold.split!r} is not one of {SPLITS}")
        if gold.turn == 1 and not gold.self_contained:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} is a first turn, which cannot need the history")
        if gold.turn > 1 and gold.split == SELF_CONTAINED and "self_contained" not in r:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} needs self_contained (true or false) in its split")
        if gold.turn > 1 and gold.split != SELF_CONTAINED and gold.self_contained:
            raise QAError(f"{path}:{line_no}: {gold.qid!r}: only {SELF_CONTAINED!r} follow-ups can be self-contained")
        turns = conversations.setdefault(gold.conversation_id, [])
        if gold.turn != len(turns) + 1:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} is turn {gold.turn}, expected {len(turns) + 1}")
        turns.append(gold)
    return list(conversations.values())
