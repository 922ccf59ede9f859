"""The short-answer span ranker: exact spans inside the sentence, None when nothing fits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.answer.short.finder import ShortAnswerFinder, ShortSpan, _without_stray_quotes
from qa.answer.short.ranker import FEATURES, Model, load_model
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
