"""What the subcommands share: the --index option, exit codes, and reading question files."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from qa.core.errors import BadQuery
from qa.core.paths import INDEX_ENV, default_index_dir

EXIT_ERROR, EXIT_USAGE, EXIT_STRICT = 1, 2, 3


def add_index_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index", type=Path, default=None, help=f"index directory (default: ${INDEX_ENV} or {default_index_dir()})"
    )


def index_path(args: argparse.Namespace) -> Path:
    return args.index or default_index_dir()


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
