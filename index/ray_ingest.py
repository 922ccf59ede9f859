"""Ray Data ingest: files read, chunked and embedded by Ray workers, written by the driver.

The only module that imports ray (``qa index build --ray``); nothing else imports this one.

The driver lists the files exactly as ``iter_sources`` walks them (same order, same rules for
hidden files and excluded folders), hands groups of ``batch_files`` paths to a pool of Ray actors,
and yields what they made in that listing order, so a build from these results is the build of
the single-machine path. Each actor reads a file with the loader ``iter_sources`` uses (the same
Skipped reasons), chunks it with ``chunk_spans`` and embeds its chunks with ``embed_chunks``,
using an embedder re-created from its manifest record (``embedder_json``): models are never
pickled, each worker loads its own once. A file's results travel back as one pickled value in a
binary Arrow column; the repeated-id check of ``iter_sources`` needs every earlier file, so it is
made on the driver.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import pickle
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.batching import EMBED_BATCH, Span, chunk_inputs, embed_chunks
from index.build import DEFAULT_INDEX_TEXT, BuildReport, build_index, chunk_spans
from index.cache import ChunkVectors
from index.chunking import ChunkerSettings
from index.dense import DenseSettings
from index.embedding import Embedder, embedder_json, recorded_embedder
from index.loaders import Skipped, load_file, not_blank, walk_folder
from qa.core.errors import IndexMismatch, MissingExtra, QAError
from qa.core.types import Document

if TYPE_CHECKING:
    import pyarrow

    from index.postgres.reader import PgStore

RAY_MISSING = "Ray ingest needs the ray extra: pip install -e '.[ray]'"


@dataclass(frozen=True)
class Prepared:
    """A document read, chunked and embedded by a worker: ``vectors`` has one entry per span."""

    doc: Document
    spans: list[Span]
    vectors: list[ChunkVectors]


@dataclass
class IngestStats:
    """What the workers did, filled in as results arrive (pass one to ``ray_sources``)."""

    files: int = 0
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0  # the driver's wall time, from connecting to the last result
    workers: dict[str, list[float]] = field(default_factory=dict)  # "host:pid" -> [chunks, busy seconds]

    def chunks_per_second(self) -> dict[str, float]:
        """Each worker's chunks per busy second (reading, chunking and embedding)."""
        return {name: chunks / busy if busy else 0.0 for name, (chunks, busy) in self.workers.items()}

    def to_json(self) -> dict:
        return {
            "files": self.files,
            "documents": self.documents,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "chunks_per_second": round(self.chunks / self.seconds, 1) if self.seconds else 0.0,
            "workers": {
                name: {"chunks": int(chunks), "seconds": round(busy, 3), "chunks_per_second": round(rate, 1)}
                for (name, (chunks, busy)), rate in zip(self.workers.items(), self.chunks_per_second().values())
            },
        }


@dataclass(frozen=True, slots=True)
class _File:
    index: int  # its place in the listing
    path: str
    doc_id: str


def import_ray():
    """The ray module, with usage stats off; MissingExtra when the ray extra is not installed."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.data  # the ray extra installs ray[data]: without it the workers cannot start
    except ImportError as error:
        raise MissingExtra(RAY_MISSING) from error
    return ray


def connect(address: str | None = None, runtime_env: dict | None = None):
    """Ray, initialised: reused when it already is, else connected to ``address`` ("auto",
    "host:port", "ray://host:port"; None: $RAY_ADDRESS, else a new local cluster on loopback)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        # A cluster of this machine only: nothing listens beyond loopback, no dashboard.
        ray.init(
            address="local",
            include_dashboard=False,
            logging_level=logging.WARNING,
            runtime_env=runtime_env,
            _node_ip_address="127.0.0.1",
        )
    else:
        ray.init(address=address, logging_level=logging.WARNING, runtime_env=runtime_env)
    # A build prints its own summary; Ray Data's per-dataset INFO lines would bury it.
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


