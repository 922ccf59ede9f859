"""Incremental update: what is added, changed, removed and re-embedded, and that the result
searches exactly like a full rebuild of the same files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.loaders import iter_sources
from index.store import IndexDir, StoredIndex
from index.update import update_index
from qa.core.errors import IndexMismatch
from qa.engine import Engine
from qa.search.retrieval import Retriever

CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=6)
QUERIES = ["volcano lava", "glacier ice melting", "river delta", "cats purr", "ocean tides moon", "desert"]
WORDS = [
    *("volcano", "lava", "ash", "glacier", "ice", "melting", "river", "delta", "sediment", "ocean", "tides"),
    *("moon", "desert", "dune", "wind", "forest", "canopy", "rain", "soil", "erosion", "mountain", "peak"),
    *("snow", "valley", "lake", "fish", "cats", "purr", "dogs", "bark"),
]


class CountingEmbedder(HashingEmbedder):
    """The fake embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.texts: list[str] = []

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.texts.extend(texts)
        return super().embed(texts, progress)


def text(rng: random.Random, sentences: int) -> str:
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "." for _ in range(sentences)
    )


def write(folder: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body, encoding="utf-8")


def results(root: Path, embedder: HashingEmbedder) -> list[list[tuple]]:
    """Every query's hits in every mode as (doc_id, start, end, rounded score): chunk ids may differ."""
    retriever = Retriever(IndexDir(root).load(embedder), embedder)
    return [
        [(h.doc_id, h.start, h.end, round(h.score, 5)) for h in retriever.search(q, k=8, mode=mode)]
        for q in QUERIES
        for mode in ("hybrid", "dense", "bm25")
    ]


def chunk_ids(stored: StoredIndex) -> dict[str, set[int]]:
    return {d.doc_id: set(stored.chunks["id"][stored.chunks["doc"] == row]) for row, d in enumerate(stored.documents)}


