"""``qa mcp``: the MCP server over stdio, for programs and AI assistants (docs/guide/programs.md)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from qa.commands.common import add_index_arg, index_location


def register(commands: argparse._SubParsersAction) -> None:
    mcp = commands.add_parser(
        "mcp", help="serve the index to MCP clients over stdio (tools: search, ask, get_document_span)"
    )
    add_index_arg(mcp)
    mcp.set_defaults(run=_mcp_command)


def _mcp_command(args: argparse.Namespace) -> int:
    # stdout carries the protocol alone: logs go to stderr, and anything printed while the index
    # and the model load is sent there too.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):
        from api.mcp import serve_stdio
        from qa.engine import Engine

        engine = Engine(index_location(args))
        engine.retriever()  # IndexNotFound / IndexMismatch now, as a message, rather than at the first call
    print(f"qa: MCP server on stdio over {engine.where}", file=sys.stderr, flush=True)
    serve_stdio(engine)
    return 0
