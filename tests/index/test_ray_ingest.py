"""Ray Data ingest (index/ray_ingest.py) on a local 2-CPU cluster: the workers read, chunk and embed
exactly what the single-machine path does, in its order, and an index built from their results
searches like one built by ``build_index``."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from index.batching import chunk_inputs, embed_chunks
from index.build import build_index, chunk_spans
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder, embedder_json
from index.loaders import Skipped, iter_sources
from index.store import IndexDir
from qa.core.errors import MissingExtra
from qa.search.retrieval import Retriever

pytestmark = pytest.mark.scale

CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=8)  # several chunks even for a short text
MODE = "title+chunk"
TOPICS = [
    "Glaciers carve valleys as they slide downhill, dragging boulders that scrape the bedrock.",
    "A river delta grows where sediment settles as the current slows near the sea.",
    "Volcanic islands form when magma rises through the ocean floor and cools into basalt.",
    "Coral reefs are built by tiny animals whose limestone skeletons pile up over centuries.",
    "Sand dunes migrate downwind as grains hop over the crest and slide down the lee face.",
    "Caves dissolve out of limestone when rainwater, made acidic by soil carbon dioxide, seeps through.",
]
QUERIES = ["how do glaciers shape valleys", "river sediment delta", "limestone caves rainwater", "magma basalt"]


def corpus(folder: Path) -> Path:
    """Text and markdown files over two folder levels, a BEIR corpus (with a bad line and a repeated
    id), a hidden file, and files every reader refuses."""
    rng = random.Random(7)
    folder.mkdir()
    (folder / "sub").mkdir()
    for i in range(9):
        text = " ".join(rng.choice(TOPICS) for _ in range(6))
        name = f"sub/doc-{i}.md" if i % 3 == 0 else f"doc-{i}.txt"
        body = f"# Notes {i}\n\n{text}\n" if name.endswith(".md") else f"Notes {i}\n\n{text}\n"
        (folder / name).write_text(body, encoding="utf-8")
    records = [
        {"_id": "c1", "title": "Deltas", "text": TOPICS[1] + " " + TOPICS[4]},
        {"_id": "c2", "title": "Reefs", "text": TOPICS[3]},
        {"_id": "c1", "title": "Again", "text": TOPICS[0]},
    ]
    lines = [json.dumps(r) for r in records]
    lines.insert(2, "{not json")
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / ".hidden.txt").write_text("never read", encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.txt").write_text("   \n\n", encoding="utf-8")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + random.Random(3).randbytes(500))
    (folder / "tool.exe").write_bytes(b"MZ\x90\x00")
    return folder


def single_machine(paths: list[Path], embedder: HashingEmbedder) -> list:
    """What the Ray path must reproduce: iter_sources, chunk_spans, chunk_inputs, embed_chunks."""
    from index.ray_ingest import Prepared

    out: list = []
    for item in iter_sources(paths):
        if isinstance(item, Skipped):
            out.append(item)
        else:
            spans = chunk_spans(item, CHUNKER)
            out.append(Prepared(item, spans, embed_chunks(embedder, chunk_inputs(item, spans, MODE))))
    return out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return corpus(tmp_path / "docs")


def test_workers_make_what_one_machine_makes_in_its_order(ray_local: str, folder: Path) -> None:
    from index.ray_ingest import IngestStats, Prepared, ray_sources

    embedder = HashingEmbedder(dim=64)
    # The folder, a file of it again (a repeated id) and a missing path, as `qa index build` takes them.
    paths = [folder, folder / "doc-1.txt", folder / "missing.txt"]
    expected = single_machine(paths, embedder)
    stats = IngestStats()
    got = list(ray_sources(paths, embedder_json(embedder), CHUNKER, MODE, batch_files=2, workers=2, stats=stats))

    assert [type(x) for x in got] == [type(x) for x in expected]
    for mine, theirs in zip(got, expected, strict=True):
        if isinstance(theirs, Skipped):
            assert mine == theirs  # same path, same reason
            continue
        assert isinstance(mine, Prepared)
        assert mine.doc == theirs.doc
        assert mine.spans == theirs.spans
        assert len(mine.vectors) == len(theirs.vectors) == len(mine.spans)
        for a, b in zip(mine.vectors, theirs.vectors, strict=True):
            assert np.allclose(a.vector, b.vector)
            assert np.allclose(a.sentences, b.sentences)
            assert np.array_equal(a.token_bits, b.token_bits)
            assert np.array_equal(a.token_counts, b.token_counts)
    skipped = {Path(s.path).name: s.reason for s in got if isinstance(s, Skipped)}
    assert {"empty.txt", "blank.txt", "image.txt", "broken.pdf", "tool.exe", "missing.txt", "doc-1.txt"} <= set(skipped)
    assert skipped["doc-1.txt"].startswith("duplicate document id 'doc-1.txt'")
    assert ".hidden.txt" not in skipped
    documents = [x for x in got if isinstance(x, Prepared)]
    assert len(documents) == 11  # nine files and two corpus records
    assert stats.documents == len(documents)
    # Repeated ids are found on the driver: their chunks were embedded, then dropped.
    assert sum(chunks for chunks, _ in stats.workers.values()) == stats.chunks > sum(len(p.spans) for p in documents)
    assert 1 <= len(stats.workers) <= 2 and any(rate > 0 for rate in stats.chunks_per_second().values())


def test_an_index_built_from_worker_vectors_searches_like_a_normal_build(
    ray_local: str, folder: Path, tmp_path: Path
) -> None:
    from index.ray_ingest import build_index_ray

    embedder = HashingEmbedder(dim=64)
    normal = build_index(iter_sources([folder]), tmp_path / "normal", embedder, CHUNKER, MODE)
    ray = build_index_ray([folder], tmp_path / "ray", embedder, CHUNKER, MODE, workers=2, batch_files=3)

    assert (ray.documents, ray.chunks) == (normal.documents, normal.chunks)
    assert ray.skipped == normal.skipped
    assert ray.timings["ray"] > 0
    searched = {}
    for name in ("normal", "ray"):
        stored = IndexDir(tmp_path / name).load(embedder)
        assert stored.manifest.counts == IndexDir(tmp_path / "normal").load(embedder).manifest.counts
        retriever = Retriever(stored, embedder)
        searched[name] = [[(h.chunk_id, h.doc_id, h.score) for h in retriever.search(q, k=5)] for q in QUERIES]
    for mine, theirs in zip(searched["ray"], searched["normal"], strict=True):
        assert [(c, d) for c, d, _ in mine] == [(c, d) for c, d, _ in theirs]
        assert np.allclose([s for *_, s in mine], [s for *_, s in theirs])


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    from index.ray_ingest import ray_sources

    monkeypatch.setitem(sys.modules, "ray", None)  # "not installed" to the import system
    monkeypatch.setitem(sys.modules, "ray.data", None)
    embedder = HashingEmbedder(dim=64)
    with pytest.raises(MissingExtra, match=r"Ray ingest needs the ray extra: pip install -e '\.\[ray\]'"):
        next(ray_sources([folder], embedder_json(embedder), CHUNKER, MODE))


def test_qa_index_build_with_ray_into_a_store_keeps_the_writer_rules(tmp_path: Path, pg_url: str) -> None:
    """``qa index build --ray --store``, as a user runs it: the skipped files are reported with the
    single-machine reasons and --strict exits 3, the store answers like a file index built without
    Ray, and building the same files again keeps every document as stored (nothing rewritten)."""
    import subprocess

    from index.postgres.reader import PgStore
    from qa.core.paths import PROJECT_ROOT
    from qa.search.pg_retrieval import PgRetriever

    docs = corpus(tmp_path / "docs")
    command = [sys.executable, "-m", "qa.cli", "index", "build", str(docs), "--store", pg_url]
    command += ["--embedder", "hashing:64", "--ray", "--workers", "2", "--strict", "--json"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 3, done.stderr[-3000:]
    report = json.loads(done.stdout)
    embedder = HashingEmbedder(dim=64)
    local = build_index(iter_sources([docs]), tmp_path / "idx", embedder)
    assert report["documents"] == local.documents and report["chunks"] == local.chunks
    assert sorted((s["path"], s["reason"]) for s in report["skipped"]) == sorted(
        (s.path, s.reason) for s in local.skipped
    )
    store = PgStore(pg_url)
    with store.snapshot() as snap:
        rows_before = snap.conn.execute("SELECT row FROM qa_documents ORDER BY row").fetchall()
    retriever, stored = PgRetriever(store, embedder), Retriever(IndexDir(tmp_path / "idx").load(), embedder)
    for query in QUERIES:
        assert [(h.doc_id, h.start, h.end) for h in retriever.search(query, k=3)] == [
            (h.doc_id, h.start, h.end) for h in stored.search(query, k=3)
        ]
    again = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 3, again.stderr[-3000:]
    with store.snapshot() as snap:
        assert snap.conn.execute("SELECT row FROM qa_documents ORDER BY row").fetchall() == rows_before
    assert pg_url.split(":")[2].split("@")[0] not in done.stdout + done.stderr  # the password
