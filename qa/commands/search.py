"""``qa search``: ranked, cited passages for a query (or a file of queries, one model load)."""

from __future__ import annotations

import argparse
from pathlib import Path

from qa.commands.common import add_index_arg, index_location, print_json, read_questions
from qa.core.errors import BadQuery


def register(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser("search", help="ranked, cited passages for a query")
    search.add_argument("query", nargs="?")
    search.add_argument(
        "--queries", type=Path, help="JSONL of {id, question} or BEIR {_id, text}; one JSON line out each"
    )
    add_index_arg(search)
    search.add_argument("-k", type=int, default=5, help="passages to return (default 5)")
    search.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=_search_command)


def _search_command(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    if (args.query is None) == (args.queries is None):
        raise BadQuery("give either a QUERY or --queries FILE.jsonl")
    retriever = Engine(index_location(args)).retriever()
    if args.queries is not None:
        for qid, text in read_questions(args.queries):
            hits = retriever.search(text, k=args.k, mode=args.mode)
            print_json({"id": qid, "query": text, "hits": [h.to_json() for h in hits]})
        return 0
    hits = retriever.search(args.query, k=args.k, mode=args.mode)
    if args.json:
        print_json({"query": args.query, "mode": args.mode, "hits": [h.to_json() for h in hits]})
    else:
        from qa.commands.render import format_hits

        print(format_hits(hits))
    return 0
