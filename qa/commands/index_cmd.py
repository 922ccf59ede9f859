"""``qa index build|info``: make an index from files and folders, and describe it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qa.commands.common import EXIT_STRICT, add_index_arg, index_path, print_json


def register(commands: argparse._SubParsersAction) -> None:
    index = commands.add_parser("index", help="build or inspect an index").add_subparsers(dest="action", required=True)
    build = index.add_parser("build", help="index files and folders (a full rebuild)")
    build.add_argument("paths", nargs="+", type=Path)
    add_index_arg(build)
    build.add_argument("--chunk-tokens", type=int, default=None, help="tokens per chunk (default 200)")
    build.add_argument("--overlap-tokens", type=int, default=None, help="tokens shared by neighbours (default 40)")
    build.add_argument("--embedder", default="all-MiniLM-L6-v2", help="all-MiniLM-L6-v2 (default) or hashing:<dim>")
    build.add_argument("--strict", action="store_true", help="exit 3 if any file was skipped")
    build.add_argument("--json", action="store_true", help="print the build summary as JSON")
    build.set_defaults(run=_build_command)
    info = index.add_parser("info", help="describe an index")
    add_index_arg(info)
    info.add_argument("--json", action="store_true")
    info.set_defaults(run=_info_command)


def _build_command(args: argparse.Namespace) -> int:
    from index.chunking import ChunkerSettings
    from index.embedding import embedder_by_name

    defaults = ChunkerSettings()
    chunker = ChunkerSettings(
        args.chunk_tokens if args.chunk_tokens is not None else defaults.max_tokens,
        args.overlap_tokens if args.overlap_tokens is not None else defaults.overlap_tokens,
    )
    report = build_with_progress(args.paths, index_path(args), embedder_by_name(args.embedder), chunker)
    if args.json:
        print_json(report.to_json())
    else:
        print(f"indexed {report.documents} documents, {report.chunks} chunks in {report.seconds:.1f}s -> {report.path}")
        for skipped in report.skipped:
            print(f"skipped {skipped.path}: {skipped.reason}")
        print(f"{len(report.skipped)} files skipped")
    return EXIT_STRICT if args.strict and report.skipped else 0


def build_with_progress(paths: list[Path], root: Path, embedder, chunker):
    """A full build with a progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    from index.build import build_index
    from index.loaders import Skipped, iter_sources

    with tqdm(desc="indexing", unit="doc", file=sys.stderr, disable=None) as bar:

        def progress(item, n_chunks: int) -> None:
            bar.update(0 if isinstance(item, Skipped) else 1)
            bar.set_postfix(chunks=n_chunks, refresh=False)

        return build_index(iter_sources(paths), root, embedder, chunker, on_document=progress)


def _info_command(args: argparse.Namespace) -> int:
    from index.store import IndexDir

    index_dir = IndexDir(index_path(args))
    manifest = index_dir.manifest()
    info = {
        "index": str(index_dir.root),
        "generation": index_dir.current().name,
        **{k: v for k, v in manifest.to_json().items() if k != "documents"},
    }
    if args.json:
        print_json(info)
        return 0
    print(f"index       {info['index']} ({info['generation']})")
    print(f"documents   {manifest.counts['documents']}   chunks {manifest.counts['chunks']}")
    print(f"embedder    {manifest.embedder['name']} ({manifest.embedder['fingerprint']}, {manifest.embedder['dim']}-d)")
    print(f"chunker     {manifest.chunker}   index text: {manifest.index_text}")
    print(f"created     {manifest.created_at}   format {manifest.format_version}")
    print(f"skipped     {len(manifest.skipped)} files at build time")
    return 0
