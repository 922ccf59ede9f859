"""The ``qa`` command. Library code raises QAError; only here does it become a message.

Exit codes: 0 success; 1 a domain error (message on stderr); 2 bad usage; 3 ``--strict``
build that skipped at least one file (the index is still built and published).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from qa.config import DEMO_CORPUS, INDEX_ENV, default_index_dir, demo_index_dir
from qa.errors import BadQuery, QAError

EXIT_ERROR, EXIT_STRICT = 1, 3


def _add_index_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index", type=Path, default=None, help=f"index directory (default: ${INDEX_ENV} or {default_index_dir()})"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Cited question answering over your own documents.")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="build or inspect an index").add_subparsers(dest="action", required=True)
    build = index.add_parser("build", help="index files and folders (a full rebuild)")
    build.add_argument("paths", nargs="+", type=Path)
    _add_index_arg(build)
    build.add_argument("--chunk-tokens", type=int, default=None, help="tokens per chunk (default 200)")
    build.add_argument("--overlap-tokens", type=int, default=None, help="tokens shared by neighbours (default 40)")
    build.add_argument("--embedder", default="all-MiniLM-L6-v2", help="all-MiniLM-L6-v2 (default) or hashing:<dim>")
    build.add_argument("--strict", action="store_true", help="exit 3 if any file was skipped")
    build.add_argument("--json", action="store_true", help="print the build summary as JSON")
    info = index.add_parser("info", help="describe an index")
    _add_index_arg(info)
    info.add_argument("--json", action="store_true")

    search = commands.add_parser("search", help="ranked, cited passages for a query")
    search.add_argument("query", nargs="?")
    search.add_argument(
        "--queries", type=Path, help="JSONL of {id, question} or BEIR {_id, text}; one JSON line out each"
    )
    _add_index_arg(search)
    search.add_argument("-k", type=int, default=5, help="passages to return (default 5)")
    search.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    search.add_argument("--json", action="store_true")

    demo = commands.add_parser("demo", help="index the built-in user guide and answer a sample question")
    demo.add_argument("question", nargs="?", default="How do I index my own documents?")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "index" and args.action == "build":
            return _index_build(args)
        if args.command == "index":
            return _index_info(args)
        if args.command == "search":
            return _search(args)
        return _demo(args)
    except QAError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _index_build(args: argparse.Namespace) -> int:
    from index.chunking import ChunkerSettings
    from index.embedding import embedder_by_name

    defaults = ChunkerSettings()
    chunker = ChunkerSettings(
        args.chunk_tokens if args.chunk_tokens is not None else defaults.max_tokens,
        args.overlap_tokens if args.overlap_tokens is not None else defaults.overlap_tokens,
    )
    report = _build(args.paths, args.index or default_index_dir(), embedder_by_name(args.embedder), chunker)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(f"indexed {report.documents} documents, {report.chunks} chunks in {report.seconds:.1f}s -> {report.path}")
        for skipped in report.skipped:
            print(f"skipped {skipped.path}: {skipped.reason}")
        print(f"{len(report.skipped)} files skipped")
    return EXIT_STRICT if args.strict and report.skipped else 0


def _build(paths: list[Path], root: Path, embedder, chunker):
    from tqdm import tqdm

    from index.build import build_index
    from index.loaders import Skipped, iter_sources

    with tqdm(desc="indexing", unit="doc", file=sys.stderr, disable=None) as bar:

        def progress(item, n_chunks: int) -> None:
            bar.update(0 if isinstance(item, Skipped) else 1)
            bar.set_postfix(chunks=n_chunks, refresh=False)

        return build_index(iter_sources(paths), root, embedder, chunker, on_document=progress)


def _index_info(args: argparse.Namespace) -> int:
    from index.store import IndexDir

    index_dir = IndexDir(args.index or default_index_dir())
    manifest = index_dir.manifest()
    info = {
        "index": str(index_dir.root),
        "generation": index_dir.current().name,
        **{k: v for k, v in manifest.to_json().items() if k != "documents"},
    }
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    print(f"index       {info['index']} ({info['generation']})")
    print(f"documents   {manifest.counts['documents']}   chunks {manifest.counts['chunks']}")
    print(f"embedder    {manifest.embedder['name']} ({manifest.embedder['fingerprint']}, {manifest.embedder['dim']}-d)")
    print(f"chunker     {manifest.chunker}   index text: {manifest.index_text}")
    print(f"created     {manifest.created_at}   format {manifest.format_version}")
    print(f"skipped     {len(manifest.skipped)} files at build time")
    return 0


def _open_retriever(index: Path | None):
    from index.embedding import embedder_by_name
    from index.store import IndexDir
    from qa.retrieval import Retriever

    index_dir = IndexDir(index or default_index_dir())
    embedder = embedder_by_name(index_dir.manifest().embedder["name"])
    return Retriever(index_dir.load(embedder), embedder)


def _search(args: argparse.Namespace) -> int:
    if (args.query is None) == (args.queries is None):
        raise BadQuery("give either a QUERY or --queries FILE.jsonl")
    retriever = _open_retriever(args.index)
    if args.queries is not None:
        for qid, text in _read_queries(args.queries):
            hits = retriever.search(text, k=args.k, mode=args.mode)
            print(json.dumps({"id": qid, "query": text, "hits": [h.to_json() for h in hits]}, ensure_ascii=False))
        return 0
    hits = retriever.search(args.query, k=args.k, mode=args.mode)
    if args.json:
        print(
            json.dumps(
                {"query": args.query, "mode": args.mode, "hits": [h.to_json() for h in hits]}, ensure_ascii=False
            )
        )
    else:
        from qa.render import format_hits

        print(format_hits(hits))
    return 0


def _read_queries(path: Path) -> Iterator[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadQuery(f"cannot read queries file {path}: {exc.strerror}") from exc
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


def _demo(args: argparse.Namespace) -> int:
    from index.chunking import ChunkerSettings
    from index.embedding import MiniLMEmbedder
    from index.store import IndexDir
    from qa.render import format_hits
    from qa.retrieval import Retriever

    embedder = MiniLMEmbedder()
    root = demo_index_dir()
    report = _build([DEMO_CORPUS], root, embedder, ChunkerSettings())
    print(f"demo index: {report.documents} documents, {report.chunks} chunks -> {root}\n")
    retriever = Retriever(IndexDir(root).load(embedder), embedder)
    print(f"Q: {args.question}\n")
    print(format_hits(retriever.search(args.question, k=3)))
    print(f'\nAsk your own: qa search "..." --index {root}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
