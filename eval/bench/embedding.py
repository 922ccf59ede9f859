"""Embedding backends benchmark: throughput and quality of torch, onnx int8 and onnx fp32, in one run.

    python -m eval.bench.embedding [--scifact DIR] [--squad FILE] [--backends torch onnx-int8 onnx-fp32]
                                   [--openvino [VARIANT ...]] [--workers 1 2] [--torch-threads N]
                                   [--limit N] [--json FILE]

For each backend and each set (by default the committed cuts: tests/data/scifact, 400 abstracts and
150 claims; tests/data/squad/dev-v1.1.json, 233 paragraphs and 1,198 questions; ``--scifact`` and
``--squad`` point at the shared data instead) it builds an index in a temporary folder through the
project's own pipeline and prints:
- chunks/s of the whole build (wall and CPU time of this process), and its ratio to torch's,
- retrieval quality: SciFact nDCG@10 and SQuAD R@1, with the product's search (hybrid + rerank)
  and with the dense retriever alone (the one the vectors decide), and the change against torch,
- agreement with torch: cosine of each chunk vector and each stored sentence vector, and the share
  of equal token sign bits, over the same chunks,
- a sweep of the onnx backend's parallel runs (``--workers``) on the SciFact chunks, and the time to
  embed one question with each backend (p50/p95 over 200 SQuAD questions).

torch runs as a build runs it (``--torch-threads`` overrides): on one thread, because index/dense.py's
``faiss.omp_set_num_threads(1)`` also sets the OpenMP runtime torch shares. The sets are built in
turn, torch first, each backend's model loaded (and the onnx model exported,
when not cached) before its clock starts. Default run: about 10 minutes on 2 busy cores.

``--openvino`` adds the research-only OpenVINO variants (eval/bench/openvino_backend.py; default
fp32, int8 and bf16) to the same table, and their streams x threads to the sweep, when
``openvino`` (and, for int8, ``nncf``) is installed in the venv; they are no project dependency.
Without it the run says so in one line and carries on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eval.bench import openvino_backend
from eval.bench.common import REPO
from eval.bench.retrieval import _quality
from eval.metrics import percentile
from eval.questions import GoldQuestion, load_beir_queries, load_squad_questions
from index.build import DEFAULT_INDEX_TEXT, build_index
from index.chunking import ChunkerSettings, chunk_document
from index.embedding import Embedder, MiniLMEmbedder, _threads
from index.formats.corpora import iter_beir_documents, iter_squad_documents
from index.onnx_embedding import OnnxMiniLMEmbedder
from index.sentences import sentence_spans
from index.store import IndexDir, index_text
from qa.core.types import Document
from qa.search.fusion import FusionSettings, fuse
from qa.search.rerank import rerank
from qa.search.retrieval import Retriever

CUT_SCIFACT = REPO / "tests" / "data" / "scifact"
CUT_SQUAD = REPO / "tests" / "data" / "squad" / "dev-v1.1.json"
BACKENDS = ("torch", "onnx-int8", "onnx-fp32")
OPENVINO = "openvino-"  # research-only variants: "openvino-" + one of openvino_backend.VARIANTS
OPENVINO_DEFAULT = ("fp32", "int8", "bf16")


def make_embedder(backend: str, workers: int | None = None, threads: int = 1) -> Embedder:
    if backend == "torch":
        return MiniLMEmbedder()
    if backend.startswith(OPENVINO):
        return openvino_backend.OpenVinoMiniLMEmbedder(backend.removeprefix(OPENVINO), workers, threads)
    return OnnxMiniLMEmbedder("int8" if backend == "onnx-int8" else "none", workers=workers)


def _rankers(stored):
    hybrid = FusionSettings()
    return {
        "dense": lambda c, q: c.dense,
        "search": lambda c, q: rerank(stored, q, c.rows, c.dense, c.bm25, fuse(c.dense, c.bm25, hybrid)),
    }


def bench_set(name: str, documents: list[Document], questions: list[GoldQuestion], embedder: Embedder) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-embedding-") as tmp:
        t, cpu = time.perf_counter(), time.process_time()
        report = build_index(iter(documents), Path(tmp), embedder)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        stored = IndexDir(Path(tmp)).load(embedder)
        quality = _quality(Retriever(stored, embedder), questions, _rankers(stored))
        order = np.argsort(stored.chunks["id"])  # rows in chunk id order: the same in every backend's build
        vectors = np.asarray(stored.dense.vectors(stored.chunks["id"][order]), dtype=np.float32)
        sentences = np.asarray(stored.sentence_vectors, dtype=np.float32)
    return {
        "chunks": report.chunks,
        "build_s": wall,
        "build_cpu_s": cpu,
        "embed_s": report.timings.get("embed"),
        "chunks_per_s": report.chunks / wall,
        "chunks_per_cpu_s": report.chunks / cpu,
        "quality": quality,
        "_vectors": vectors,
        "_sentences": sentences,
    }


def agreement(ours: dict, torch: dict) -> dict:
    """Cosines of the same chunks' vectors and sentence vectors (float16 as stored)."""
    chunks = (ours["_vectors"] * torch["_vectors"]).sum(axis=1)
    a, b = ours["_sentences"], torch["_sentences"]
    sentences = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return {
        "chunk_cosine_min": float(chunks.min()),
        "chunk_cosine_p1": float(np.percentile(chunks, 1)),
        "chunk_cosine_mean": float(chunks.mean()),
        "sentence_cosine_min": float(sentences.min()),
        "sentence_cosine_mean": float(sentences.mean()),
    }


