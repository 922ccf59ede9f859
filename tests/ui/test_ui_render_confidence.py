"""A low-confidence answer (Answer.low_confidence) is shown with "The closest passage — the documents
may not answer this." above its quote; a sure one and an abstention are not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from test_ui_render import DOCS, Parsed, assert_inert

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.engine import Engine
from ui import render


def test_low_confidence_answers_say_the_documents_may_not_answer(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=40, overlap_tokens=8))
    answer = Engine(tmp_path / "idx", fake_embedder).ask("Who designed the Golden Gate Bridge?")
    assert not answer.abstained and not answer.low_confidence
    assert "qa-low-confidence" not in Parsed(render.answer_message_html(answer)).by_class
    low = dataclasses.replace(answer, low_confidence=True, answer_confidence=0.3)
    markup = render.answer_message_html(low)
    parsed = assert_inert(markup)
    assert parsed.by_class["qa-low-confidence"] == [render.LOW_CONFIDENCE_NOTE]
    assert render.LOW_CONFIDENCE_NOTE == "The closest passage — the documents may not answer this."
    assert parsed.by_class["qa-quote"] == [c.text for c in answer.citations]  # still quoted and cited
    assert markup.index("qa-low-confidence") < markup.index("qa-answer")  # above the quote
    abstained = dataclasses.replace(low, abstained=True, citations=())
    assert "qa-low-confidence" not in Parsed(render.answer_message_html(abstained)).by_class
