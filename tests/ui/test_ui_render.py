"""The HTML of answers, sources and details: untrusted document text stays text; spans are the cited ones."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.answer.short.confidence import in_words
from qa.core.answers import Answer
from qa.core.types import Document
from qa.engine import Engine
from ui import render

# Our own markup uses only these tags, and no attribute that loads or runs anything.
ALLOWED_TAGS = {"div", "span", "sup", "strong", "code", "br", "mark", "ol", "li", "b", "table", "thead", "tbody", "tr"}
ALLOWED_TAGS |= {"th", "td"}
ALLOWED_ATTRS = {"class", "data-cite", "data-key"}

XSS_TEXT = (
    "The launch code is kept in the vault. "
    '<script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2"> '
    "[click here](javascript:window.__xss=3) **bold** $x^2$ `code` <b>not bold</b>.\n\n"
    "The vault is opened by the night guard."
)
DOCS = [
    Document("hindenburg.txt", "Airships", "hindenburg.txt", "The Hindenburg airship burned at Lakehurst in 1937."),
    Document("bridge.txt", "Bridges", "bridge.txt", "The Golden Gate Bridge was designed by Joseph Strauss."),
    Document("evil.md", 'Evil <img src=x onerror="alert(1)">', "evil/<script>.md", XSS_TEXT),
]


class Parsed(HTMLParser):
    """Tags, attributes, and the text inside elements of given classes (``<br>`` read as a newline)."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text = ""
        self.by_class: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None, int]] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "br":
            self.text += "\n"
            return
        self._open.append((tag, attributes.get("class"), len(self.text)))

    def handle_endtag(self, tag):
        while self._open:
            name, cls, start = self._open.pop()
            if cls:
                self.by_class.setdefault(cls, []).append(self.text[start:])
            if name == tag:
                break

    def handle_data(self, data):
        self.text += data


def assert_inert(markup: str) -> Parsed:
    parsed = Parsed(markup)
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, f"unexpected tag <{tag}> in {markup[:200]}"
        assert set(attrs) <= ALLOWED_ATTRS, f"unexpected attributes {attrs} in <{tag}>"
    # Markdown and LaTeX syntax never survives as raw characters a renderer could act on.
    for raw in ("](", "javascript:", "**", "$x", "`"):
        assert raw not in markup, f"{raw!r} left raw in {markup[:300]}"
    return parsed


@pytest.fixture
def engine(tmp_path: Path, fake_embedder: HashingEmbedder) -> Engine:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=40, overlap_tokens=8))
    return Engine(tmp_path / "idx", fake_embedder)


def test_esc_keeps_text_and_neutralises_markup() -> None:
    hostile = "<script>alert(\"x\")</script> [a](javascript:alert('1')) &amp; &#35; & $y$\nnext"
    parsed = assert_inert(render.esc(hostile))
    assert parsed.text == hostile
    assert [tag for tag, _ in parsed.tags] == ["br"]


def test_answer_quoting_a_hostile_document_is_inert_and_exact(engine: Engine) -> None:
    answer = engine.ask("Where is the launch code kept?")
    assert not answer.abstained
    assert answer.citations[0].doc_id == "evil.md"
    parsed = assert_inert(render.answer_message_html(answer))
    quotes = parsed.by_class["qa-quote"]
    assert quotes == [c.text for c in answer.citations]
    assert parsed.by_class["qa-query-text"] == [answer.rewritten_query]


def test_source_panel_marks_the_cited_span_inside_its_passage(engine: Engine) -> None:
    answer = engine.ask("Where is the launch code kept?")
    citation = answer.citations[0]
    parsed = assert_inert(render.source_html(answer, f"c{citation.n}"))
    assert parsed.by_class["qa-cited"] == [citation.text]
    hit = next(h for h in answer.hits if h.doc_id == citation.doc_id and h.start <= citation.start < h.end)
    assert parsed.by_class["qa-passage"] == [hit.text]
    head = parsed.by_class["qa-source-head"][0]
    assert f"chars {citation.start}–{citation.end}" in head
    assert citation.source in head and citation.title in head


