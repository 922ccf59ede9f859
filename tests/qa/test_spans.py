"""The span an answer cites: a FAQ's question or a heading is quoted with the answer under it, a
lead-in with what it announces, two adjacent sentences as one span when together they answer
better; every span is exactly the stored text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from small_corpus import answerer_over

from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.shapes import block, continues, shape
from qa.answer.spans import EvidenceSpan, SpanRule, adjacent_pairs, choose
from qa.core.answers import Answer
from qa.core.errors import QAError
from qa.core.types import Document

FAQ = (
    "Frobnicator FAQ\n\n"
    "How do I reset the frobnicator to factory settings?\n\n"
    "Hold the red button for ten seconds, then release it. It blinks twice when the reset is done. "
    "The reset keeps the network settings.\n\n"
    "Why does the display flicker?\n\n"
    "The display flickers while new firmware is installed."
)
GIT_FAQ = (
    "Common Issues\n\n"
    "- I made a mistake in the last commit. How do I change it?\n"
    "- Stage the fix and run git commit --amend to rewrite the commit.\n"
    "- I pushed a change with a bug. How should I undo it?\n"
    "- Use git revert to add a commit that undoes it."
)
SOLVER = (
    "Running the solver\n\n"
    "To write the solution to a file, you may use the following command:\n\n"
    "glpsol --model foo.mod --output foo.sol\n\n"
    "The solver prints a short summary of the run when it finishes."
)


def ask(tmp_path: Path, embedder: HashingEmbedder, text: str, question: str) -> tuple[Answer, ExtractiveAnswerer]:
    answerer = answerer_over([Document("doc.txt", "Doc", "doc.txt", text)], tmp_path / "idx", embedder)
    answer = answerer.answer(question)
    answer.verify(answerer.retriever.index)
    return answer, answerer


def quoted(answer: Answer, text: str) -> str:
    (citation,) = answer.citations
    assert citation.text == text[citation.start : citation.end]  # the stored text, exactly
    return citation.text


def test_a_faq_question_is_quoted_with_the_answer_under_it(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    answer, _ = ask(tmp_path, fake_embedder, FAQ, "How do I reset the frobnicator to factory settings?")
    assert quoted(answer, FAQ) == (
        "How do I reset the frobnicator to factory settings?\n\n"
        "Hold the red button for ten seconds, then release it. It blinks twice when the reset is done."
    )  # the answer, and the sentence that continues it


def test_a_faq_entry_in_list_items_cites_the_answer_item(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    answer, _ = ask(tmp_path, fake_embedder, GIT_FAQ, "I made a mistake in my last commit. How do I change it?")
    text = quoted(answer, GIT_FAQ)
    assert text.startswith("- I made a mistake in the last commit.")
    assert text.endswith("- Stage the fix and run git commit --amend to rewrite the commit.")


def test_a_lead_in_is_quoted_with_what_it_announces(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    answer, _ = ask(tmp_path, fake_embedder, SOLVER, "How do I write the solution to a file?")
    assert quoted(answer, SOLVER) == (
        "To write the solution to a file, you may use the following command:\n\nglpsol --model foo.mod --output foo.sol"
    )


def test_a_sentence_continued_by_the_next_is_cited_with_it(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    text = (
        "Several IRC channels are dedicated to Debian development. They are mainly hosted on the OFTC network. "
        "The main channel for users is #debian."
    )
    answer, _ = ask(tmp_path, fake_embedder, text, "On which network are the Debian development IRC channels hosted?")
    assert quoted(answer, text) == (
        "Several IRC channels are dedicated to Debian development. They are mainly hosted on the OFTC network."
    )


# --- the rule on given scores -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    doc_id: str
    start: int
    end: int
    text: str


def lines(text: str) -> list[Line]:
    """Each sentence of a text written one per line (the test's own candidates)."""
    out, start = [], 0
    for part in text.split("\n"):
        out.append(Line("d", start, start + len(part), part))
        start += len(part) + 1
    return out


PROSE = "The red valve controls the pressure of the boiler.\nIt opens at two bars.\nThe boiler is made of steel."


@pytest.mark.parametrize(
    ("pair_score", "rule", "cited"),
    [
        (1.25, SpanRule(pair_margin=0.3, continued_margin=0.3), (0, 0)),  # 1.25 - 0.3 < 1.0
        (1.25, SpanRule(pair_margin=0.3, continued_margin=0.0), (0, 1)),  # "It" continues the first
        (1.35, SpanRule(pair_margin=0.3, continued_margin=0.3), (0, 1)),
        (0.99, SpanRule(pair_margin=0.0, continued_margin=0.0), (0, 0)),  # a pair must beat the best sentence
    ],
)
def test_a_pair_is_cited_when_it_beats_the_best_sentence_by_the_margin(
    pair_score: float, rule: SpanRule, cited: tuple[int, int]
) -> None:
    sentences = lines(PROSE)
    pairs = adjacent_pairs(sentences, lambda _: PROSE)
    assert pairs == [(0, 1), (1, 2)]
    span = choose(sentences, np.array([1.0, 0.5, 0.2]), pairs, np.array([pair_score, 0.6]), lambda _: PROSE, rule)
    first, last = sentences[cited[0]], sentences[cited[1]]
    assert span == EvidenceSpan("d", first.start, last.end, first.start, cited[1] - cited[0] + 1)


def test_a_pair_holding_a_heading_is_never_cited() -> None:
    text = "How are valves tested?\nEach valve is tested at three bars."
    sentences = lines(text)
    span = choose(sentences, np.array([0.1, 1.0]), [(0, 1)], np.array([5.0]), lambda _: text)
    assert span == EvidenceSpan("d", sentences[1].start, sentences[1].end, sentences[1].start, 1)


def test_nothing_to_choose_from() -> None:
    assert choose([], np.zeros(0), [], np.zeros(0), lambda _: "") is None
    assert choose(lines("x y"), np.array([-np.inf]), [], np.zeros(0), lambda _: "x y") is None


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_margins_are_checked(bad: float) -> None:
    with pytest.raises(QAError, match="pair_margin"):
        SpanRule(pair_margin=bad)
    with pytest.raises(QAError, match="continued_margin"):
        SpanRule(continued_margin=bad)


def test_shapes() -> None:
    def of(text: str, sentence: str):
        start = text.index(sentence)
        return shape(text, start, start + len(sentence))

    assert of(FAQ, "How do I reset the frobnicator to factory settings?").heading
    assert of(FAQ, "Frobnicator FAQ").heading  # a title
    assert not of(FAQ, "Hold the red button for ten seconds, then release it.").heading
    # The statement before a FAQ's question, in the same list item, is part of the question.
    assert of(GIT_FAQ, "- I made a mistake in the last commit.").heading
    assert not of(GIT_FAQ, "- Use git revert to add a commit that undoes it.").heading
    # A command line is as short and bare as a title, but it is an answer.
    assert not of(SOLVER, "glpsol --model foo.mod --output foo.sol").heading
    assert of(SOLVER, "To write the solution to a file, you may use the following command:").lead_in
    start = GIT_FAQ.index("- Stage")
    assert GIT_FAQ[slice(*block(GIT_FAQ, start, start + 5))] == (
        "- Stage the fix and run git commit --amend to rewrite the commit."
    )
    assert continues("They are mainly hosted on OFTC.") and continues("For example, run it twice.")
    assert not continues("Theory says otherwise.")


# --- every span is exact ----------------------------------------------------------------------

_PIECES = [
    "How do I reset the device?",
    "Hold the red button for ten seconds.",
    "It blinks twice when it is done.",
    "Setting up",
    "Use the following command:",
    "devicectl --reset --force",
    "- The device keeps its settings after a reset.",
    "Therefore, write them down first.",
    "Why does the display flicker?",
    "The display flickers while firmware is installed.",
]
_QUESTIONS = ["How do I reset the device?", "Why does the display flicker?", "What does the device keep?"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.sampled_from(_PIECES), min_size=2, max_size=9),
    gaps=st.lists(st.sampled_from([" ", "\n", "\n\n", "\n- "]), min_size=9, max_size=9),
    question=st.sampled_from(_QUESTIONS),
)
def test_every_cited_span_is_the_stored_text(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[str], gaps: list[str], question: str
) -> None:
    text = "".join(piece + gap for piece, gap in zip(pieces, gaps, strict=False)).strip()
    root = tmp_path_factory.mktemp("idx")
    answerer = answerer_over(
        [Document("doc.txt", "Doc", "doc.txt", text)], root, HashingEmbedder(64), ChunkerSettings(24, 8)
    )
    answer = answerer.answer(question)
    answer.verify(answerer.retriever.index)
    for citation in answer.citations:
        assert citation.text == text[citation.start : citation.end]
        assert citation.text == citation.text.strip() and citation.text
    if answer.short_answer is not None:
        first = answer.citations[0]
        assert first.start <= answer.short_answer.start < answer.short_answer.end <= first.end
