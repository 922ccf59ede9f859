"""What the subcommands share: the --index option, exit codes, and reading question files."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from qa.core.errors import BadQuery, StoreUnavailable
from qa.core.paths import INDEX_ENV, STORE_ENV, default_index_dir

if TYPE_CHECKING:
    from index.postgres.reader import PgStore

EXIT_ERROR, EXIT_USAGE, EXIT_STRICT = 1, 2, 3


def add_index_arg(parser: argparse.ArgumentParser, index_help: str | None = None) -> None:
    parser.add_argument(
        "--index",
        type=Path,
        default=None,
        help=index_help or f"index directory (default: ${INDEX_ENV} or {default_index_dir()})",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help=f"a PostgreSQL store instead of an index directory: postgresql://USER@HOST/DB (default: ${STORE_ENV}; "
        "PG* variables fill in what the URL leaves out; docs/scaling.md)",
    )


def index_location(args: argparse.Namespace, default: Path | None = None) -> Path | PgStore:
    """The index the command works on: ``--index``, else ``--store`` or ``$QA_STORE``, else
    ``default`` (the default index directory when None)."""
    url = getattr(args, "store", None)
    if url and args.index is not None:
        raise BadQuery("give --index or --store, not both")
    url = url or (os.environ.get(STORE_ENV) if args.index is None else None)
    if url:
        return open_store(url)
    return args.index or default or default_index_dir()


def open_store(url: str) -> PgStore:
    if not url.startswith(("postgresql://", "postgres://")):
        raise BadQuery("--store (or $QA_STORE) must be a postgresql:// URL")
    try:
        from index.postgres.reader import PgStore
    except ImportError as exc:
        raise StoreUnavailable(
            f"a PostgreSQL store needs the postgres extra ({exc.name} is missing): pip install -e '.[postgres]'"
        ) from None
    return PgStore(url)


def read_questions(path: Path) -> Iterator[tuple[str, str]]:
    """``(id, text)`` of each line of a JSONL file of ``{id, question}`` or BEIR ``{_id, text}``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadQuery(f"cannot read questions file {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadQuery(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if isinstance(record, dict) and "question" in record and "id" in record:
            yield str(record["id"]), str(record["question"])
        elif isinstance(record, dict) and "_id" in record and "text" in record:
            yield str(record["_id"]), str(record["text"])
        else:
            raise BadQuery(f"{path}:{number}: expected {{id, question}} or {{_id, text}}")


def print_json(data: dict) -> None:
    print(json.dumps(data, ensure_ascii=False), flush=True)