def test_short_answer_is_emphasised_inside_the_cited_span(engine: Engine) -> None:
    answer = engine.ask("When did the Hindenburg burn?")
    assert answer.short_answer is not None, "this question has a short answer (a year) to emphasise"
    parsed = assert_inert(render.source_html(answer, "c1"))
    assert parsed.by_class["qa-short"] == [answer.short_answer.text]
    assert parsed.by_class["qa-cited"] == [answer.citations[0].text]
    message = Parsed(render.answer_message_html(answer))
    sure = in_words(answer.short_answer_confidence)
    assert message.by_class["qa-short-line"] == [f"Short answer ({sure}): {answer.short_answer.text}"]
    assert message.by_class["qa-short-sure"] == [sure]


def test_a_withheld_short_answer_is_not_shown(engine: Engine) -> None:
    answer = engine.ask("When did the Hindenburg burn?")
    assert answer.short_answer is not None and answer.short_answer_confidence is not None
    withheld = dataclasses.replace(answer, short_answer=None, withheld_short_answer=answer.short_answer)
    message = assert_inert(render.answer_message_html(withheld))
    assert "qa-short-line" not in message.by_class and "Short answer" not in message.text
    assert message.by_class["qa-quote"] == [answer.citations[0].text]  # the evidence alone
    assert render.short_answer_html(withheld) == ""


@pytest.mark.parametrize(
    ("confidence", "words"), [(0.97, "very likely"), (0.74, "likely"), (0.3, "unsure"), (None, None)]
)
def test_the_short_answer_says_how_sure_it_is(engine: Engine, confidence: float | None, words: str | None) -> None:
    answer = dataclasses.replace(engine.ask("When did the Hindenburg burn?"), short_answer_confidence=confidence)
    assert answer.short_answer is not None
    line = Parsed(render.short_answer_html(answer)).by_class["qa-short-line"]
    assert line == [f"Short answer ({words}): 1937" if words else "Short answer: 1937"]


def test_abstention_says_so_and_lists_the_closest_passages(engine: Engine) -> None:
    strict = dataclasses.replace(engine.settings, abstain_below=99.0)
    answer = engine.ask("Where is the launch code kept?", strict)
    assert answer.abstained and answer.hits
    parsed = assert_inert(render.answer_message_html(answer))
    assert "No answer found" in parsed.by_class["qa-abstain"][0]
    assert len(parsed.by_class["qa-snippet"]) == len(answer.hits)
    choices = render.source_choices(answer)
    assert [c.key for c in choices] == [f"h{i}" for i in range(1, len(answer.hits) + 1)]
    shown = Parsed(render.source_html(answer, "h1"))
    assert shown.by_class["qa-passage"] == [answer.hits[0].text]


def test_retrieval_details_show_every_passage_with_its_three_scores(engine: Engine) -> None:
    answer = engine.ask("Who designed the Golden Gate Bridge?", dataclasses.replace(engine.settings, passages=3))
    parsed = assert_inert(render.retrieval_html(answer))
    numbers = parsed.by_class["qa-num"]
    assert len(numbers) == 3 * len(answer.hits) == 9
    for i, hit in enumerate(answer.hits):
        assert numbers[3 * i : 3 * i + 3] == [f"{hit.scores.dense:.3f}", f"{hit.scores.bm25:.3f}", f"{hit.score:.3f}"]


def test_status_line_is_escaped() -> None:
    parsed = assert_inert(render.status_html(3, 17, "<b>x</b>", "2026-01-01T00:00:00Z", "/tmp/<script>"))
    assert "3 documents" in parsed.text and "17 chunks" in parsed.text and "/tmp/<script>" in parsed.text


def test_choices_follow_the_citations(engine: Engine) -> None:
    answer: Answer = engine.ask("Who designed the Golden Gate Bridge?")
    assert [c.key for c in render.source_choices(answer)] == [f"c{c.n}" for c in answer.citations]


def test_a_rewritten_follow_up_shows_the_query_searched(engine: Engine) -> None:
    answer = engine.answerer().answer("When did it burn?", query="When did the Hindenburg airship burn?")
    parsed = assert_inert(render.answer_message_html(answer))
    assert parsed.by_class["qa-query-text"] == ["When did the Hindenburg airship burn?"]
    assert "rewritten from the conversation" in parsed.by_class["qa-query"][0]
    plain = Parsed(render.answer_message_html(engine.ask("When did the Hindenburg burn?")))
    assert "rewritten" not in plain.by_class["qa-query"][0]
