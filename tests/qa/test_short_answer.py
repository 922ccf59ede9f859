"""Short answers: the span ranker's exact spans, their calibrated confidence, and withholding the unsure ones."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from small_corpus import answerer_over

from index.embedding import HashingEmbedder
from qa.answer.extractive import AnswerSettings, ExtractiveAnswerer
from qa.answer.short.confidence import (
    COEFFICIENTS,
    NAMES,
    SHOW_ABOVE,
    EvidenceSignals,
    confidence,
    in_words,
    inputs,
)
from qa.answer.short.finder import ShortAnswerFinder, ShortSpan, _without_stray_quotes
from qa.answer.short.ranker import FEATURES, QTYPES, Model, Ranked, load_model
from qa.core.answers import ShortAnswer
from qa.core.errors import QAError
from qa.core.types import Document

FINDER = ShortAnswerFinder()


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("How many people died?", "About 2,000 people died in the eruption.", "About 2,000"),
        ("When did it open?", "It opened to traffic in May 1937 in San Francisco.", "May 1937"),
        ("Who designed the bridge?", "The bridge was designed by Joseph Strauss.", "Joseph Strauss"),
        ("What percentage of voters agreed?", "Of the voters, 62% agreed with the plan.", "62%"),
        ("Where was the treaty signed?", "The treaty was signed in Rome by six states.", "Rome"),
        ("Which river flows through Warsaw?", "The Vistula flows through Warsaw and Kraków.", "Vistula"),
        ("In what year did the Normans conquer England?", "The Normans conquered England in 1066.", "1066"),
    ],
)
def test_short_answers_are_exact_phrases(question: str, sentence: str, expected: str) -> None:
    span = FINDER.span(question, sentence)
    assert span is not None and sentence[span.start : span.end] == expected
    assert 0 < span.confidence <= 1


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("When did it open?", "It opened."),  # nothing but the question's own words
        ("Who designed the bridge?", "The bridge was designed."),
        ("Who designed the bridge?", ""),
        ("   ", "The bridge was designed by Joseph Strauss."),
    ],
)
def test_no_short_answer_when_nothing_fits(question: str, sentence: str) -> None:
    assert FINDER.span(question, sentence, threshold=0.0) is None
    assert FINDER.span(question, sentence) is None


def test_below_the_threshold_there_is_no_short_answer() -> None:
    question, sentence = "What did they build?", "They built a small wooden house near the old mill by the river."
    span = FINDER.span(question, sentence, threshold=0.0)
    assert span is not None
    assert FINDER.span(question, sentence, threshold=span.confidence + 1e-6) is None


def test_the_committed_weights_match_the_features() -> None:
    model = load_model()
    assert isinstance(model, Model) and model.weights.shape == (len(FEATURES),)
    assert 0 <= model.threshold < 1 and model.mbr_top >= 1
    assert (FINDER.model().weights == model.weights).all()  # the finder reads the committed weights


@pytest.mark.parametrize(
    ("sentence", "start", "end", "expected"),
    [
        ("run `qa index update` now", 14, 21, "update"),  # "update`": the backtick's partner is outside
        ("run `qa index update` now", 4, 21, "`qa index update`"),  # a pair stays
        ("he said “yes” twice", 8, 13, "yes"),
        ("it's fine", 0, 4, "it's"),
    ],
)
def test_stray_quote_marks_are_trimmed(sentence: str, start: int, end: int, expected: str) -> None:
    trimmed = _without_stray_quotes(ShortSpan(start, end, 0.5), sentence)
    assert sentence[trimmed.start : trimmed.end] == expected and trimmed.confidence == 0.5


def test_weights_are_passed_explicitly_and_a_missing_file_is_named(tmp_path) -> None:
    missing = tmp_path / "weights.json"
    with pytest.raises(QAError, match=str(missing)):
        ShortAnswerFinder(missing).span("Who designed the bridge?", "The bridge was designed by Joseph Strauss.")


_WORDS = st.sampled_from(
    [
        "the",
        "of",
        "in",
        "1937",
        "May",
        "Rome",
        "Joseph",
        "Strauss",
        "bridge",
        "designed",
        "opened",
        "river",
        "2,000",
        "people",
        "died",
        "%",
        "(",
        ")",
        ",",
        ".",
        "who",
        "when",
        "where",
        "what",
        "which",
        "how",
        "many",
        "year",
        "Warsaw",
        "Vistula",
        "king's",
        "co-operation",
        "U.S.",
        "naïve",
        "12.5",
        "—",
        "\n",
        "  ",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=st.lists(_WORDS, min_size=1, max_size=8).map(" ".join),
    sentence=st.one_of(st.lists(_WORDS, min_size=0, max_size=25).map(" ".join), st.text(max_size=80)),
)
def test_any_span_lies_inside_the_sentence_and_reproduces_it(question: str, sentence: str) -> None:
    span = FINDER.span(question + "?", sentence, threshold=0.0)
    if span is None:
        return
    assert isinstance(span, ShortSpan) and 0 <= span.start < span.end <= len(sentence)
    document = Document("d", "t", "d", "prefix. " + sentence)
    short = ShortAnswer.verified(document, 8 + span.start, 8 + span.end)
    assert short.text == sentence[span.start : span.end]
    short.verify(document)


# --- the calibrated confidence (qa/answer/short/confidence.py) ---------------------------------

RANKED = Ranked(
    span=ShortSpan(0, 4, 0.6),
    qtype="date",
    expected_f1=0.6,
    top_probability=0.5,
    margin=1.0,
    candidates=12,
    words=1,
    entity=True,
    typed_match=True,
    rule_agrees=True,
)


def test_the_coefficients_name_every_input_and_the_threshold_is_a_probability() -> None:
    assert set(COEFFICIENTS) == set(NAMES) and len(inputs(RANKED, EvidenceSignals())) == len(NAMES)
    assert all(math.isfinite(v) for v in COEFFICIENTS.values())
    assert 0.0 < SHOW_ABOVE < 1.0


@settings(max_examples=200, deadline=None)
@given(
    margin=st.floats(-5, 20),
    higher=st.floats(0, 10),
    expected=st.floats(0, 1),
    top=st.floats(0, 1),
    qtype=st.sampled_from(QTYPES),
    support=st.one_of(st.floats(-3, 5), st.just(float("-inf")), st.just(float("nan"))),
    lead=st.one_of(st.floats(-1, 10), st.just(float("inf"))),
    flags=st.lists(st.booleans(), min_size=4, max_size=4),
    candidates=st.integers(1, 200),
    words=st.integers(1, 30),
)
def test_confidence_is_a_probability_and_grows_with_the_ranker_margin(
    margin, higher, expected, top, qtype, support, lead, flags, candidates, words
) -> None:
    entity, typed, rule, inside = flags
    ranked = dataclasses.replace(
        RANKED,
        margin=margin,
        expected_f1=expected,
        top_probability=top,
        qtype=qtype,
        candidates=candidates,
        words=words,
        entity=entity,
        typed_match=typed,
        rule_agrees=rule,
    )
    evidence = EvidenceSignals(support, lead, inside)
    p = confidence(ranked, evidence)
    assert 0.0 <= p <= 1.0
    assert confidence(dataclasses.replace(ranked, margin=margin + higher), evidence) >= p


def test_confidence_grows_with_the_evidence_support() -> None:
    low, high = (confidence(RANKED, EvidenceSignals(support=s)) for s in (0.5, 1.2))
    assert high > low


def test_confidence_in_words() -> None:
    assert [in_words(p) for p in (0.95, 0.85, 0.6, 0.5, 0.2, None)] == [
        "very likely",
        "very likely",
        "likely",
        "likely",
        "unsure",
        "unsure",
    ]


def test_the_finder_shows_a_candidate_only_above_its_threshold() -> None:
    question, sentence = "When did it open?", "It opened to traffic in May 1937 in San Francisco."
    everything = ShortAnswerFinder(show_above=0.0).candidate(question, sentence)
    assert everything is not None and everything.shown and sentence[everything.start : everything.end] == "May 1937"
    nothing = ShortAnswerFinder(show_above=1.0).candidate(question, sentence)
    assert nothing is not None and not nothing.shown and nothing.confidence == everything.confidence
    assert 0.0 < everything.confidence < 1.0
    assert ShortAnswerFinder().candidate(question, "It opened.") is None  # no candidate at all


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_the_show_threshold_must_be_a_probability(bad: float) -> None:
    with pytest.raises(QAError, match="show_above"):
        ShortAnswerFinder(show_above=bad)


# --- the answerer withholds a short answer that is probably wrong --------------------------------

DOCS = [
    Document(
        "bridge.txt",
        "Bridges",
        "bridge.txt",
        "The Golden Gate Bridge was designed by Joseph Strauss. It opened to traffic in May 1937 in San Francisco.",
    ),
    Document("volcano.txt", "Volcanoes", "volcano.txt", "Mount Vesuvius erupted in 79 AD and buried Pompeii."),
]


@pytest.fixture
def answerer(tmp_path: Path, fake_embedder: HashingEmbedder) -> ExtractiveAnswerer:
    return answerer_over(DOCS, tmp_path / "idx", fake_embedder)


def test_a_confident_short_answer_is_shown_with_its_confidence(answerer: ExtractiveAnswerer) -> None:
    answerer.short_answers = ShortAnswerFinder(show_above=0.0)
    answer = answerer.answer("Who designed the Golden Gate Bridge?")
    assert answer.short_answer is not None and answer.short_answer.text == "Joseph Strauss"
    assert answer.withheld_short_answer is None
    assert answer.short_answer_confidence is not None and 0.0 < answer.short_answer_confidence < 1.0
    data = json.loads(json.dumps(answer.to_json()))
    assert data["short_answer"] == "Joseph Strauss"
    assert data["short_answer_confidence"] == round(answer.short_answer_confidence, 4)
    assert "withheld_short_answer" not in data


def test_below_the_threshold_the_short_answer_is_withheld(answerer: ExtractiveAnswerer) -> None:
    question = "Who designed the Golden Gate Bridge?"
    answerer.short_answers = ShortAnswerFinder(show_above=0.0)
    shown = answerer.answer(question)
    answerer.short_answers = ShortAnswerFinder(show_above=1.0)
    withheld = answerer.answer(question)
    assert withheld.short_answer is None and withheld.citations == shown.citations  # the evidence stays
    assert withheld.withheld_short_answer == shown.short_answer
    assert withheld.short_answer_confidence == shown.short_answer_confidence
    withheld.verify(answerer.retriever.index)  # the withheld phrase is an exact span too
    data = withheld.to_json()
    assert data["short_answer"] is None and data["short_answer_span"] is None
    assert data["short_answer_confidence"] == round(shown.short_answer_confidence, 4)


def test_the_confidence_is_null_without_a_candidate(answerer: ExtractiveAnswerer) -> None:
    answerer.settings = AnswerSettings(abstain_below=99.0)
    abstained = answerer.answer("Who designed the Golden Gate Bridge?")
    assert abstained.abstained and abstained.short_answer_confidence is None
    assert abstained.to_json()["short_answer_confidence"] is None
    answerer.short_answers = None
    answerer.settings = AnswerSettings()
    assert answerer.answer("Who designed the Golden Gate Bridge?").to_json()["short_answer_confidence"] is None
