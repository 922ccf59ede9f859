"""Near-domain abstention (qa/answer/abstention.py): the signals read of the evidence, the
calibrated probability, and the answerer's three outcomes (abstain, low-confidence, sure)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import MINILM_NAME, HashingEmbedder
from index.store import IndexDir
from qa.answer import abstention, extractive
from qa.answer.abstention import ABSTAIN_PROBABILITY, GAP_CAP, MODEL, SIGNALS, SURE_PROBABILITY, Signals, signals
from qa.answer.evidence import Evidence
from qa.answer.extractive import AnswerSettings, ExtractiveAnswerer
from qa.core.answers import NO_ANSWER_TEXT
from qa.core.types import Document
from qa.search.retrieval import Retriever

DOCS = [
    Document("bridge.txt", "Bridges", "bridge.txt", "The Golden Gate Bridge was designed by Joseph Strauss in 1917."),
    Document("volcano.txt", "Volcanoes", "volcano.txt", "Mount Vesuvius erupted in the year 79 and buried Pompeii."),
]


def evidence(text: str, score: float, cosine: float = 0.7, overlap: float = 0.5, token_match: float = 0.5) -> Evidence:
    return Evidence("d", 0, len(text), text, 0, cosine, overlap, token_match, score)


def test_signals_read_coverage_the_asked_kind_and_the_gap() -> None:
    question = "In what year was the Golden Gate Bridge designed?"
    best = evidence("The Golden Gate Bridge was designed by Joseph Strauss in 1917.", 3.0)
    s = signals(question, [best, evidence("Bridges are long.", 2.4)], [best.text], np.array([0.6, 0.2, 0.5]), 0.9)
    assert s.support == 0.9 and s.cosine == best.cosine and s.overlap == best.overlap
    # golden, gate, bridge, design in the sentence; "year" is not (the asked kind is, below)
    assert s.coverage == pytest.approx(0.8) and s.found == pytest.approx(0.8)
    assert s.kind_missing == 0.0  # a year is asked for and 1917 is there
    assert s.gap == pytest.approx(0.6)
    assert s.token_floor == pytest.approx(0.2)  # the weakest third of three tokens: the lowest one
    # The same question over a sentence on its topic without the year: a kind missing, less covered.
    topic = evidence("The Golden Gate Bridge is painted orange.", 3.0)
    t = signals(question, [topic], [topic.text, "Design matters."], np.zeros(0), 0.9)
    assert t.kind_missing == 1.0 and t.coverage < 1.0 and t.found > t.coverage
    assert t.gap == GAP_CAP and t.token_floor == topic.token_match  # alone; no per-token matches


def test_the_probability_is_a_probability_and_follows_the_evidence() -> None:
    assert len(MODEL.weights) == len(MODEL.means) == len(MODEL.scales) == len(SIGNALS)
    assert 0.0 < ABSTAIN_PROBABILITY <= SURE_PROBABILITY < 1.0
    strong = Signals(1.1, 0.8, 0.8, 0.6, 0.45, 1.0, 1.0, 0.0, 1.5, 4.5)
    weak = Signals(0.55, 0.45, 0.2, 0.4, 0.2, 0.25, 0.5, 1.0, 0.02, 2.5)
    p_strong, p_weak = abstention.probability(strong), abstention.probability(weak)
    assert 0.0 < p_weak < p_strong < 1.0
    assert p_strong >= SURE_PROBABILITY and p_weak < ABSTAIN_PROBABILITY


class CalibratedStandIn(HashingEmbedder):
    """The hashing embedder under MiniLM's name, so the answerer computes a probability."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.name = MINILM_NAME


@pytest.fixture
def index_root(tmp_path: Path, fake_embedder: HashingEmbedder) -> Path:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings())
    return tmp_path / "idx"


@pytest.fixture
def calibrated_root(tmp_path: Path) -> Path:
    build_index(iter(DOCS), tmp_path / "calibrated", CalibratedStandIn(), ChunkerSettings())
    return tmp_path / "calibrated"


def answerer_for(root: Path, embedder: HashingEmbedder, settings: AnswerSettings = AnswerSettings()):
    index = IndexDir(root).load(embedder)
    return ExtractiveAnswerer(Retriever(index, embedder), embedder, settings, short_answers=None)


def test_an_uncalibrated_embedder_has_no_confidence(index_root: Path, fake_embedder: HashingEmbedder) -> None:
    answer = answerer_for(index_root, fake_embedder).answer("Who designed the Golden Gate Bridge?")
    assert not answer.abstained and answer.answer_confidence is None and not answer.low_confidence
    data = answer.to_json()
    assert data["answer_confidence"] is None and data["low_confidence"] is False


@pytest.mark.parametrize(
    ("probability", "abstained", "low"),
    [
        (ABSTAIN_PROBABILITY / 2, True, False),
        ((ABSTAIN_PROBABILITY + SURE_PROBABILITY) / 2, False, True),
        ((SURE_PROBABILITY + 1) / 2, False, False),
    ],
)
def test_the_probability_decides_abstain_low_confidence_or_sure(
    calibrated_root: Path, monkeypatch: pytest.MonkeyPatch, probability: float, abstained: bool, low: bool
) -> None:
    embedder = CalibratedStandIn()
    monkeypatch.setattr(extractive, "answer_probability", lambda *args: probability)
    question = "The Golden Gate Bridge was designed by Joseph Strauss in 1917."  # support well above 0.5
    answer = answerer_for(calibrated_root, embedder).answer(question)
    assert answer.evidence_score >= 0.5  # the support floor alone would answer
    assert answer.abstained is abstained and answer.low_confidence is low
    assert answer.answer_confidence == pytest.approx(probability)
    assert (answer.text == NO_ANSWER_TEXT) is abstained and bool(answer.citations) is not abstained
    data = answer.to_json()
    assert data["answer_confidence"] == round(probability, 4) and data["low_confidence"] is low
    # A threshold the user sets is on support alone; abstain=False never abstains (the band still shows).
    chosen = answerer_for(calibrated_root, embedder, AnswerSettings(abstain_below=0.5)).answer(question)
    assert not chosen.abstained
    never = answerer_for(calibrated_root, embedder, AnswerSettings(abstain=False)).answer(question)
    assert not never.abstained and never.low_confidence is (probability < SURE_PROBABILITY)


def test_the_real_probability_runs_on_a_stored_index(calibrated_root: Path) -> None:
    """Without the stand-in: the signals come from the stored sentence tokens and give a probability."""
    embedder = CalibratedStandIn()
    answer = answerer_for(calibrated_root, embedder, AnswerSettings(abstain=False)).answer("Who designed the bridge?")
    assert answer.answer_confidence is not None and 0.0 <= answer.answer_confidence <= 1.0
    assert math.isfinite(answer.evidence_score)
    assert dataclasses.replace(answer, low_confidence=True).to_json()["low_confidence"] is True
