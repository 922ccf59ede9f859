"""A conversation: each question is answered with the turns before it in mind.

A follow-up that leans on earlier turns ("When was he born?") is rewritten into a standalone
query for retrieval before it is answered; the rewritten query is kept in the Answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.answer.rewrite import Rewrite, explain_followup, rewrite_followup
from qa.core.answers import Answer, Answerer, TokenSink
from qa.core.errors import BadQuery


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    answer: Answer


@dataclass
class ChatSession:
    """The history of one conversation, answered by ``answerer``.

    Each question is rewritten with the earlier turns (``qa.answer.rewrite.rewrite_followup``)
    into the query searched; the answerer weighs the evidence against the question as asked
    (docs/chat.md has the figures). ``rewrite=False`` searches each question as asked.
    """

    answerer: Answerer
    rewrite: bool = True
    turns: list[Turn] = field(default_factory=list)

    def ask(self, question: str, on_token: TokenSink | None = None) -> Answer:
        """Answer ``question`` in this conversation; ``on_token`` receives generated text (LLM answerers)."""
        if not question.strip():
            raise BadQuery("empty question")
        query = rewrite_followup(question, self.turns) if self.rewrite else question
        answer = self.answerer.answer(question, query=query, on_token=on_token)
        self.turns.append(Turn(question, answer))
        return answer

    def explain(self, question: str) -> Rewrite:
        """Why ``question`` would be searched as it would be now (nothing is asked or stored)."""
        return explain_followup(question, self.turns)

    def reset(self) -> None:
        self.turns.clear()