def sign_agreement(embedder: Embedder, reference: Embedder, texts: list[str]) -> float:
    spans = [sentence_spans(t) for t in texts]
    ours, theirs = embedder.embed_spans(texts, spans), reference.embed_spans(texts, spans)
    return float((np.unpackbits(ours.token_bits, axis=1) == np.unpackbits(theirs.token_bits, axis=1)).mean())


def worker_sweep(texts: list[str], workers: list[int], backend: str = "onnx-int8", threads: int = 1) -> dict:
    """chunks/s of a backend's ``embed_spans`` (what a build calls) with each number of parallel runs
    (onnx: single-threaded sessions; openvino: streams of ``threads`` threads)."""
    spans = [sentence_spans(t) for t in texts]
    out = {}
    for n in workers:
        embedder = make_embedder(backend, workers=n, threads=threads)
        embedder.warm_up()
        embedder.embed_spans(texts[:8], spans[:8])  # openvino prepares kernels per input length on first sight
        t, cpu = time.perf_counter(), time.process_time()
        embedder.embed_spans(texts, spans)
        out[n] = {"chunks_per_s": len(texts) / (time.perf_counter() - t), "cpu_s": time.process_time() - cpu}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=CUT_SCIFACT, help="a BEIR SciFact folder (default: the cut)")
    parser.add_argument("--squad", type=Path, default=CUT_SQUAD, help="a SQuAD v1.1 JSON file (default: the cut)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument(
        "--openvino",
        nargs="*",
        choices=openvino_backend.VARIANTS,
        default=None,
        metavar="VARIANT",
        help=f"add OpenVINO variants (research only; default {' '.join(OPENVINO_DEFAULT)};"
        f" known: {' '.join(openvino_backend.VARIANTS)})",
    )
    parser.add_argument("--workers", nargs="*", type=int, default=[1, 2], help="onnx parallel runs to sweep")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch threads (default: as a build runs)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents and questions of each set")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends if b != "torch"]
    version = openvino_backend.available()
    if version is None:
        print("openvino is not installed: no openvino rows (`pip install openvino nncf` to add them)", flush=True)
    elif args.openvino is not None:
        variants = args.openvino or list(OPENVINO_DEFAULT)
        backends += [OPENVINO + v for v in variants]
        print(f"openvino {version}: variants {', '.join(variants)} (research only)", flush=True)

    sets = {
        "scifact": (list(iter_beir_documents(args.scifact / "corpus.jsonl")), load_beir_queries(args.scifact, "train")),
        "squad": (list(iter_squad_documents(args.squad)), load_squad_questions(args.squad)),
    }
    if args.limit:
        print(f"bounded run: only the first {args.limit} documents and questions of each set", flush=True)
        sets = {
            name: (docs[: args.limit], _answerable(qs[: args.limit], docs[: args.limit]))
            for name, (docs, qs) in sets.items()
        }
    for name, (documents, questions) in sets.items():
        print(f"{name}: {len(documents)} documents, {len(questions)} questions", flush=True)
    results: dict[str, dict[str, dict]] = {}
    embedders: dict[str, Embedder] = {}
    for backend in ["torch", *backends]:
        embedder = embedders[backend] = make_embedder(backend)
        embedder.warm_up()  # loads the model (and exports the onnx one on first use) off the clock
        print(f"\n== {backend}: {embedder.fingerprint}", flush=True)
        if isinstance(embedder, openvino_backend.OpenVinoMiniLMEmbedder):
            print(f"   {embedder.settings()}", flush=True)
        with _threads(args.torch_threads if backend == "torch" else None):
            results[backend] = {name: bench_set(name, *sets[name], embedder) for name in sets}
        for name, row in results[backend].items():
            print(
                f"{name:<8} {row['chunks']} chunks, build {row['build_s']:.1f}s = {row['chunks_per_s']:.1f} chunks/s"
                f" ({row['chunks_per_cpu_s']:.1f} per CPU second)",
                flush=True,
            )

    scifact_texts = [
        index_text(d, c.text, DEFAULT_INDEX_TEXT)
        for d in sets["scifact"][0][:60]
        for c in chunk_document(d, ChunkerSettings())
    ][:128]
    figures = summary(results, embedders, scifact_texts, args.workers)
    figures["query_ms"] = query_latency(embedders, [q.question for q in sets["squad"][1][:200]])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


