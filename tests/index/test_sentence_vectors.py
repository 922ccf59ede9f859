"""Sentence vectors stored at index time: one row per sentence of each chunk, found again by the
answerer, carried over by updates, and optional (an index without them still answers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_lifecycle_update import CountingEmbedder

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.layout import SENTENCE_VECTORS_FILE, SENTENCES_FILE
from index.loaders import iter_sources
from index.sentences import sentence_spans
from index.store import IndexDir, StoredIndex
from index.update import update_index
from qa.answer.extractive import ExtractiveAnswerer
from qa.core.types import Document
from qa.search.retrieval import Retriever

CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=8)
DOCS = [
    Document(
        "curie.txt",
        "Marie Curie",
        "curie.txt",
        "Marie Curie was a physicist and chemist. She was born in Warsaw in 1867. "
        "She won the Nobel Prize in Physics in 1903 and in Chemistry in 1911. Her husband was Pierre Curie.",
    ),
    Document(
        "rivers.txt",
        "Rivers",
        "rivers.txt",
        "The Nile flows north through Egypt. The Amazon carries more water than any other river. "
        "Deltas form where rivers meet the sea.",
    ),
]


def built(root: Path, embedder: HashingEmbedder, docs: list[Document] = DOCS) -> StoredIndex:
    build_index(iter(docs), root, embedder, CHUNKER)
    return IndexDir(root).load(embedder)


def test_every_sentence_of_every_chunk_has_a_row_and_a_vector(tmp_path: Path, fake_embedder) -> None:
    index = built(tmp_path / "idx", fake_embedder)
    assert index.sentences is not None and index.sentence_vectors is not None
    assert index.sentence_vectors.shape == (len(index.sentences), fake_embedder.dim)
    assert index.manifest.counts["sentences"] == len(index.sentences)
    for entry in index.chunks:
        doc = index.documents[int(entry["doc"])]
        start, end = int(entry["start"]), int(entry["end"])
        rows = index.sentence_rows(int(entry["id"]))
        stored = [(int(index.sentences[r]["start"]), int(index.sentences[r]["end"])) for r in rows]
        assert stored == [(start + a, start + b) for a, b in sentence_spans(doc.text[start:end])]
        for r, (a, b) in zip(rows, stored, strict=True):
            # The fake embedder hashes each sentence alone, so its stored vector is that of its text.
            expected = fake_embedder.embed([doc.text[a:b]])[0]
            assert np.allclose(index.sentence_vectors[r], expected, atol=1e-3)


def test_the_answerer_scores_stored_vectors_and_embeds_only_the_question_and_the_winner(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    index = built(tmp_path / "idx", embedder)
    embedder.texts.clear()
    answer = ExtractiveAnswerer(Retriever(index, embedder), embedder).answer("Where was she born?")
    assert "Warsaw" in answer.text
    assert embedder.texts == ["Where was she born?", answer.citations[0].text]
    answer.verify(index)


def test_an_index_without_sentence_vectors_still_answers_the_same_way(tmp_path: Path, fake_embedder) -> None:
    with_vectors = built(tmp_path / "a", fake_embedder)
    without = built(tmp_path / "b", fake_embedder)
    (without.path / SENTENCES_FILE).unlink()
    (without.path / SENTENCE_VECTORS_FILE).unlink()
    without = IndexDir(tmp_path / "b").load(fake_embedder)
    assert without.sentences is None
    for question in ("When was Marie Curie born?", "Which river flows through Egypt?", "Where do deltas form?"):
        # The fake embedder's stored vectors are its plain ones: only the weights differ, not the choice here.
        a = ExtractiveAnswerer(Retriever(with_vectors, fake_embedder), fake_embedder).answer(question)
        b = ExtractiveAnswerer(Retriever(without, fake_embedder), fake_embedder).answer(question)
        assert a.citations[0].text == b.citations[0].text
        assert b.citations[0].text == without.document(b.citations[0].doc_id).quote(
            b.citations[0].start, b.citations[0].end
        )


def test_an_update_carries_sentence_vectors_over_like_a_rebuild(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc in DOCS:
        (folder / doc.doc_id).write_text(doc.text, encoding="utf-8")
    embedder = CountingEmbedder()
    update_index([folder], tmp_path / "idx", embedder, CHUNKER)
    (folder / "rivers.txt").write_text(DOCS[1].text + " The Danube flows through Vienna.", encoding="utf-8")
    update_index([folder], tmp_path / "idx", embedder, CHUNKER)
    updated = IndexDir(tmp_path / "idx").load(embedder)
    build_index(iter_sources([folder]), tmp_path / "full", embedder, CHUNKER)
    rebuilt = IndexDir(tmp_path / "full").load(embedder)
    assert len(updated.sentences) == len(rebuilt.sentences)

    def by_span(index: StoredIndex) -> dict[tuple[str, int, int], np.ndarray]:
        out = {}
        for row, entry in enumerate(index.sentences):
            chunk = index.chunks[index.row_of[int(entry["chunk"])]]
            doc = index.documents[int(chunk["doc"])].doc_id
            out[(doc, int(entry["start"]), int(entry["end"]), int(chunk["start"]))] = index.sentence_vectors[row]
        return out

    a, b = by_span(updated), by_span(rebuilt)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[key], b[key]) for key in a)


@pytest.mark.slow
def test_minilm_reads_a_sentence_in_its_chunk(minilm) -> None:
    """Late pooling: "She won the Nobel Prize" knows who "she" is; embedded alone it does not."""
    text = DOCS[0].text
    spans = sentence_spans(text)
    made = minilm.embed_spans([text], [spans])
    assert np.allclose(made.texts, minilm.embed([text]), atol=1e-5)
    assert made.spans.shape == (len(spans), minilm.dim)
    assert np.allclose(np.linalg.norm(made.spans, axis=1), 1.0, atol=1e-5)
    question = minilm.embed(["When did Marie Curie win the Nobel Prize?"])[0]
    won = next(i for i, (a, b) in enumerate(spans) if "Nobel" in text[a:b])
    alone = minilm.embed([text[spans[won][0] : spans[won][1]]])[0]
    assert made.spans[won] @ question > alone @ question
