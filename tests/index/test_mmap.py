"""Generations are read through memory maps, every file at load, so a reader holding one keeps
answering exactly as before while a writer publishes newer ones and prunes it."""

from __future__ import annotations

import json
import mmap
import random
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.dense import DenseSettings
from index.embedding import HashingEmbedder
from index.layout import DOCUMENT_HASHES_FILE
from index.loaders import iter_sources
from index.store import IndexDir, StoredIndex
from index.tables import HASH_DTYPE, DocumentHashes, DocumentTable, document_key, document_state
from index.update import update_index
from qa.answer.extractive import ExtractiveAnswerer
from qa.core.types import Document, PageSpan
from qa.search.retrieval import Retriever

CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=6)
WORDS = ("volcano", "lava", "ash", "glacier", "ice", "river", "delta", "ocean", "tides", "moon", "desert", "dune")
WORDS += ("forest", "rain", "soil", "cats", "dogs")
QUERIES = ["volcano lava", "glacier ice", "river delta", "cats and dogs", "ocean tides moon"]


def corpus(folder: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize() + "." for _ in range(7)
        ]
        (folder / f"d{i:03d}.txt").write_text(" ".join(sentences), encoding="utf-8")
    return folder


def answers(stored: StoredIndex, embedder: HashingEmbedder) -> list:
    """Every query's hits in every mode, its answer, and the cited documents' texts."""
    retriever = Retriever(stored, embedder)
    out = []
    for query in QUERIES:
        for mode in ("hybrid", "dense", "bm25"):
            out.append(
                [
                    (h.chunk_id, h.doc_id, h.start, h.end, h.text, round(h.score, 6))
                    for h in retriever.search(query, 5, mode)
                ]
            )
        answer = ExtractiveAnswerer(retriever, embedder).answer(query)
        answer.verify(stored)
        out.append((answer.text, [stored.document(c.doc_id).text for c in answer.citations]))
    return out


def backed_by_a_map(array: object) -> bool:
    """Whether ``array`` is a view of a memory map (not a copy read into memory)."""
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


def mapped_files() -> set[str]:
    return {line.split(maxsplit=5)[-1].strip() for line in Path("/proc/self/maps").read_text().splitlines()}


@pytest.mark.parametrize("dense", [DenseSettings(), DenseSettings(threshold=1000)], ids=["exact", "approximate"])
def test_a_reader_keeps_answering_while_its_generation_is_pruned(
    tmp_path: Path, fake_embedder: HashingEmbedder, dense: DenseSettings
) -> None:
    docs = corpus(tmp_path / "docs", 340, seed=1)  # over 1,000 chunks: enough for the approximate index
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder, CHUNKER, dense=dense)
    held = IndexDir(root).load(fake_embedder)
    assert held.dense.kind == ("exact" if dense == DenseSettings() else "hnsw-pq")
    before = answers(held, fake_embedder)

    for i in range(2):  # two publishes: the held generation is pruned (the current one and the one before stay)
        (docs / f"new{i}.txt").write_text("Volcano lava and glacier ice, a new file.", encoding="utf-8")
        update_index([docs], root, fake_embedder)
    assert not held.path.exists()
    gone = {line for line in mapped_files() if line.startswith(str(held.path))}
    assert gone and all(line.endswith("(deleted)") for line in gone)  # still mapped, no longer on disk

    assert answers(held, fake_embedder) == before
    assert len(IndexDir(root).load(fake_embedder).documents) == 342


def test_a_loaded_generation_is_mapped_not_read(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs = corpus(tmp_path / "docs", 20, seed=2)
    build_index(iter_sources([docs]), tmp_path / "idx", fake_embedder, CHUNKER)
    stored = IndexDir(tmp_path / "idx").load(fake_embedder)
    _, vectors = stored.dense.items()
    arrays = [stored.chunks, vectors, stored.sentences, stored.sentence_vectors, stored.chunk_sentences]
    arrays += [stored.sentence_tokens.bits, stored.sentence_tokens.counts, stored.hashes.table, stored.sparse.ids]
    assert all(backed_by_a_map(a) for a in arrays)
    assert isinstance(stored.documents, DocumentTable)
    assert stored.documents._parse.cache_info().currsize == 0  # no document parsed by the load
    mapped = mapped_files()
    for name in ("documents.jsonl", "vectors.f32", "chunks.npy", "sentence_tokens.bits", "bm25/data.csc.index.npy"):
        assert str(stored.path / name) in mapped


def test_document_hashes_round_trip(tmp_path: Path) -> None:
    docs = [
        Document("b.txt", "B", "b.txt", "Bee text."),
        Document("a.pdf", "A", "a.pdf", "Page one. Page two.", pages=(PageSpan(1, 0, 9), PageSpan(2, 10, 19))),
        Document("c.md", "C", "c.md", "See."),
    ]
    hashes = DocumentHashes.of_documents(docs)
    hashes.save(tmp_path / "h.npy")
    loaded = DocumentHashes.load(tmp_path / "h.npy")
    assert isinstance(loaded.table, np.memmap) and loaded.table.dtype == HASH_DTYPE
    assert list(loaded.table["key"]) == sorted(document_key(d.doc_id) for d in docs)
    for row, doc in enumerate(docs):
        assert (loaded.row(doc.doc_id), loaded.state(doc.doc_id), doc.doc_id in loaded) == (
            row,
            document_state(doc),
            True,
        )
    assert (loaded.row("nope"), loaded.state("nope"), "nope" in loaded) == (None, None, False)
    assert loaded.rows_except(["a.pdf"]).tolist() == [0, 2]
    # The state is what an update compares: the text, the title and the pages, not the source.
    moved = Document("a.pdf", "A", "elsewhere.pdf", docs[1].text, pages=docs[1].pages)
    assert document_state(moved) == document_state(docs[1])
    for changed in (
        Document("a.pdf", "A2", "a.pdf", docs[1].text, pages=docs[1].pages),
        Document("a.pdf", "A", "a.pdf", docs[1].text),
    ):
        assert document_state(changed) != document_state(docs[1])


def test_an_update_decides_from_the_hashes_file(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs = corpus(tmp_path / "docs", 6, seed=3)
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder, CHUNKER)
    generation = IndexDir(root).current()
    assert "documents" not in json.loads((generation / "manifest.json").read_text())
    # Make the table claim d002.txt was stored with other contents: the update re-chunks it, and only it.
    table = np.load(generation / DOCUMENT_HASHES_FILE)
    table["state"][table["key"] == document_key("d002.txt")] = b"0" * 32
    np.save(generation / DOCUMENT_HASHES_FILE, table)
    report = update_index([docs], root, fake_embedder)
    assert (report.changed, report.unchanged, report.added, report.chunks_embedded) == (1, 5, 0, 0)
    assert IndexDir(root).hashes().state("d002.txt") == document_state(IndexDir(root).load().document("d002.txt"))
    again = update_index([docs], root, fake_embedder)
    assert (again.changed, again.unchanged, again.published) == (0, 6, False)
