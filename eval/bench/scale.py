"""Scale: a synthetic index of N chunks, approximate dense search against exact, in one run.

    python -m eval.bench.scale [--chunks 100000] [--queries 1000] [--index DIR]

Writes a real generation (``GenerationWriter``, as a build does: documents, chunk table,
vectors, the approximate index, BM25, sentence vectors and token signs) from the synthetic corpus
of eval/bench/scale_data.py (N chunks, the SciFact cut's ~890 real chunks among them; vectors
handed out precomputed, each document one chunk, so neither the model nor the chunker is timed),
with the approximate index forced at every size so that both can be compared on the same
vectors. Then, in
a fresh process (``--probe``): the RSS after imports and after loading it, search latency p50/p95
of the dense search alone (100 candidates, as a hybrid search asks) and of a whole hybrid search
(BM25, fusion and the token-sign rerank; the query's vectors given, so no model runs), with the
approximate index and with exact search over the same mapped vectors, the RSS after each, and
recall@10/@100 of the approximate dense search against the exact one, for held-out synthetic
queries and for the 150 real SciFact claims. Prints ratios against exact.

``--index DIR`` keeps the generation there and reuses it (the build is most of a run's time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eval.bench.common import index_folder
from eval.bench.scale_data import QUERY_SPREAD, ScaleEmbedder, Synthetic, documents, query_tokens, real_slice
from index.build import DEFAULT_INDEX_TEXT
from index.chunking import ChunkerSettings
from index.dense import DenseIndex, DenseSettings
from index.layout import DENSE_FILE
from index.store import IndexDir, StoredIndex
from index.writer import GenerationWriter
from qa.search.retrieval import Retriever

# (ef_search, refine) compared on the same graph; (1024, 4) is the product's.
SEARCH_GRID = ((256, 4), (512, 2), (512, 4), (1024, 2), (1024, 4), (2048, 4))
CHUNKER = ChunkerSettings(max_tokens=512, overlap_tokens=0)  # recorded only: each document is one chunk


def queries_file(root: Path) -> Path:
    """Where a run's queries are kept: beside its index, named after it."""
    return root.parent / f"{root.name}-queries.npz"


def rss() -> dict[str, float]:
    """This process's resident memory (MiB): all of it, anonymous, and mapped file pages."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def build(root: Path, chunks: int, queries: int) -> dict:
    """Write the generation and the queries (vectors, texts) beside it; the build's figures."""
    real = real_slice()
    synthetic = Synthetic(real, chunks)
    vectors, topics = synthetic.draw(chunks - len(real.texts), 0.5)
    held_out, held_topics = synthetic.draw(queries, QUERY_SPREAD)
    texts = [synthetic.text(int(t), 1, 8) for t in held_topics]
    np.savez(
        queries_file(root),
        synthetic=held_out,
        synthetic_texts=json.dumps(texts),
        scifact=real.claim_vectors,
        scifact_texts=json.dumps(real.claims),
    )
    embedder = ScaleEmbedder(np.concatenate([vectors, real.vectors]))
    del vectors  # the embedder holds the one copy
    began = time.perf_counter()
    # The writer itself, each document one chunk: the chunker's tokenising is not what is measured here.
    with GenerationWriter(
        IndexDir(root), embedder, CHUNKER, DEFAULT_INDEX_TEXT, dense=DenseSettings(threshold=1)
    ) as writer:
        for doc in documents(synthetic, topics, real):
            writer.add(doc, [(0, len(doc.text), len(doc.text.split()))])
        writer.publish([])
    seconds = time.perf_counter() - began
    if embedder.used != chunks or writer.chunks != chunks:
        raise SystemExit(f"{writer.chunks} chunks from {embedder.used} vectors, expected {chunks}")
    return {"seconds": round(seconds, 1), "timings": {k: round(v, 1) for k, v in writer.timings.items()}}


def probe(root: Path, k: int = 10, depth: int = 100) -> dict:
    """Run in a fresh process: load, time the searches, compare approximate with exact."""
    out: dict = {"rss_imported": rss()}
    began = time.perf_counter()
    stored = IndexDir(root).load()
    out["load_seconds"] = round(time.perf_counter() - began, 3)
    out["rss_loaded"] = rss()
    ids, vectors = stored.dense.items()
    exact = dataclasses.replace(stored, dense=DenseIndex(ids, vectors, DenseSettings()))
    queries = np.load(queries_file(root))
    rng = np.random.default_rng(3)
    for name in ("synthetic", "scifact"):
        texts = json.loads(str(queries[f"{name}_texts"]))
        asked = [(text, query_tokens(vector, len(text.split()), rng)) for text, vector in zip(texts, queries[name])]
        found = {}
        for kind, index in (("approximate", stored), ("exact", exact)):
            found[kind] = _run(index, asked, k, depth)
            out[f"rss_after_{name}_{kind}"] = rss()
            out[f"{name}_{kind}"] = {key: value for key, value in found[kind].items() if key.endswith("ms")}
        out[f"{name}_recall"] = _recall(found["approximate"], found["exact"], k, depth)
        out[f"{name}_ef_search"] = _ef_grid(stored, [v for _, v in asked], found["exact"], k, depth)
    out["manifest_dense"] = stored.manifest.dense
    return out


