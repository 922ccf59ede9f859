"""``qa ask`` and ``qa chat``: cited answers in the terminal, one question or a conversation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qa.commands.common import add_index_arg, index_path, print_json, read_questions
from qa.errors import BadQuery, QAError


def register(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser("ask", help="answer a question with cited source spans")
    ask.add_argument("question", nargs="?")
    ask.add_argument("--questions", type=Path, help="JSONL of {id, question}; one JSON answer line out each")
    add_index_arg(ask)
    ask.add_argument("-k", "--passages", type=int, default=None, help="passages to read (default 5)")
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(run=_ask_command)
    chat = commands.add_parser("chat", help="a conversation in the terminal; follow-ups use earlier turns")
    add_index_arg(chat)
    chat.add_argument("-k", "--passages", type=int, default=None, help="passages to read (default 5)")
    chat.set_defaults(run=_chat_command)


def _engine(args: argparse.Namespace):
    from dataclasses import replace

    from qa.engine import Engine
    from qa.extractive import AnswerSettings

    settings = AnswerSettings() if args.passages is None else replace(AnswerSettings(), passages=args.passages)
    return Engine(index_path(args), settings=settings)


def _ask_command(args: argparse.Namespace) -> int:
    from qa.render import format_answer

    if (args.question is None) == (args.questions is None):
        raise BadQuery("give either a QUESTION or --questions FILE.jsonl")
    answerer = _engine(args).answerer()
    if args.questions is not None:
        for qid, text in read_questions(args.questions):
            print_json({"id": qid, **answerer.answer(text).to_json()})
        return 0
    answer = answerer.answer(args.question)
    if args.json:
        print_json(answer.to_json())
    else:
        print(format_answer(answer))
    return 0


def _chat_command(args: argparse.Namespace) -> int:
    from qa.chat import ChatSession
    from qa.render import format_answer

    engine = _engine(args)
    session = ChatSession(engine.answerer())
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
        session.answerer = engine.answerer()
        try:
            print(format_answer(session.ask(line)), flush=True)
        except QAError as exc:
            print(f"qa: error: {exc}", file=sys.stderr)
