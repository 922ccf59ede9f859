"""Extractive answers: exact, verified citations; abstention; short answers as exact spans; JSON shape."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from eval.gold import load_squad_questions
from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.formats.corpora import iter_squad_documents
from index.loaders import iter_sources
from index.store import IndexDir, StoredIndex
from qa.answer_types import NO_ANSWER_TEXT, Answer, Citation, ShortAnswer
from qa.errors import BadQuery, SpanMismatch
from qa.extractive import AnswerSettings, ExtractiveAnswerer
from qa.retrieval import Retriever
from qa.short_answer_rules import rule_short_answer
from qa.types import Document

DOCS = [
    Document(
        "airships.txt",
        "Airships",
        "airships.txt",
        "Airships were popular early in the century.\n\nThe Hindenburg airship burned at Lakehurst in 1937. "
        "Its fire ended the era of passenger airships. Hydrogen made the ship dangerous.",
    ),
    Document(
        "volcano.txt",
        "Volcanoes",
        "volcano.txt",
        "Mount Vesuvius erupted in 79 AD and buried the town of Pompeii. About 2,000 people died in the eruption. "
        "The volcano is watched by the Osservatorio Vesuviano.",
    ),
    Document(
        "bridge.txt",
        "Bridges",
        "bridge.txt",
        "The Golden Gate Bridge was designed by Joseph Strauss. It opened to traffic in May 1937 in San Francisco.",
    ),
]


@pytest.fixture
def answerer(tmp_path: Path, fake_embedder: HashingEmbedder) -> ExtractiveAnswerer:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=24, overlap_tokens=8))
    index = IndexDir(tmp_path / "idx").load(fake_embedder)
    return ExtractiveAnswerer(Retriever(index, fake_embedder), fake_embedder)


def assert_exact(answer: Answer, index: StoredIndex) -> None:
    for citation in answer.citations:
        citation.verify(index.document(citation.doc_id))
    if answer.short_answer is not None:
        short = answer.short_answer
        short.verify(index.document(short.doc_id))
        first = answer.citations[0]
        assert short.doc_id == first.doc_id and first.start <= short.start < short.end <= first.end


def test_answer_quotes_and_cites_the_evidence_sentence(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer("In what year did the Hindenburg airship burn at Lakehurst?")
    assert not answer.abstained
    first = answer.citations[0]
    assert (first.n, first.doc_id) == (1, "airships.txt")
    assert first.quote == "The Hindenburg airship burned at Lakehurst in 1937."
    assert answer.text.startswith(f"{first.quote} [1]")
    assert answer.short_answer is not None and answer.short_answer.text == "1937"
    assert_exact(answer, answerer.retriever.index)


@pytest.mark.parametrize(
    "question",
    [
        "Who designed the Golden Gate Bridge?",
        "How many people died in the eruption of Vesuvius?",
        "Which town did Mount Vesuvius bury?",
        "What made the Hindenburg dangerous?",
        "When did the Golden Gate Bridge open to traffic?",
    ],
)
def test_every_citation_and_short_answer_is_an_exact_span(answerer: ExtractiveAnswerer, question: str) -> None:
    answer = answerer.answer(question)
    assert answer.citations and [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert_exact(answer, answerer.retriever.index)


def test_a_tampered_citation_fails_verification(answerer: ExtractiveAnswerer) -> None:
    index = answerer.retriever.index
    citation = answerer.answer("Who designed the Golden Gate Bridge?").citations[0]
    document = index.document(citation.doc_id)
    for tampered in (
        dataclasses.replace(citation, quote=citation.quote.replace("Strauss", "Eiffel")),
        dataclasses.replace(citation, start=citation.start + 1),
        dataclasses.replace(citation, end=len(document.text) + 5),
    ):
        with pytest.raises(SpanMismatch):
            tampered.verify(document)
    with pytest.raises(SpanMismatch):
        citation.verify(index.document("volcano.txt"))
    short = ShortAnswer.verified(document, 0, 3)
    with pytest.raises(SpanMismatch):
        dataclasses.replace(short, text="XYZ").verify(document)


def test_verified_constructors_refuse_bad_spans() -> None:
    document = DOCS[0]
    with pytest.raises(SpanMismatch):
        Citation.verified(1, document, 5, 5)
    with pytest.raises(SpanMismatch):
        Citation.verified(1, document, 10, len(document.text) + 1)
    with pytest.raises(SpanMismatch):
        ShortAnswer.verified(document, -1, 4)


def test_off_topic_question_abstains_and_keeps_the_hits(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder)
    index = IndexDir(tmp_path / "idx").load(fake_embedder)
    strict = ExtractiveAnswerer(Retriever(index, fake_embedder), fake_embedder, AnswerSettings(abstain_below=0.5))
    answer = strict.answer("Which quantum chromodynamics lattice gauge couplings matter?")
    assert answer.abstained and answer.text == NO_ANSWER_TEXT
    assert answer.citations == () and answer.short_answer is None
    assert answer.hits and answer.evidence_score < 0.5
    on_topic = strict.answer("Who designed the Golden Gate Bridge?")
    assert not on_topic.abstained and on_topic.evidence_score >= 0.5


def test_answer_json_shape(answerer: ExtractiveAnswerer) -> None:
    data = json.loads(json.dumps(answerer.answer("Who designed the Golden Gate Bridge?").to_json()))
    assert {"question", "rewritten_query", "answer", "short_answer", "abstained", "citations", "hits"} <= set(data)
    assert data["short_answer"] == "Joseph Strauss" and data["abstained"] is False
    assert set(data["citations"][0]) == {"n", "doc_id", "title", "source", "page", "start", "end", "quote"}
    assert data["citations"][0]["n"] == 1 and data["hits"][0]["doc_id"] == "bridge.txt"
    span = data["short_answer_span"]
    assert DOCS[2].text[span["start"] : span["end"]] == "Joseph Strauss"


def test_bad_questions_are_refused(answerer: ExtractiveAnswerer) -> None:
    with pytest.raises(BadQuery):
        answerer.answer("   ")
    with pytest.raises(BadQuery):
        answerer.answer("Who designed it?", k=0)


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("How many people died?", "About 2,000 people died in the eruption.", "2,000"),
        ("When did it open?", "It opened to traffic in May 1937 in San Francisco.", "May 1937"),
        ("Who designed the bridge?", "The bridge was designed by Joseph Strauss.", "Joseph Strauss"),
        ("What percentage of voters agreed?", "Of the voters, 62% agreed with the plan.", "62%"),
        ("Where was the treaty signed?", "The treaty was signed in Rome by six states.", "Rome"),
        ("When did it open?", "It opened after a long delay.", None),
    ],
)
def test_rule_short_answer_phrases(question: str, sentence: str, expected: str | None) -> None:
    span = rule_short_answer(question, sentence)
    assert (None if span is None else sentence[span[0] : span[1]]) == expected


@pytest.mark.slow
def test_real_model_cites_the_seed_article(tmp_path: Path, shared: Path, minilm) -> None:
    build_index(iter_sources([shared / "seeds" / "000_e0905da38116da84.txt"]), tmp_path / "idx", minilm)
    index = IndexDir(tmp_path / "idx").load(minilm)
    answer = ExtractiveAnswerer(Retriever(index, minilm), minilm).answer(
        "Who is the head of the UN Counter-Terrorism Office?"
    )
    assert not answer.abstained and "Vladimir Voronkov" in answer.citations[0].quote
    assert_exact(answer, index)


@pytest.mark.slow
def test_every_citation_verifies_on_squad_articles(tmp_path: Path, shared: Path, minilm) -> None:
    squad = shared / "data" / "squad" / "dev-v1.1.json"
    articles = ("Sky_(United_Kingdom)", "1973_oil_crisis")
    documents = [d for d in iter_squad_documents(squad) if d.doc_id.rsplit("#", 1)[0] in articles]
    build_index(iter(documents), tmp_path / "idx", minilm)
    index = IndexDir(tmp_path / "idx").load(minilm)
    answerer = ExtractiveAnswerer(Retriever(index, minilm), minilm)
    questions = [q for q in load_squad_questions(squad) if q.doc_ids[0].rsplit("#", 1)[0] in articles]
    assert len(questions) > 200
    for q in questions:
        answer = answerer.answer(q.question)
        assert answer.citations, q.question
        assert_exact(answer, index)


def test_a_close_runner_up_is_cited_second(answerer: ExtractiveAnswerer) -> None:
    generous = ExtractiveAnswerer(answerer.retriever, answerer.embedder, AnswerSettings(second_margin=10.0))
    answer = generous.answer("Who designed the Golden Gate Bridge?")
    assert [c.n for c in answer.citations] == [1, 2]
    assert answer.citations[0].quote != answer.citations[1].quote
    assert answer.text.endswith(f"{answer.citations[1].quote} [2]")
    assert_exact(answer, answerer.retriever.index)
