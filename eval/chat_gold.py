"""The conversational gold set (eval/goldsets/chat.jsonl, docs/chat.md): conversations of turns.

Each line is a question in the project's gold JSONL (docs/eval.md) with ``conversation_id`` and
``turn``, plus ``split``: the part of the gold it belongs to ("before": written before the
rewriter existed and used while building it; "after": written once it was frozen, held out).
``load_chat_gold`` returns the conversations in turn order and refuses a line that breaks it,
naming the line, so a bad edit cannot quietly reorder or shrink a conversation.

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
SPLITS = ("before", "after")  # gold written before the rewriter existed, and after it was frozen


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
            gold = ChatGold(
                str(r["id"]),
                str(r["question"]),
                tuple(str(a) for a in r["answers"]),
                tuple(str(d) for d in r["doc_ids"]),
                str(r["conversation_id"]),
                int(r["turn"]),
                str(r["split"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise QAError(f"{path}:{line_no}: not a chat gold line ({exc})") from exc
        if not gold.answers or not gold.doc_ids or r.get("answerable") is not True:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} needs answers, doc_ids and answerable: true")
        if gold.split not in SPLITS:
            raise QAError(f"{path}:{line_no}: split {gold.split!r} is not one of {SPLITS}")
        turns = conversations.setdefault(gold.conversation_id, [])
        if gold.turn != len(turns) + 1:
            raise QAError(f"{path}:{line_no}: {gold.qid!r} is turn {gold.turn}, expected {len(turns) + 1}")
        turns.append(gold)
    return list(conversations.values())
