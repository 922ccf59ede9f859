"""Incremental update against a full build, on the SciFact corpus.

    python -m eval.bench.update [--shared ../shared] [--limit N] [--changed 10] [--embedder NAME]

In one process, with the embedding model loaded (and warmed up) before either is timed:
1. a full build (``build_index``) of the corpus through the project's own loaders,
2. an edit of ``--changed`` documents spread over the corpus (a sentence appended to each),
3. ``update_index`` of the edited corpus;
and prints both times (wall and CPU: the CPU ratio moves less when other work shares the
machine), their ratio (the target is an update at most 5% of a build), the chunks
each embedded, and the peak RSS of the process after the full build. ``--limit`` takes the first
N documents only, for a quick try.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from eval.bench.common import SCIFACT, add_shared_argument, peak_rss_mib, shared_folder
from index.build import build_index
from index.embedding import MINILM_NAME, embedder_by_name
from index.loaders import iter_sources
from index.update import update_index

EDIT = " This abstract was revised after publication to clarify the reported effect sizes."


def _write_corpus(lines: list[str], path: Path) -> None:
    path.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines), encoding="utf-8")


def _edit(lines: list[str], n: int) -> tuple[list[str], list[str]]:
    """The corpus with ``n`` evenly spread documents edited, and their ids."""
    step = max(1, len(lines) // max(n, 1))
    edited = list(lines)
    ids = []
    for row in range(0, len(lines), step)[:n]:
        record = json.loads(lines[row])
        record["text"] = record["text"] + EDIT
        edited[row] = json.dumps(record, ensure_ascii=False)
        ids.append(str(record["_id"]))
    return edited, ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shared_argument(parser)
    parser.add_argument("--limit", type=int, default=None, help="first N documents only (a quick try)")
    parser.add_argument("--changed", type=int, default=10, help="documents to edit before the update")
    parser.add_argument("--embedder", default=MINILM_NAME, help=f"{MINILM_NAME} (default) or hashing:<dim>")
    args = parser.parse_args(argv)

    with open(shared_folder(args.shared) / SCIFACT / "corpus.jsonl", encoding="utf-8") as corpus:
        lines = [line for line in corpus if line.strip()][: args.limit]
    embedder = embedder_by_name(args.embedder)
    if hasattr(embedder, "warm_up"):
        embedder.warm_up()
    print(f"corpus: {len(lines)} SciFact documents; embedder {embedder.name}; {os.cpu_count()} CPUs", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        corpus_path, root = Path(tmp) / "corpus.jsonl", Path(tmp) / "index"
        _write_corpus(lines, corpus_path)
        t, cpu = time.perf_counter(), time.process_time()
        build = build_index(iter_sources([corpus_path]), root, embedder)
        build_seconds, build_cpu = time.perf_counter() - t, time.process_time() - cpu
        build_rss = peak_rss_mib()
        print(
            f"full build: {build_seconds:.1f} s (CPU {build_cpu:.1f} s), {build.documents} documents, "
            f"{build.chunks} chunks embedded"
        )
        print(f"peak RSS after the full build: {build_rss:.0f} MiB", flush=True)

        edited, ids = _edit(lines, args.changed)
        _write_corpus(edited, corpus_path)
        t, cpu = time.perf_counter(), time.process_time()
        update = update_index([corpus_path], root, embedder)
        update_seconds, update_cpu = time.perf_counter() - t, time.process_time() - cpu
        print(
            f"update after editing {len(ids)} documents: {update_seconds:.2f} s (CPU {update_cpu:.2f} s); "
            f"changed {update.changed}, "
            f"unchanged {update.unchanged}; chunks embedded {update.chunks_embedded}, reused {update.chunks_reused}"
        )
        ratio = update_seconds / build_seconds
        cpu_ratio = update_cpu / build_cpu
        print(f"update / full build: {100 * ratio:.2f}% of wall time, {100 * cpu_ratio:.2f}% of CPU time (target 5%)")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            json.dumps(
                {
                    "documents": build.documents,
                    "chunks": build.chunks,
                    "embedder": embedder.name,
                    "build_seconds": round(build_seconds, 2),
                    "update_seconds": round(update_seconds, 3),
                    "ratio": round(ratio, 4),
                    "build_cpu_seconds": round(build_cpu, 2),
                    "update_cpu_seconds": round(update_cpu, 3),
                    "cpu_ratio": round(cpu_ratio, 4),
                    "changed": update.changed,
                    "chunks_embedded_by_update": update.chunks_embedded,
                    "chunks_reused_by_update": update.chunks_reused,
                    "peak_rss_mib_after_build": round(build_rss),
                    "peak_rss_mib_after_update": round(peak_rss_mib()),
                }
            )
        )
    return 0 if update.changed == len(ids) else 1


if __name__ == "__main__":
    raise SystemExit(main())
