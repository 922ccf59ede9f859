"""A conversation: each question is answered with the turns before it in mind.

A follow-up that leans on earlier turns ("When was he born?") is rewritten into a standalone
query for retrieval before it is answered; the rewritten query is kept in the Answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qa.answer_types import Answer
from qa.errors import BadQuery
from qa.rewrite import Rewrite, explain_followup, rewrite_followup


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    answer: Answer


@dataclass
class ChatSession:
    """The history of one conversation. ``answerer`` is anything with ``answer(question, query=...)``.

    ``rewriter`` turns a question and the earlier turns into the query searched; the default is
    ``qa.rewrite.rewrite_followup`` (benchmarks pass baselines here). ``rewrite=False`` searches
    each question as asked.
    """

    answerer: object
    rewrite: bool = True
    turns: list[Turn] = field(default_factory=list)
    rewriter: Callable[[str, Sequence[Turn]], str] = rewrite_followup

    def ask(self, question: str) -> Answer:
        if not question.strip():
            raise BadQuery("empty question")
        query = self.rewriter(question, self.turns) if self.rewrite else question
        answer = self.answerer.answer(question, query=query)
        self.turns.append(Turn(question, answer))
        return answer

    def explain(self, question: str) -> Rewrite:
        """Why ``question`` would be searched as it would be now (nothing is asked or stored)."""
        return explain_followup(question, self.turns)

    def reset(self) -> None:
        self.turns.clear()
