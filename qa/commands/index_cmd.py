"""``qa index build|update|info``: make an index from files and folders, keep it in sync, describe it.

Exit codes (shared with the rest of ``qa``): 0 done; 1 an error such as another writer holding
the index or an index made with other settings (message on stderr, index unchanged); 2 bad
usage; 3 ``--strict`` and at least one file skipped (the index is still written and published).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qa.commands import index_watch
from qa.commands.common import EXIT_STRICT, add_index_arg, index_location, print_json

if TYPE_CHECKING:
    from index.postgres.reader import PgStore


def register(commands: argparse._SubParsersAction) -> None:
    index = commands.add_parser("index", help="build or inspect an index").add_subparsers(dest="action", required=True)
    build = index.add_parser("build", help="index files and folders (a full rebuild)")
    build.add_argument("paths", nargs="+", type=Path)
    add_index_arg(build)
    build.add_argument("--chunk-tokens", type=int, default=None, help="tokens per chunk (default 200)")
    build.add_argument("--overlap-tokens", type=int, default=None, help="tokens shared by neighbours (default 40)")
    build.add_argument("--embedder", default="all-MiniLM-L6-v2", help="all-MiniLM-L6-v2 (default) or hashing:<dim>")
    build.add_argument(
        "--backend",
        choices=("onnx", "torch"),
        default="onnx",
        help="what runs the model: onnx (default: ONNX Runtime, int8 weights) or torch; queries use the index's own",
    )
    build.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="read, chunk and embed on a Ray cluster (needs the ray extra): a local one without ADDRESS, "
        "else ADDRESS (auto, HOST:PORT or ray://HOST:PORT)",
    )
    build.add_argument("--workers", type=int, default=None, help="with --ray: parallel workers (default: one per CPU)")
    build.add_argument("--strict", action="store_true", help="exit 3 if any file was skipped")
    build.add_argument("--json", action="store_true", help="print the build summary as JSON")
    build.add_argument(
        "--collection", default="default", help="the collection every document goes to (default: default)"
    )
    build.set_defaults(run=_build_command)
    update = index.add_parser("update", help="sync the index with files and folders (embeds only what changed)")
    update.add_argument("paths", nargs="+", type=Path)
    add_index_arg(update)
    update.add_argument(
        "--prune", action="store_true", help="remove indexed documents not found under PATHs (mirror them exactly)"
    )
    update.add_argument(
        "--rebuild", action="store_true", help="full rebuild, e.g. for an index made with another embedder or chunker"
    )
    update.add_argument("--embedder", default=None, help="default: the index's own (all-MiniLM-L6-v2 for a new one)")
    update.add_argument(
        "--backend", choices=("onnx", "torch"), default=None, help="default: the index's own (onnx for a new one)"
    )
    update.add_argument("--chunk-tokens", type=int, default=None, help="default: the index's own (200 for a new one)")
    update.add_argument("--overlap-tokens", type=int, default=None, help="default: the index's own (40 for a new one)")
    update.add_argument("--strict", action="store_true", help="exit 3 if any file was skipped")
    update.add_argument("--json", action="store_true", help="print the update summary as JSON")
    update.add_argument(
        "--collection",
        default=None,
        help="put every document read in this collection; --prune then prunes only within it "
        "(default: documents keep theirs, new ones go to default)",
    )
    update.set_defaults(run=_update_command)
    index_watch.register(index)
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
    embedder = embedder_by_name(args.embedder, args.backend)
    if args.ray is not None:
        from index.ray_ingest import build_index_ray

        report = build_index_ray(
            args.paths,
            index_location(args),
            embedder,
            chunker,
            address=args.ray or None,
            workers=args.workers,
            collection=args.collection,
        )
    else:
        report = build_with_progress(args.paths, index_location(args), embedder, chunker, args.collection)
    if args.json:
        print_json(report.to_json())
    else:
        print(f"indexed {report.documents} documents, {report.chunks} chunks in {report.seconds:.1f}s -> {report.path}")
        for skipped in report.skipped:
            print(f"skipped {skipped.path}: {skipped.reason}")
        print(f"{len(report.skipped)} files skipped")
    return EXIT_STRICT if args.strict and report.skipped else 0


def index_embedder(root: Path | PgStore, name: str | None, backend: str | None):
    """The embedder named, else the index's own, else the default (all-MiniLM-L6-v2 on onnx)."""
    from index.embedding import BACKENDS, DEFAULT_BACKEND, MINILM_NAME, embedder_by_name

    own_embedder, own_backend, _ = _index_settings(root)
    backend = backend or (own_backend if own_backend in BACKENDS else DEFAULT_BACKEND)
    return embedder_by_name(name or own_embedder or MINILM_NAME, backend)