def query_latency(embedders: dict[str, Embedder], questions: list[str]) -> dict[str, dict[str, float]]:
    """p50/p95 of embedding one question (``embed_query``, what a search runs first), backends in turn."""
    out = {}
    for backend, embedder in embedders.items():
        times = []
        for question in questions:
            t = time.perf_counter()
            embedder.embed_query(question)
            times.append((time.perf_counter() - t) * 1000)
        out[backend] = {"p50": percentile(times, 50), "p95": percentile(times, 95)}
        print(f"{backend}: query embedding p50 {out[backend]['p50']:.1f} ms, p95 {out[backend]['p95']:.1f} ms")
    return out


def _answerable(questions: list[GoldQuestion], documents: list[Document]) -> list[GoldQuestion]:
    ids = {d.doc_id for d in documents}
    return [q for q in questions if set(q.doc_ids) & ids]


def summary(results: dict, embedders: dict, texts: list[str], workers: list[int]) -> dict:
    """Print the table of figures against torch and return them."""
    base = results["torch"]
    metric = {"scifact": "nDCG@10", "squad": "R@1"}
    figures: dict = {}
    print(
        f"\n{'backend':<18} {'set':<8} {'chunks/s':>9} {'x torch':>8} {'CPU x':>6} "
        f"{'search':>8} {'Δ':>8} {'dense':>8} {'Δ':>8} {'cos min':>8} {'cos mean':>9} {'sent min':>9}"
    )
    for backend, sets in results.items():
        figures[backend] = {}
        for name, row in sets.items():
            ref, m = base[name], metric[name]
            search, dense = row["quality"]["search"][m], row["quality"]["dense"][m]
            agree = agreement(row, ref)
            fig = {k: v for k, v in row.items() if not k.startswith("_")} | agree
            fig |= {
                "speed_vs_torch": row["chunks_per_s"] / ref["chunks_per_s"],
                "cpu_speed_vs_torch": row["chunks_per_cpu_s"] / ref["chunks_per_cpu_s"],
                f"search_{m}_delta": search - ref["quality"]["search"][m],
                f"dense_{m}_delta": dense - ref["quality"]["dense"][m],
            }
            figures[backend][name] = fig
            print(
                f"{backend:<18} {name:<8} {row['chunks_per_s']:>9.1f} {fig['speed_vs_torch']:>8.2f}"
                f" {fig['cpu_speed_vs_torch']:>6.2f} {search:>8.4f} {fig[f'search_{m}_delta']:>+8.4f}"
                f" {dense:>8.4f} {fig[f'dense_{m}_delta']:>+8.4f} {agree['chunk_cosine_min']:>8.4f}"
                f" {agree['chunk_cosine_mean']:>9.5f} {agree['sentence_cosine_min']:>9.4f}"
            )
    print("(search = hybrid + rerank, what qa search/ask run; SciFact nDCG@10, SQuAD R@1)")
    for backend, embedder in embedders.items():
        if backend != "torch":
            share = sign_agreement(embedder, embedders["torch"], texts[:64])
            figures[backend]["token_sign_agreement"] = share
            print(f"{backend}: token sign bits equal to torch's: {share:.4f}")
    if workers:
        sweep = worker_sweep(texts, workers)
        figures["onnx-int8-workers"] = sweep
        for n, row in sweep.items():
            print(f"onnx-int8, {n} parallel run(s): {row['chunks_per_s']:.1f} chunks/s ({row['cpu_s']:.1f} CPU s)")
        for backend in (b for b in embedders if b.startswith(OPENVINO)):
            # streams x 1 thread as built, and one stream of two threads (OpenVINO's latency layout)
            runs = {f"{n}x1": row for n, row in worker_sweep(texts, workers, backend).items()}
            runs["1x2"] = worker_sweep(texts, [1], backend, threads=2)[1]
            figures[f"{backend}-workers"] = runs
            for layout, row in runs.items():
                print(
                    f"{backend}, {layout} (streams x threads): {row['chunks_per_s']:.1f} chunks/s"
                    f" ({row['cpu_s']:.1f} CPU s)"
                )
    return figures


if __name__ == "__main__":
    sys.exit(main())
