"""Chunk offsets rebuild the document, chunks cover it, and stay within the token budget."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index.chunking import ChunkerSettings, chunk_document
from index.sentences import sentence_spans
from index.tokens import count_tokens
from qa.core.errors import QAError, SpanMismatch
from qa.core.types import Chunk, Document, PageSpan

SMALL = ChunkerSettings(max_tokens=24, overlap_tokens=6)

# Words, CJK, emoji, Windows newlines and sentence punctuation, mixed freely.
_pieces = st.sampled_from(
    [
        "the",
        "cat",
        "sat.",
        "Mr.",
        "Dr. Who",
        "3.5",
        "東京は",
        "大きい。",
        "😀",
        "👩‍👩‍👧",
        "\r\n",
        "\n\n",
        " ",
        "  ",
        "é",
        "!",
        "?",
    ]
)
_texts = st.one_of(st.text(max_size=400), st.lists(_pieces, max_size=120).map("".join))


def _check(doc: Document, settings: ChunkerSettings) -> list[Chunk]:
    chunks = chunk_document(doc, settings)
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.n_tokens == count_tokens(chunk.text)
        # Over budget only when the chunk is one unsplittable word.
        assert chunk.n_tokens <= settings.max_tokens or not re.search(r"\s", chunk.text)
    covered = [False] * len(doc.text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert all(covered[i] or doc.text[i].isspace() for i in range(len(doc.text)))
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    return chunks


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(text=_texts)
@example(text="")
@example(text="   \r\n\t ")
@example(text="x" * 10_000)
@example(text="東京は大きい。" * 60)
@example(text="😀👩‍👩‍👧 " * 80)
@example(text="Line one.\r\nLine two.\r\n\r\nNew paragraph here. " * 20)
def test_offsets_rebuild_the_document_and_cover_it(text: str) -> None:
    _check(Document("d", "", "", text), SMALL)


def test_never_splits_inside_a_word() -> None:
    words = [f"w{i}ord" for i in range(400)]
    text = " ".join(words)  # one long sentence: must be cut between words
    chunks = _check(Document("d", "", "", text), SMALL)
    assert len(chunks) > 5
    for chunk in chunks:
        assert set(chunk.text.split()) <= set(words)
        assert chunk.start == 0 or text[chunk.start - 1] == " "
        assert chunk.end == len(text) or text[chunk.end] == " "


def test_a_giant_word_is_one_chunk() -> None:
    chunks = _check(Document("d", "", "", "a" * 10_000), SMALL)
    assert [(c.start, c.end) for c in chunks] == [(0, 10_000)]


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(Document("d", "", "", ""), SMALL) == []


def test_sentences_are_kept_whole_and_neighbours_overlap() -> None:
    sentences = [f"Sentence number {i} says something about topic {i}." for i in range(30)]
    text = " ".join(sentences)
    chunks = _check(Document("d", "", "", text), ChunkerSettings(max_tokens=40, overlap_tokens=12))
    for chunk in chunks:
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")
    assert any(a.end > b.start for a, b in pairwise(chunks)), "expected overlapping neighbours"


def test_sentence_spans_strip_and_cut_at_blank_lines() -> None:
    text = "Title line\n\nFirst sentence here. Second one!\r\n\r\n東京は大きい。京都は古い。"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Title line",
        "First sentence here.",
        "Second one!",
        "東京は大きい。",
        "京都は古い。",
    ]


def test_settings_are_validated() -> None:
    with pytest.raises(QAError, match="overlap_tokens"):
        ChunkerSettings(max_tokens=50, overlap_tokens=50)
    with pytest.raises(QAError, match="max_tokens"):
        ChunkerSettings(max_tokens=2)


def test_a_chunk_whose_text_does_not_match_its_span_is_refused() -> None:
    with pytest.raises(SpanMismatch, match="'d'"):
        Chunk("d", 0, 5, "abc", 1)


def test_table_of_contents_pages_get_no_chunk_and_no_chunk_spans_them() -> None:
    intro = "The parser reads the header first. It then checks the length field."
    toc = "Contents\n\nHeader . . . . . 3\n\nLength . . . . . 4"
    body = "The length field holds the size in bytes. A zero length means the end."
    text = f"{intro}\n\n{toc}\n\n{body}"
    a, b = len(intro), len(intro) + 2 + len(toc)
    pages = (PageSpan(1, 0, a), PageSpan(2, a + 2, b, navigation=True), PageSpan(3, b + 2, len(text)))
    chunks = chunk_document(Document("m.pdf", "M", "m.pdf", text, pages), ChunkerSettings(max_tokens=200))
    assert [c.text for c in chunks] == [intro, body]
