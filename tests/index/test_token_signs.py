"""Token states stored as sign bits: the match computed from them, what the index stores, and
what the answerer adds to a sentence's evidence score."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sentence_vectors import CHUNKER, DOCS, built

from index.build import build_index
from index.embedding import HashingEmbedder
from index.layout import SENTENCE_TOKEN_COUNTS_FILE, SENTENCE_TOKENS_FILE
from index.loaders import iter_sources
from index.sentences import sentence_spans
from index.store import IndexDir
from index.token_signs import pack_signs, token_match
from index.update import update_index
from qa.answer.extractive import WEIGHTS, ExtractiveAnswerer
from qa.core.errors import IndexMismatch
from qa.search.retrieval import Retriever


def reference_match(question: np.ndarray, states: list[np.ndarray]) -> list[float]:
    """The definition, one span and one question token at a time."""
    out = []
    for span in states:
        if not len(span):
            out.append(0.0)
            continue
        signs = np.where(span > 0, 1.0, -1.0) / math.sqrt(span.shape[1])
        out.append(float(np.mean([max(float(s @ q) for s in signs) for q in question])))
    return out


@settings(max_examples=60, deadline=None)
@given(
    dim=st.integers(1, 40),
    question_tokens=st.integers(1, 6),
    counts=st.lists(st.integers(0, 5), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_token_match_equals_its_definition(dim: int, question_tokens: int, counts: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    question = rng.normal(size=(question_tokens, dim))
    question /= np.linalg.norm(question, axis=1, keepdims=True)
    states = [rng.normal(size=(n, dim)) for n in counts]
    bits = pack_signs(np.concatenate(states)) if sum(counts) else pack_signs(np.zeros((0, dim)))
    assert bits.shape == (sum(counts), (dim + 7) // 8)
    assert np.allclose(token_match(question, bits, np.array(counts)), reference_match(question, states), atol=1e-5)


def test_a_sentence_holding_the_question_token_for_token_matches_it_fully() -> None:
    question = np.where(np.random.default_rng(0).normal(size=(3, 16)) > 0, 1.0, -1.0) / 4.0  # unit rows
    bits = pack_signs(np.concatenate([question, -question[:1]]))
    opposite = float(np.mean(-question[0] @ question.T))  # the one token is the first's opposite
    assert token_match(question, bits, np.array([3, 1])) == pytest.approx([1.0, opposite])


def test_the_index_stores_token_signs_per_sentence_and_an_update_carries_them_like_a_rebuild(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc in DOCS:
        (folder / doc.doc_id).write_text(doc.text, encoding="utf-8")
    embedder = HashingEmbedder(64)
    update_index([folder], tmp_path / "idx", embedder, CHUNKER)
    (folder / "rivers.txt").write_text(DOCS[1].text + " The Danube flows through Vienna.", encoding="utf-8")
    report = update_index([folder], tmp_path / "idx", embedder, CHUNKER)
    assert report.chunks_reused > 0  # the unchanged document's tokens came from the previous generation
    updated = IndexDir(tmp_path / "idx").load(embedder)
    build_index(iter_sources([folder]), tmp_path / "full", embedder, CHUNKER)
    rebuilt = IndexDir(tmp_path / "full").load(embedder)

    def by_span(index) -> dict[tuple[str, int, int, int], tuple[int, bytes]]:
        out = {}
        for row, entry in enumerate(index.sentences):
            chunk = index.chunks[index.row_of[int(entry["chunk"])]]
            doc_id = index.documents[int(chunk["doc"])].doc_id
            key = (doc_id, int(entry["start"]), int(entry["end"]), int(chunk["start"]))
            bits, counts = index.sentence_tokens.of([row])
            out[key] = (int(counts[0]), bits.tobytes())
        return out

    a, b = by_span(updated), by_span(rebuilt)
    assert a.keys() == b.keys() and a == b
    # The fake embedder's tokens are words: each sentence has one sign row per word.
    text = updated.document("rivers.txt").text
    danube = next(k for k in a if text[k[1] : k[2]].startswith("The Danube"))
    assert a[danube][0] == 5
    assert a[danube][1] == pack_signs(embedder.embed(["the", "danube", "flows", "through", "vienna"])).tobytes()


def test_a_generation_without_token_signs_loads_answers_and_is_upgraded_by_the_next_update(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    index = built(tmp_path / "idx", fake_embedder)
    (index.path / SENTENCE_TOKEN_COUNTS_FILE).unlink()
    (index.path / SENTENCE_TOKENS_FILE).unlink()
    old = IndexDir(tmp_path / "idx").load(fake_embedder)
    assert old.sentence_tokens is None and old.sentence_vectors is not None
    answer = ExtractiveAnswerer(Retriever(old, fake_embedder), fake_embedder).answer("Where was she born?")
    assert "Warsaw" in answer.text
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc in DOCS:
        (folder / doc.doc_id).write_text(doc.text, encoding="utf-8")
    update_index([folder], tmp_path / "idx2", fake_embedder, CHUNKER)
    assert IndexDir(tmp_path / "idx2").load(fake_embedder).sentence_tokens is not None


def test_token_signs_that_do_not_add_up_are_refused(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    index = built(tmp_path / "idx", fake_embedder)
    counts = np.fromfile(index.path / SENTENCE_TOKEN_COUNTS_FILE, dtype="<i4")
    counts[0] += 1
    counts.tofile(index.path / SENTENCE_TOKEN_COUNTS_FILE)
    with pytest.raises(IndexMismatch, match="token"):
        IndexDir(tmp_path / "idx").load(fake_embedder)


def test_the_evidence_score_adds_the_token_weight_times_the_token_match(tmp_path: Path, fake_embedder) -> None:
    index = built(tmp_path / "idx", fake_embedder)
    question = "When did Marie Curie win the Nobel Prize?"
    vectors = fake_embedder.embed_query(question)
    with_tokens = ExtractiveAnswerer(Retriever(index, fake_embedder), fake_embedder)
    # The same index without its token signs, as one built before they were stored.
    without = ExtractiveAnswerer(
        Retriever(dataclasses.replace(index, sentence_tokens=None), fake_embedder), fake_embedder
    )
    hits = with_tokens.retriever.search(question, k=5, mode="hybrid", vector=vectors.vector)
    scored = with_tokens.evidence(question, hits, vectors)
    a = {(e.doc_id, e.start, e.end): e.score for e in scored}
    b = {(e.doc_id, e.start, e.end): e.score for e in without.evidence(question, hits, vectors)}
    assert a.keys() == b.keys()
    spans = sorted(a)
    rows = []
    for doc_id, start, end in spans:
        found = [
            r
            for hit in hits
            if hit.doc_id == doc_id
            for r in index.sentence_rows(hit.chunk_id)
            if (int(index.sentences[r]["start"]), int(index.sentences[r]["end"])) == (start, end)
        ]
        rows.append(found[0])
    bits, counts = index.sentence_tokens.of(rows)
    matches = token_match(vectors.tokens, bits, counts)
    assert WEIGHTS.tokens == 4.0
    assert np.allclose([a[s] - b[s] for s in spans], 4.0 * matches)
    # Each evidence record carries its token match.
    recorded = {(e.doc_id, e.start, e.end): e.token_match for e in scored}
    assert np.allclose([recorded[s] for s in spans], matches)
    assert np.any(matches != 0)


@pytest.mark.slow
def test_minilm_token_states_of_a_question_and_of_sentences_read_in_their_chunk(minilm) -> None:
    text = DOCS[0].text
    spans = sentence_spans(text)
    made = minilm.embed_spans([text], [spans])
    pieces = minilm._model.tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    expected = [sum(1 for s, e in pieces if e > s and s < b and e > a) for a, b in spans]
    assert made.token_counts.tolist() == expected
    assert made.token_bits.shape == (sum(expected), 48)
    question = minilm.embed_query("Who was Marie Curie's husband?")
    assert np.allclose(question.vector, minilm.embed(["Who was Marie Curie's husband?"])[0], atol=1e-5)
    words = minilm._model.tokenizer("Who was Marie Curie's husband?", return_offsets_mapping=True)["offset_mapping"]
    assert question.tokens.shape == (sum(1 for s, e in words if e > s), 384)  # [CLS] and [SEP] left out
    assert np.allclose(np.linalg.norm(question.tokens, axis=1), 1.0, atol=1e-5)
    match = token_match(question.tokens, made.token_bits, made.token_counts)
    assert "husband" in text[slice(*spans[int(np.argmax(match))])]


@pytest.mark.slow
def test_minilm_sentences_past_the_256_word_pieces_are_read_alone_with_their_tokens(minilm) -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i * 7}." for i in range(60)) + " Her husband was Pierre."
    spans = sentence_spans(text)
    made = minilm.embed_spans([text], [spans])
    last = text[spans[-1][0] : spans[-1][1]]
    alone = minilm.embed_spans([last], [[(0, len(last))]])
    assert made.token_counts[-1] == alone.token_counts[0] > 0
    assert np.array_equal(made.token_bits[-alone.token_counts[0] :], alone.token_bits)
    assert np.allclose(made.spans[-1], alone.spans[0], atol=1e-5)
