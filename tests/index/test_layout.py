"""The stored form of a document keeps everything a citation is checked and drawn with."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from index.layout import document_from_json, document_to_json
from qa.core.types import Box, Document, PageSpan, TextBox

_fraction = st.floats(0, 1, allow_nan=False)


@st.composite
def laid_out_documents(draw: st.DrawFn) -> Document:
    text = draw(st.text(min_size=1, max_size=40))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), min_size=2, max_size=6)))
    runs = []
    for a, b in itertools.pairwise(cuts):
        x0, x1 = sorted([draw(_fraction), draw(_fraction)])
        if a < b:
            runs.append(TextBox(a, b, Box(draw(st.integers(1, 3)), x0, 0.1, x1, 0.2)))
    pages = (PageSpan(1, 0, len(text) // 2), PageSpan(2, len(text) // 2, len(text), navigation=draw(st.booleans())))
    return Document("d.pdf", "D", "d.pdf", text, pages, boxes=tuple(runs))


@given(laid_out_documents())
def test_pages_navigation_and_boxes_survive_storage(doc: Document) -> None:
    stored = document_from_json(json.loads(json.dumps(document_to_json(doc))))
    assert stored.text == doc.text and stored.pages == doc.pages and stored.content_hash == doc.content_hash
    assert [(r.start, r.end, r.box.page) for r in stored.boxes] == [(r.start, r.end, r.box.page) for r in doc.boxes]
    for kept, run in zip(stored.boxes, doc.boxes):
        assert abs(kept.box.x0 - run.box.x0) <= 5e-5 and abs(kept.box.x1 - run.box.x1) <= 5e-5


def test_a_document_without_pages_or_boxes_is_stored_as_before() -> None:
    data = document_to_json(Document("a.txt", "A", "a.txt", "Plain text."))
    assert "boxes" not in data and data["pages"] == []
    assert document_from_json(data) == Document("a.txt", "A", "a.txt", "Plain text.")