def _ef_grid(stored: StoredIndex, asked: list, exact: dict, k: int, depth: int) -> dict:
    """Dense search alone, the same graph searched wider or narrower: how ``ef_search`` and ``refine`` were chosen."""
    grid = {}
    ids, vectors = stored.dense.items()
    for ef, refine in SEARCH_GRID:
        described = {**stored.manifest.dense, "ef_search": ef, "refine": refine}
        dense = DenseIndex.load(ids, vectors, described, stored.path / DENSE_FILE)
        ms, found = [], []
        for vector in (a.vector for a in asked):
            began = time.perf_counter()
            found.append(dense.search(vector, depth)[1].tolist())
            ms.append((time.perf_counter() - began) * 1000)
        grid[f"ef_search {ef}, refine {refine}"] = {
            f"dense_recall@{k}": round(_overlap(found, exact["dense_ids"], k), 4),
            f"dense_recall@{depth}": round(_overlap(found, exact["dense_ids"], depth), 4),
            "p50_ms": round(float(np.median(ms)), 2),
        }
    return grid


def _run(index: StoredIndex, asked: list, k: int, depth: int) -> dict:
    retriever = Retriever(index, None)  # type: ignore[arg-type]  # every query carries its vectors
    dense_ms, hybrid_ms, dense_ids, hybrid_ids = [], [], [], []
    for text, vectors in asked:
        began = time.perf_counter()
        _, ids = index.dense.search(vectors.vector, depth)
        dense_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        hits = retriever.search(text, k, "hybrid", vector=vectors)
        hybrid_ms.append((time.perf_counter() - began) * 1000)
        dense_ids.append(ids.tolist())
        hybrid_ids.append([h.chunk_id for h in hits])
    summary = {
        f"{name}_ms": [round(float(np.percentile(ms, p)), 2) for p in (50, 95)]
        for name, ms in (("dense", dense_ms), ("hybrid", hybrid_ms))
    }
    return {**summary, "dense_ids": dense_ids, "hybrid_ids": hybrid_ids}


def _overlap(found: list, expected: list, n: int) -> float:
    """Mean share of each query's first ``n`` expected ids among its first ``n`` found ones."""
    return float(np.mean([len(set(x[:n]) & set(y[:n])) / max(1, len(y[:n])) for x, y in zip(found, expected)]))


def _recall(approximate: dict, exact: dict, k: int, depth: int) -> dict:
    return {
        f"dense_recall@{k}": round(_overlap(approximate["dense_ids"], exact["dense_ids"], k), 4),
        f"dense_recall@{depth}": round(_overlap(approximate["dense_ids"], exact["dense_ids"], depth), 4),
        f"hybrid_top{k}_agreement": round(_overlap(approximate["hybrid_ids"], exact["hybrid_ids"], k), 4),
    }


def report(chunks: int, built: dict | None, probed: dict) -> None:
    print(f"\n== scale: {chunks:,} chunks ==")
    if built is not None:
        print(f"build {built['seconds']} s (timings {built['timings']})")
    sizes = probed["bytes"]
    total = sum(sizes.values())
    print(
        f"index bytes {total / 2**20:,.0f} MiB: "
        + ", ".join(f"{name} {size / 2**20:,.0f}" for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:7])
    )
    print(f"dense index {probed['manifest_dense']}")
    print(f"load {probed['load_seconds']} s; RSS MiB after imports {probed['rss_imported']}")
    print(f"RSS MiB after load {probed['rss_loaded']}")
    for name in ("synthetic", "scifact"):
        a, e = probed[f"{name}_approximate"], probed[f"{name}_exact"]
        print(f"{name} queries: {probed[f'{name}_recall']}")
        for key in ("dense_ms", "hybrid_ms"):
            ratio = a[key][0] / e[key][0] if e[key][0] else float("nan")
            approximate, exact = f"{a[key][0]:7.2f} / {a[key][1]:7.2f}", f"{e[key][0]:7.2f} / {e[key][1]:7.2f}"
            print(f"  {key[:-3]:6s} p50/p95 ms approximate {approximate}   exact {exact}   p50 ratio {ratio:.3f}")
        print(f"  RSS MiB after the approximate searches {probed[f'rss_after_{name}_approximate']}")
        print(f"  RSS MiB after the exact searches {probed[f'rss_after_{name}_exact']}")
        for setting, figures in probed[f"{name}_ef_search"].items():
            print(f"  {setting}: {figures}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the index (default 100,000)")
    parser.add_argument("--queries", type=int, default=1000, help="held-out synthetic queries")
    parser.add_argument("--index", type=Path, default=None, help="keep (and reuse) the index here")
    parser.add_argument("--probe", type=Path, default=None, help=argparse.SUPPRESS)  # the fresh process
    args = parser.parse_args(argv)
    if args.probe is not None:
        print(json.dumps(probe(args.probe)))
        return 0
    with index_folder(args.index) as folder:
        root = folder / f"scale-{args.chunks}"
        built = None
        if not IndexDir(root).exists():
            root.mkdir(parents=True, exist_ok=True)
            built = build(root, args.chunks, args.queries)
            print(json.dumps({"build": built}), flush=True)
        command = [sys.executable, "-m", "eval.bench.scale", "--probe", str(root)]
        probed = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        generation = IndexDir(root).current()
        probed["bytes"] = {
            p.relative_to(generation).as_posix(): p.stat().st_size for p in generation.rglob("*") if p.is_file()
        }
        print(json.dumps({"probe": probed}), flush=True)
        report(args.chunks, built, probed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
