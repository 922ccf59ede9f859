"""``qa demo``: index the built-in user guide and answer a sample question."""

from __future__ import annotations

import argparse

from qa.core.paths import DEMO_CORPUS, demo_index_dir


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="index the built-in user guide and answer a sample question")
    demo.add_argument("question", nargs="?", default="How do I index my own documents?")
    demo.set_defaults(run=_demo_command)


def _demo_command(args: argparse.Namespace) -> int:
    from index.chunking import ChunkerSettings
    from index.embedding import default_embedder
    from qa.commands.index_cmd import build_with_progress
    from qa.commands.render import format_hits
    from qa.engine import Engine

    embedder = default_embedder()
    root = demo_index_dir()
    report = build_with_progress([DEMO_CORPUS], root, embedder, ChunkerSettings())
    print(f"demo index: {report.documents} documents, {report.chunks} chunks -> {root}\n")
    retriever = Engine(root, embedder).retriever()
    print(f"Q: {args.question}\n")
    print(format_hits(retriever.search(args.question, k=3)))
    print(f'\nAsk your own: qa search "..." --index {root}')
    return 0