def list_files(paths: Iterable[str | Path], exclude: frozenset[str] = frozenset()) -> list[_File | Skipped]:
    """What ``iter_sources(paths, exclude=exclude)`` reads, in its order: the files, and a
    Skipped for each folder that cannot be listed and each path that does not exist."""
    out: list[_File | Skipped] = []
    for given in map(os.fspath, paths):
        if os.path.isdir(given):
            found: Iterable[tuple[str, str] | Skipped] = walk_folder(given, exclude)
        elif os.path.lexists(given):
            found = [(os.path.basename(given), given)]
        else:
            found = [Skipped(given, "no such file or directory")]
        for item in found:
            out.append(item if isinstance(item, Skipped) else _File(len(out), item[1], item[0]))
    return out


def ray_sources(
    paths: Sequence[str | Path],
    embedder_spec: dict,
    chunker: ChunkerSettings,
    index_text_mode: str,
    address: str | None = None,
    batch_files: int = 8,
    workers: int | None = None,
    exclude: frozenset[str] = frozenset(),
    stats: IngestStats | None = None,
    runtime_env: dict | None = None,
) -> Iterator[Prepared | Skipped]:
    """What ``iter_sources(paths, exclude=exclude)`` yields, in the same order, each document
    chunked and embedded on a Ray worker (``embedder_spec``: ``embedder_json`` of the embedder).

    ``workers``: the number of worker actors, each taking one CPU (None: one per CPU of the
    cluster). ``stats`` is filled in as results arrive. Raises MissingExtra without the ray
    extra, IndexMismatch when ``embedder_spec`` does not re-create the embedder it records.
    """
    if batch_files < 1:
        raise QAError(f"batch_files must be at least 1, got {batch_files}")
    if workers is not None and workers < 1:
        raise QAError(f"workers must be at least 1, got {workers}")
    import_ray()  # MissingExtra before any work
    _worker_embedder(json.dumps(embedder_spec, sort_keys=True))  # a wrong spec fails here, not in every worker
    began = time.perf_counter()
    listing = list_files(paths, exclude)
    files = [item for item in listing if isinstance(item, _File)]
    results = _run(
        connect(address, runtime_env) if files else None,
        files,
        embedder_spec,
        chunker,
        index_text_mode,
        batch_files,
        workers,
    )
    made: dict[int, Any] = {}  # rows that came before their turn (only if Ray did not keep the order)
    first_source: dict[str, str] = {}
    for item in listing:
        if isinstance(item, Skipped):
            yield item
            continue
        while item.index not in made:
            row = next(results)
            made[row["index"]] = row
        row = made.pop(item.index)
        if stats is not None:
            _count(stats, row)
        for one in pickle.loads(row["payload"]):
            if isinstance(one, Prepared):
                if one.doc.doc_id in first_source:
                    earlier = first_source[one.doc.doc_id]
                    one = Skipped(one.doc.source, f"duplicate document id {one.doc.doc_id!r} (also from {earlier})")
                else:
                    first_source[one.doc.doc_id] = one.doc.source
                    if stats is not None:
                        stats.documents += 1
            yield one
        if stats is not None:
            stats.seconds = time.perf_counter() - began


def _count(stats: IngestStats, row: dict) -> None:
    stats.files += 1
    stats.chunks += row["chunks"]
    worker = stats.workers.setdefault(row["worker"], [0, 0.0])
    worker[0] += row["chunks"]
    worker[1] += row["seconds"]


def _run(
    ray,
    files: list[_File],
    embedder_spec: dict,
    chunker: ChunkerSettings,
    index_text_mode: str,
    batch_files: int,
    workers: int | None,
) -> Iterator[dict]:
    """The workers' rows (``index``, ``payload``, ``worker``, ``chunks``, ``seconds``), one per file,
    in listing order."""
    if not files:
        return
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    pool = workers or max(1, int(cpus))
    pool = min(pool, math.ceil(len(files) / batch_files))  # an actor without a batch only loads a model
    # Making or copying a DataContext (every dataset keeps its own) warns about Ray's own deprecated fields.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
        saved = (context.execution_options.preserve_order, context.enable_progress_bars)
        try:
            context.execution_options.preserve_order = True  # rows come back in file order
            context.enable_progress_bars = False  # the CLI draws its own
            items = [{"index": f.index, "path": f.path, "doc_id": f.doc_id} for f in files]
            dataset = ray.data.from_items(items, override_num_blocks=math.ceil(len(files) / batch_files))
        finally:
            context.execution_options.preserve_order, context.enable_progress_bars = saved
        dataset = dataset.map_batches(
            _PrepareFiles,
            fn_constructor_args=(json.dumps(embedder_spec, sort_keys=True), chunker, index_text_mode),
            batch_size=batch_files,
            batch_format="pyarrow",
            zero_copy_batch=True,
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=min(1.0, cpus / pool),  # more workers than CPUs share them rather than wait forever
        )
    yield from dataset.iter_rows()


