"""The ``qa`` command. Library code raises QAError; only here does it become a message.

Each subcommand lives in its own module under ``qa/commands`` and registers its parser with a
``run`` function. Exit codes: 0 success; 1 a domain error (message on stderr); 2 bad usage; 3 a
``--strict`` build that skipped at least one file (the index is still built and published).
"""

from __future__ import annotations

import argparse
import sys

from qa.commands import ask, auth, demo, eval_cmd, index_cmd, mcp, search, serve
from qa.commands.common import EXIT_ERROR
from qa.core.errors import QAError

COMMANDS = (index_cmd, search, ask, demo, serve, auth, mcp, eval_cmd)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="qa", description="Cited question answering over your own documents.")
    commands = top.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except QAError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