def _update_command(args: argparse.Namespace) -> int:
    from index.chunking import ChunkerSettings

    root = index_location(args)
    _, _, own_chunker = _index_settings(root)
    embedder = index_embedder(root, args.embedder, args.backend)
    chunker = None
    if args.chunk_tokens is not None or args.overlap_tokens is not None or args.rebuild:
        base = own_chunker or ChunkerSettings()  # --rebuild keeps the index's settings but for those given
        chunker = ChunkerSettings(
            args.chunk_tokens if args.chunk_tokens is not None else base.max_tokens,
            args.overlap_tokens if args.overlap_tokens is not None else base.overlap_tokens,
        )
    if args.rebuild:
        report = build_with_progress(args.paths, root, embedder, chunker, args.collection or "default")
        summary = f"rebuilt: {report.documents} documents, {report.chunks} chunks embedded in {report.seconds:.1f}s"
        data, path, skipped = {"rebuilt": True, **report.to_json()}, report.path, report.skipped
    else:
        report = update_with_progress(args.paths, root, embedder, chunker, args.prune, args.collection)
        summary = (
            f"added {report.added}, changed {report.changed}, removed {report.removed}, "
            f"unchanged {report.unchanged}, kept {report.kept} documents; "
            f"chunks embedded {report.chunks_embedded}, reused {report.chunks_reused}; {report.seconds:.1f}s"
        )
        data, path, skipped = {"rebuilt": False, **report.to_json()}, report.path, report.skipped
        if report.kept:
            summary += f"\n{report.kept} indexed documents not under the given paths were kept (--prune removes them)"
    if args.json:
        print_json(data)
    else:
        print(f"{summary} -> {path}")
        for item in skipped:
            print(f"skipped {item.path}: {item.reason}")
        print(f"{len(skipped)} files skipped")
    return EXIT_STRICT if args.strict and skipped else 0


def _index_settings(root: Path | PgStore):
    """The embedder name, backend and chunker of the index at ``root``, None for each when there is no
    readable index (a missing or other-format one: the update or rebuild then says what to do)."""
    from index.chunking import ChunkerSettings
    from index.embedding import RECORDED_BEFORE_BACKENDS
    from index.store import IndexDir
    from qa.core.errors import QAError

    try:
        manifest = IndexDir(root).manifest() if isinstance(root, Path) else root.manifest()
        recorded = manifest.embedder
        return recorded["name"], recorded.get("backend", RECORDED_BEFORE_BACKENDS), ChunkerSettings(**manifest.chunker)
    except (QAError, OSError, ValueError, KeyError, TypeError):
        return None, None, None


def _progress(bar):
    from index.loaders import Skipped

    def progress(item, n_chunks: int) -> None:
        bar.update(0 if isinstance(item, Skipped) else 1)
        bar.set_postfix(chunks=n_chunks, refresh=False)

    return progress


def update_with_progress(
    paths: list[Path], root: Path | PgStore, embedder, chunker, prune: bool, collection: str | None = None
):
    """An incremental update with a progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    from index.update import update_index

    with tqdm(desc="updating", unit="doc", file=sys.stderr, disable=None) as bar:
        return update_index(
            paths, root, embedder, chunker, prune=prune, on_document=_progress(bar), collection=collection
        )


def build_with_progress(paths: list[Path], root: Path | PgStore, embedder, chunker, collection: str = "default"):
    """A full build with a progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    from index.build import build_index
    from index.loaders import iter_sources

    with tqdm(desc="indexing", unit="doc", file=sys.stderr, disable=None) as bar:
        return build_index(
            iter_sources(paths), root, embedder, chunker, on_document=_progress(bar), collection=collection
        )


def _info_command(args: argparse.Namespace) -> int:
    from index.embedding import RECORDED_BEFORE_BACKENDS
    from index.store import IndexDir

    root = index_location(args)
    if isinstance(root, Path):
        index_dir = IndexDir(root)
        manifest, where, generation = index_dir.manifest(), str(index_dir.root), index_dir.current().name
    else:
        from index.postgres import generation_name

        with root.snapshot() as snap:
            manifest, where, generation = snap.manifest, str(root), generation_name(snap.generation)
    info = {
        "index": where,
        "generation": generation,
        **{k: v for k, v in manifest.to_json().items() if k != "documents"},
    }
    if args.json:
        print_json(info)
        return 0
    print(f"index       {info['index']} ({info['generation']})")
    print(f"documents   {manifest.counts['documents']}   chunks {manifest.counts['chunks']}")
    print(f"embedder    {manifest.embedder['name']} ({manifest.embedder['fingerprint']}, {manifest.embedder['dim']}-d)")
    recorded = manifest.embedder
    backend = recorded.get("backend", RECORDED_BEFORE_BACKENDS)
    print(f"backend     {backend} (quantization {recorded.get('quantization', 'none')})")
    print(f"chunker     {manifest.chunker}   index text: {manifest.index_text}")
    dense = manifest.dense
    print(f"dense       {dense.get('kind', 'exact')} search ({dense.get('factory', 'flat inner product')})")
    print(f"created     {manifest.created_at}   format {manifest.format_version}")
    print(f"skipped     {len(manifest.skipped)} files at build time")
    return 0
