"""``qa index watch``: keep an index in step with folders until Ctrl+C (index/watch.py).

Prints one line when it starts, one per update that changed the index or skipped a file, and
``stopped`` on Ctrl+C (exit 0). Errors (a missing path, an index made with other settings) exit 1
like ``qa index update``; another writer holding the index is waited for, not an error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from qa.commands.common import add_index_arg, index_location, print_json


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value}")
    return seconds


def register(index: argparse._SubParsersAction) -> None:
    # The defaults are index.watch's DEBOUNCE_S and SETTLE_S (not imported here: `qa` starts fast).
    watch = index.add_parser("watch", help="keep the index in step with folders as files change (until Ctrl+C)")
    watch.add_argument("paths", nargs="+", type=Path)
    add_index_arg(watch)
    watch.add_argument(
        "--keep-deleted",
        action="store_true",
        help="keep the documents of deleted files (by default the index mirrors PATHs, like update --prune)",
    )
    watch.add_argument(
        "--debounce",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="quiet time after a file's last change before it is indexed (default 1)",
    )
    watch.add_argument(
        "--settle",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="time a file's size and modification time must stay the same before it is read (default 2)",
    )
    watch.add_argument("--embedder", default=None, help="default: the index's own (all-MiniLM-L6-v2 for a new one)")
    watch.add_argument(
        "--backend", choices=("onnx", "torch"), default=None, help="default: the index's own (onnx for a new one)"
    )
    watch.add_argument("--json", action="store_true", help="print each update's summary as a JSON line")
    watch.add_argument(
        "--collection", default=None, help="put the documents read in this collection (see qa index update)"
    )
    watch.set_defaults(run=_watch_command)


def _watch_command(args: argparse.Namespace) -> int:
    from index.watch import DEBOUNCE_S, SETTLE_S, watch, watch_targets
    from qa.commands.index_cmd import index_embedder

    root = index_location(args)
    watch_targets(args.paths)  # a missing path fails here, before a model is loaded
    embedder = index_embedder(root, args.embedder, args.backend)
    deleted = "kept" if args.keep_deleted else "removed"
    names = ", ".join(str(p) for p in args.paths)
    print(f"watching {names} -> {root} (deleted files are {deleted}); Ctrl+C stops", flush=True)
    last_skipped: tuple = ()

    def on_update(report) -> None:
        nonlocal last_skipped
        if not report.published and report.skipped == last_skipped:
            return  # nothing new to say
        last_skipped = report.skipped
        if args.json:
            print_json(report.to_json())
            return
        print(
            f"{time.strftime('%H:%M:%S')} added {report.added}, changed {report.changed}, removed {report.removed}, "
            f"unchanged {report.unchanged}, kept {report.kept} documents; "
            f"chunks embedded {report.chunks_embedded}, reused {report.chunks_reused}; {report.seconds:.1f}s",
            flush=True,
        )
        for item in report.skipped:
            print(f"  skipped {item.path}: {item.reason}", flush=True)

    def on_locked(message: str) -> None:
        print(f"waiting: {message}", file=sys.stderr, flush=True)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: an update cut short publishes nothing
        watch(
            args.paths,
            root,
            embedder,
            prune=not args.keep_deleted,
            collection=args.collection,
            debounce_s=DEBOUNCE_S if args.debounce is None else args.debounce,
            settle_s=SETTLE_S if args.settle is None else args.settle,
            on_update=on_update,
            on_locked=on_locked,
        )
    print("stopped", flush=True)
    return 0