@cache
def _worker_embedder(spec: str) -> Embedder:
    """The embedder ``spec`` records (``embedder_json``, as JSON), made once per process."""
    recorded = json.loads(spec)
    embedder = recorded_embedder(recorded)
    if "fingerprint" in recorded and embedder.fingerprint != recorded["fingerprint"]:
        raise IndexMismatch(f"embedder record {recorded!r} re-creates {embedder.fingerprint!r}")
    return embedder


class _PrepareFiles:
    """A Ray actor: reads, chunks and embeds groups of files (``map_batches``)."""

    def __init__(self, spec: str, chunker: ChunkerSettings, index_text_mode: str) -> None:
        self.embedder = _worker_embedder(spec)
        if hasattr(self.embedder, "workers"):  # onnx: one run per CPU of this actor, not per core of the machine
            import ray

            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
            self.embedder.workers = max(1, int(cpus))
        if hasattr(self.embedder, "warm_up"):
            self.embedder.warm_up()  # loading the model is not part of a batch's time
        self.chunker = chunker
        self.index_text_mode = index_text_mode
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: pyarrow.Table) -> pyarrow.Table:
        import pyarrow as pa

        began = time.perf_counter()
        read = [
            [not_blank(item) for item in load_file(path, doc_id=doc_id)]
            for path, doc_id in zip(batch.column("path").to_pylist(), batch.column("doc_id").to_pylist(), strict=True)
        ]
        docs = [item for items in read for item in items if isinstance(item, Document)]
        spans = [chunk_spans(doc, self.chunker) for doc in docs]
        inputs = [
            chunk
            for doc, its in zip(docs, spans, strict=True)
            for chunk in chunk_inputs(doc, its, mode=self.index_text_mode)
        ]
        vectors = [
            v
            for first in range(0, len(inputs), EMBED_BATCH)
            for v in embed_chunks(self.embedder, inputs[first : first + EMBED_BATCH])
        ]
        made = iter(vectors)
        prepared = iter([Prepared(doc, its, [next(made) for _ in its]) for doc, its in zip(docs, spans, strict=True)])
        payloads, chunks = [], []
        for items in read:
            out = [next(prepared) if isinstance(item, Document) else item for item in items]
            payloads.append(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
            chunks.append(sum(len(p.spans) for p in out if isinstance(p, Prepared)))
        seconds = [0.0] * len(read)
        if read:
            seconds[0] = time.perf_counter() - began  # the batch's time, counted once
        return pa.table(
            {
                "index": batch.column("index"),
                "payload": pa.array(payloads, type=pa.large_binary()),
                "worker": pa.array([self.name] * len(read), type=pa.string()),
                "chunks": pa.array(chunks, type=pa.int64()),
                "seconds": pa.array(seconds, type=pa.float64()),
            }
        )


def build_index_ray(
    paths: Sequence[str | Path],
    root: Path | PgStore,
    embedder: Embedder,
    chunker: ChunkerSettings = ChunkerSettings(),
    index_text_mode: str = DEFAULT_INDEX_TEXT,
    address: str | None = None,
    workers: int | None = None,
    collection: str | None = None,
    on_document: Callable[[Document | Skipped, int], None] | None = None,
    dense: DenseSettings = DenseSettings(),
    batch_files: int = 8,
    stats: IngestStats | None = None,
    exclude: frozenset[str] = frozenset(),
) -> BuildReport:
    """``build_index(iter_sources(paths), ...)`` with the reading, chunking and embedding done by
    Ray workers: the same index. ``timings["ray"]`` is the workers' busy time summed."""
    stats = stats if stats is not None else IngestStats()
    sources = ray_sources(
        paths, embedder_json(embedder), chunker, index_text_mode, address, batch_files, workers, exclude, stats
    )
    report = build_index(sources, root, embedder, chunker, index_text_mode, on_document, dense, collection)
    busy = sum(seconds for _, seconds in stats.workers.values())
    return dataclasses.replace(report, timings={"ray": busy, **report.timings})
