"""``qa ask`` and ``qa chat``: cited answers in the terminal, one question or a conversation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qa.commands.common import add_index_arg, index_location, print_json, read_questions
from qa.commands.llm_args import add_llm_args, llm_backend
from qa.core.errors import BadQuery, QAError


def register(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser("ask", help="answer a question with cited source spans")
    ask.add_argument("question", nargs="?")
    ask.add_argument("--questions", type=Path, help="JSONL of {id, question}; one JSON answer line out each")
    add_index_arg(ask)
    ask.add_argument("-k", "--passages", type=int, default=None, help="passages to read (default 5)")
    ask.add_argument("--json", action="store_true")
    add_llm_args(ask)
    ask.set_defaults(run=_ask_command)
    chat = commands.add_parser("chat", help="a conversation in the terminal; follow-ups use earlier turns")
    add_index_arg(chat)
    chat.add_argument("-k", "--passages", type=int, default=None, help="passages to read (default 5)")
    add_llm_args(chat)
    chat.set_defaults(run=_chat_command)


def _engine(args: argparse.Namespace):
    from dataclasses import replace

    from qa.answer.extractive import AnswerSettings
    from qa.engine import Engine

    settings = AnswerSettings() if args.passages is None else replace(AnswerSettings(), passages=args.passages)
    return Engine(index_location(args), settings=settings, llm=llm_backend(args))


def _answerer(engine):
    return engine.answerer() if engine.llm is None else engine.llm_answerer()


class _Echo:
    """Prints generated text as it comes; remembers whether anything was printed."""

    def __init__(self) -> None:
        self.printed = False

    def __call__(self, text: str) -> None:
        self.printed = True
        print(text, end="", flush=True)


def _streamed(answer, streamed: bool) -> str:
    """What follows the streamed text: the answer as verified (the stream is the model's raw words)."""
    from qa.commands.render import format_answer

    return f"\n\n-- checked against the documents --\n{format_answer(answer)}" if streamed else format_answer(answer)


def _ask_command(args: argparse.Namespace) -> int:
    from qa.commands.render import format_answer

    if (args.question is None) == (args.questions is None):
        raise BadQuery("give either a QUESTION or --questions FILE.jsonl")
    engine = _engine(args)
    answerer = _answerer(engine)
    if args.questions is not None:
        for qid, text in read_questions(args.questions):
            print_json({"id": qid, **answerer.answer(text).to_json()})
        return 0
    if args.json:
        print_json(answerer.answer(args.question).to_json())
        return 0
    if engine.llm is None:
        print(format_answer(answerer.answer(args.question)))
        return 0
    echo = _Echo()
    answer = answerer.answer(args.question, on_token=echo)
    print(_streamed(answer, echo.printed))
    return 0


def _chat_command(args: argparse.Namespace) -> int:
    from qa.answer.chat import ChatSession

    engine = _engine(args)
    session = ChatSession(_answerer(engine))
    print("Ask about your documents; follow-ups may refer to earlier answers. /reset starts over, /quit leaves.")
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if line in ("/quit", "/exit"):
            return 0
        if line == "/reset":
            session.reset()
            continue
        if not line:
            continue
        # A newly published index is picked up between questions.
        session.answerer = _answerer(engine)
        echo = _Echo()
        try:
            answer = session.ask(line, on_token=echo) if engine.llm is not None else session.ask(line)
            print(_streamed(answer, echo.printed), flush=True)
        except QAError as exc:
            print(f"qa: error: {exc}", file=sys.stderr)
