"""The location type shared by hits, citations and short answers, and the one citation check."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.core.answers import Answer, Citation, ShortAnswer
from qa.core.errors import SpanMismatch
from qa.core.types import Box, Document, DocumentTable, Hit, PageSpan, Scores, Span, TextBox

DOC = Document(
    "a.pdf", "A report", "/docs/a.pdf", "First page text. Second page text.", (PageSpan(1, 0, 17), PageSpan(2, 17, 34))
)


def test_a_span_is_located_from_the_document_with_its_page() -> None:
    fields = Span.located(DOC, 17, 23)
    assert fields == {
        "doc_id": "a.pdf",
        "title": "A report",
        "source": "/docs/a.pdf",
        "page": 2,
        "start": 17,
        "end": 23,
        "text": "Second",
        "boxes": (),
    }
    Span(**fields).verify(DOC)


@pytest.mark.parametrize(("start", "end"), [(5, 5), (7, 3), (-1, 4), (10, len(DOC.text) + 1)])
def test_empty_and_out_of_range_spans_are_refused(start: int, end: int) -> None:
    with pytest.raises(SpanMismatch):
        Span.located(DOC, start, end)


def test_hit_citation_and_short_answer_share_the_location_and_keep_their_json() -> None:
    hit = Hit(**Span.located(DOC, 0, 16), chunk_id=7, score=1.5, scores=Scores(0.5, None))
    citation = Citation.verified(1, DOC, 0, 16)
    short = ShortAnswer.verified(DOC, 0, 5)
    assert isinstance(hit, Span) and isinstance(citation, Span) and isinstance(short, Span)
    assert list(hit.to_json()) == [
        "doc_id",
        "title",
        "source",
        "page",
        "start",
        "end",
        "boxes",
        "text",
        "score",
        "scores",
    ]
    assert citation.to_json() == {
        "n": 1,
        "doc_id": "a.pdf",
        "title": "A report",
        "source": "/docs/a.pdf",
        "page": 1,
        "start": 0,
        "end": 16,
        "boxes": [],
        "quote": "First page text.",
    }
    assert short.text == "First"


def _answer(citations: tuple[Citation, ...], short: ShortAnswer | None = None) -> Answer:
    return Answer("q?", "q?", "", short, False, citations, (), 0.0)


def test_answer_verify_checks_every_citation_and_the_short_answer() -> None:
    documents = DocumentTable([DOC])
    good = _answer(
        (Citation.verified(1, DOC, 0, 16), Citation.verified(2, DOC, 17, 34)), ShortAnswer.verified(DOC, 0, 5)
    )
    good.verify(documents)
    second = good.citations[1]
    for bad in (
        dataclasses.replace(good, citations=(good.citations[0], dataclasses.replace(second, text="Third page text."))),
        dataclasses.replace(good, citations=(dataclasses.replace(second, start=second.start + 1),)),
        dataclasses.replace(good, citations=(dataclasses.replace(second, doc_id="b.pdf"),)),
        dataclasses.replace(good, short_answer=dataclasses.replace(good.short_answer, end=6)),
    ):
        with pytest.raises(SpanMismatch):
            bad.verify(documents)


@given(st.integers(0, len(DOC.text)), st.integers(0, len(DOC.text)))
def test_any_verified_span_reproduces_the_document(start: int, end: int) -> None:
    if start >= end:
        with pytest.raises(SpanMismatch):
            Citation.verified(1, DOC, start, end)
        return
    citation = Citation.verified(1, DOC, start, end)
    assert DOC.text[citation.start : citation.end] == citation.text
    _answer((citation,)).verify(DocumentTable([DOC]))


# Two lines of one page, drawn as word runs: "Hello world" on the first line, "again" below it.
LAID_OUT = Document(
    "b.pdf",
    "Boxes",
    "/docs/b.pdf",
    "Hello world again",
    (PageSpan(1, 0, 17),),
    boxes=(
        TextBox(0, 5, Box(1, 0.1, 0.1, 0.2, 0.12)),
        TextBox(6, 11, Box(1, 0.22, 0.1, 0.32, 0.12)),
        TextBox(12, 17, Box(1, 0.1, 0.13, 0.2, 0.15)),
    ),
)


def test_a_span_gets_one_rectangle_per_line_it_covers() -> None:
    assert LAID_OUT.boxes_for(0, 11) == (Box(1, 0.1, 0.1, 0.32, 0.12),)
    assert LAID_OUT.boxes_for(6, 17) == (Box(1, 0.22, 0.1, 0.32, 0.12), Box(1, 0.1, 0.13, 0.2, 0.15))
    citation = Citation.verified(1, LAID_OUT, 12, 17)
    assert citation.to_json()["boxes"] == [{"page": 1, "x0": 0.1, "y0": 0.13, "x1": 0.2, "y1": 0.15}]


def test_a_span_that_cuts_a_run_gets_the_part_its_characters_cover() -> None:
    (box,) = LAID_OUT.boxes_for(1, 3)  # "el" of "Hello": characters 1 and 2 of 5
    assert box.x0 == pytest.approx(0.12) and box.x1 == pytest.approx(0.16)
    assert LAID_OUT.boxes_for(5, 6) == ()  # the space between runs is drawn nowhere
    assert DOC.boxes_for(0, 5) == ()


@given(st.integers(0, 17), st.integers(0, 17))
def test_boxes_of_any_span_lie_inside_the_runs_it_overlaps(start: int, end: int) -> None:
    boxes = LAID_OUT.boxes_for(start, end)
    if start >= end:
        assert boxes == ()
    for box in boxes:
        assert 0.1 <= box.x0 <= box.x1 <= 0.32 and box.y0 in (0.1, 0.13)