def test_updates_equal_a_full_rebuild_of_the_final_files(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    rng = random.Random(11)
    docs = tmp_path / "docs"
    files = {f"d{i:02d}.txt": text(rng, rng.randint(1, 12)) for i in range(12)}
    write(docs, files)
    root = tmp_path / "idx"
    first = update_index([docs], root, fake_embedder, CHUNKER)
    assert (first.created, first.added, first.unchanged) == (True, 12, 0)

    for step in range(4):  # each step adds, edits (start, middle, end) and deletes files
        names = sorted(p.name for p in docs.iterdir())
        (docs / names[step]).unlink()
        edited = docs / names[-1 - step]
        body = edited.read_text()
        edited.write_text(rng.choice([text(rng, 2) + " " + body, body + " " + text(rng, 1), body[: len(body) // 2]]))
        write(docs, {f"new{step}-{i}.txt": text(rng, rng.randint(1, 8)) for i in range(2)})
        report = update_index([docs], root, fake_embedder, prune=True)
        assert (report.added, report.changed, report.removed) == (2, 1, 1)
        assert report.unchanged == len(names) - 2

    fresh = tmp_path / "fresh"
    build_index(iter_sources([docs]), fresh, fake_embedder, CHUNKER)
    assert results(root, fake_embedder) == results(fresh, fake_embedder)
    updated, rebuilt = IndexDir(root).load(fake_embedder), IndexDir(fresh).load(fake_embedder)
    assert [d.doc_id for d in updated.documents] == [d.doc_id for d in rebuilt.documents]
    columns = ["doc", "start", "end", "tokens"]
    assert updated.chunks[columns].tolist() == rebuilt.chunks[columns].tolist()
    vectors = [stored.dense.vectors(stored.chunks["id"]) for stored in (updated, rebuilt)]
    np.testing.assert_array_equal(*vectors)


def test_only_new_chunk_texts_are_embedded(tmp_path: Path) -> None:
    rng = random.Random(5)
    embedder = CountingEmbedder()
    docs = tmp_path / "docs"
    write(docs, {"a.txt": text(rng, 10), "b.txt": text(rng, 10), "c.txt": text(rng, 3)})
    root = tmp_path / "idx"
    update_index([docs], root, embedder, CHUNKER)
    before = IndexDir(root).load(embedder)
    ids_before = chunk_ids(before)
    embedder.texts.clear()

    appended = " Tides follow the moon over the ocean."
    (docs / "a.txt").write_text((docs / "a.txt").read_text() + appended)
    report = update_index([docs], root, embedder)
    after = IndexDir(root).load(embedder)
    rows_a = np.flatnonzero(after.chunks["doc"] == 0)
    # Only the chunks of a.txt holding the new sentence were embedded; every other vector was reused.
    assert embedder.texts and all(appended.strip() in t for t in embedder.texts)
    assert report.chunks_embedded == len(embedder.texts) < len(rows_a)
    assert report.chunks_reused == len(after.chunks) - report.chunks_embedded
    assert (report.changed, report.unchanged, report.added) == (1, 2, 0)
    # Unchanged documents keep their chunk ids; the changed one gets fresh ids above the old counter.
    ids_after = chunk_ids(after)
    assert ids_after["b.txt"] == ids_before["b.txt"] and ids_after["c.txt"] == ids_before["c.txt"]
    assert min(ids_after["a.txt"]) >= before.manifest.next_chunk_id
    assert after.manifest.next_chunk_id == before.manifest.next_chunk_id + len(rows_a)

    embedder.texts.clear()
    again = update_index([docs], root, embedder)
    assert (again.published, again.chunks_embedded, embedder.texts) == (False, 0, [])
    assert IndexDir(root).current() == after.path


def test_removal_needs_prune_and_is_real(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs = tmp_path / "docs"
    write(docs, {"keep.txt": "Glaciers melt in the spring.", "gone.txt": "Volcanoes erupt with lava and ash."})
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder)
    old = IndexDir(root).load(fake_embedder)
    gone_ids = old.chunks["id"][old.chunks["doc"] == [d.doc_id for d in old.documents].index("gone.txt")]
    (docs / "gone.txt").unlink()

    kept = update_index([docs], root, fake_embedder)
    assert (kept.kept, kept.removed, kept.unchanged) == (1, 0, 1)
    assert "gone.txt" in IndexDir(root).hashes()

    (docs / "new.txt").write_text("Rivers build a delta.")
    pruned = update_index([docs], root, fake_embedder, prune=True)
    assert (pruned.removed, pruned.added, pruned.unchanged, pruned.kept) == (1, 1, 1, 0)
    stored = IndexDir(root).load(fake_embedder)
    assert sorted(d.doc_id for d in stored.documents) == ["keep.txt", "new.txt"]
    assert not set(gone_ids) & set(stored.dense.items()[0])  # the vectors are gone, not masked
    assert len(stored.dense) == len(stored.sparse) == len(stored.chunks)
    hits = Retriever(stored, fake_embedder).search("volcanoes lava ash", k=5)
    assert "gone.txt" not in {h.doc_id for h in hits}


def test_a_new_title_alone_reembeds_the_document(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    # Chunks are embedded as "title + chunk", so a corpus record whose title changed and text did not
    # must be re-embedded (here through a BEIR corpus, where the title is its own field).
    corpus = tmp_path / "corpus.jsonl"
    records = [{"_id": "r1", "title": "Old title", "text": "Body text about rivers and deltas."}]
    records.append({"_id": "r2", "title": "Lakes", "text": "Fish swim in the lake."})
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    root = tmp_path / "idx"
    update_index([corpus], root, fake_embedder)
    records[0]["title"] = "Volcano eruptions"
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    report = update_index([corpus], root, fake_embedder)
    assert (report.changed, report.unchanged, report.chunks_embedded) == (1, 1, 1)
    fresh = tmp_path / "fresh"
    build_index(iter_sources([corpus]), fresh, fake_embedder)
    assert results(root, fake_embedder) == results(fresh, fake_embedder)


def test_mismatched_index_names_the_way_out(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs = tmp_path / "docs"
    write(docs, {"a.txt": "Some text about lakes."})
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder, CHUNKER)
    generation = IndexDir(root).current()
    with pytest.raises(IndexMismatch, match=r"'hashing:64' differs from 'hashing:32'.*--rebuild"):
        update_index([docs], root, HashingEmbedder(dim=32))
    with pytest.raises(IndexMismatch, match=r"chunker .*'max_tokens': 24.*'max_tokens': 200.*--rebuild"):
        update_index([docs], root, fake_embedder, ChunkerSettings())
    manifest = generation / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "format_version": 0}))
    with pytest.raises(IndexMismatch, match=r"format 0 is not a supported format \(1 or 2\).*--rebuild"):
        update_index([docs], root, fake_embedder)
    assert IndexDir(root).current() == generation  # nothing published by a refused update


def test_engine_picks_up_an_update_and_an_old_reader_survives_pruning(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    write(docs, {"a.txt": "Cats purr when content."})
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder)
    engine = Engine(root, fake_embedder)
    old = engine.retriever()
    first = old.index.path
    for i in range(3):  # three publishes: the first generation is pruned (two are kept)
        write(docs, {f"n{i}.txt": f"Dogs bark number {i}."})
        update_index([docs], root, fake_embedder)
    assert not first.exists()
    assert old.search("cats purr", k=1)[0].doc_id == "a.txt"  # mapped at load: pruning is harmless
    assert engine.retriever() is not old
    assert engine.retriever().index.manifest.counts["documents"] == 4


def test_load_retries_when_its_generation_is_pruned_mid_load(
    tmp_path: Path, fake_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.generation as generation

    docs = tmp_path / "docs"
    write(docs, {"a.txt": "Cats purr when content."})
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder)
    real_load = generation.SparseIndex.load
    calls = []

    def slow_reader(path: Path):
        if not calls:  # while this reader is half way, a writer publishes twice and prunes its generation
            calls.append(path)
            for i in range(2):
                write(docs, {f"n{i}.txt": f"Dogs bark number {i}."})
                update_index([docs], root, fake_embedder)
        return real_load(path)

    monkeypatch.setattr(generation.SparseIndex, "load", staticmethod(slow_reader))
    stored = IndexDir(root).load(fake_embedder)
    assert not calls[0].exists()
    assert stored.manifest.counts["documents"] == 3 and len(stored.dense) == len(stored.chunks)


def test_cli_update_mismatch_and_rebuild(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import main

    docs = tmp_path / "docs"
    write(docs, {"a.txt": "Cats purr when content.", "b.txt": "Dogs bark at strangers."})
    root = str(tmp_path / "idx")
    assert main(["index", "update", str(docs), "--index", root, "--embedder", "hashing:64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 2
    (docs / "a.txt").unlink()
    assert main(["index", "update", str(docs), "--index", root]) == 0  # the index's own embedder by default
    out = capsys.readouterr().out
    assert "removed 0" in out and "kept 1" in out and "--prune removes them" in out
    assert main(["index", "update", str(docs), "--index", root, "--prune", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 1

    assert main(["index", "update", str(docs), "--index", root, "--chunk-tokens", "100"]) == 1
    assert "--rebuild" in capsys.readouterr().err
    assert main(["index", "update", str(docs), "--index", root, "--embedder", "hashing:32"]) == 1
    err = capsys.readouterr().err
    assert "'hashing:64' differs from 'hashing:32'" in err and "qa index update PATH... --rebuild" in err
    assert main(["index", "update", str(docs), "--index", root, "--embedder", "hashing:32", "--rebuild", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rebuilt"] is True
    manifest, hashes = IndexDir(Path(root)).manifest(), IndexDir(Path(root)).hashes()
    assert (manifest.embedder["name"], len(hashes), "b.txt" in hashes) == ("hashing:32", 1, True)
