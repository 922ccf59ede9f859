"""The SQuAD scorer: hand cases, then the official figures on published leaderboard predictions
(cut to the committed SQuAD cuts in tests/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.squad import exact_match, f1, normalize_answer, score_predictions

SQUAD = Path(__file__).resolve().parents[1] / "data" / "squad"


# --- hand cases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  a  cat,  AN apple and the   dog ", "cat apple and dog"),
        ("Theory", "theory"),  # "the" only as a whole word
        ("rock'n'roll", "rocknroll"),  # punctuation is deleted, not replaced by a space
        ("U.S.A.", "usa"),
        ("“curly” quotes", "“curly” quotes"),  # only ASCII punctuation, as the official script
        ("", ""),
        ("the a an", ""),
    ],
)
def test_normalize_answer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


def test_exact_match_takes_max_over_gold() -> None:
    assert exact_match("the Denver Broncos", ["Broncos", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Broncos", "Denver Broncos"]) == 0.0


def test_f1_hand_cases() -> None:
    # pred "denver broncos team" vs gold "denver broncos": common 2, P = 2/3, R = 2/2,
    # F1 = 2 * (2/3 * 1) / (2/3 + 1) = 0.8.
    assert f1("Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)
    # Max over gold: vs "broncos" P = 1/3, R = 1 -> 0.5; vs "denver broncos" 0.8.
    assert f1("Denver Broncos team", ["Broncos", "Denver Broncos"]) == pytest.approx(0.8)
    # Token bags, not sets: pred "x x y" vs gold "x y": common = min counts {x:1, y:1} = 2,
    # P = 2/3, R = 2/2 -> 0.8 (a set view would give P = R = 1).
    assert f1("x x y", ["x y"]) == pytest.approx(0.8)
    assert f1("nothing shared", ["other words"]) == 0.0


def test_unanswerable_rules() -> None:
    # No gold answers means the only right answer is "" (SQuAD v2.0).
    assert exact_match("", []) == 1.0
    assert f1("", []) == 1.0
    assert exact_match("Paris", []) == 0.0
    assert f1("Paris", []) == 0.0
    # Answering "" to an answerable question scores 0.
    assert exact_match("", ["Paris"]) == 0.0
    assert f1("", ["Paris"]) == 0.0
    # A gold answer that normalises to nothing ("The") is dropped, as in evaluate-v2.0.py.
    assert f1("", ["The"]) == 1.0
    assert f1("the", ["Paris", "."]) == 0.0


def _tiny_dataset() -> dict:
    return {
        "version": "v2.0",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Paris is in France.",
                        "qas": [
                            {"id": "q1", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]},
                            {"id": "q2", "question": "?", "answers": [{"text": "France", "answer_start": 12}]},
                            {"id": "q3", "question": "?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ],
    }


def test_score_predictions_small() -> None:
    # q1 right (1, 1); q2 "in France" -> EM 0, F1: P = 1/2, R = 1 -> 2/3; q3 abstains correctly (1, 1).
    result = score_predictions(_tiny_dataset(), {"q1": "Paris", "q2": "in France", "q3": ""})
    assert result["total"] == 3
    assert result["exact"] == pytest.approx(100 * 2 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 3)
    assert result["HasAns_total"] == 2
    assert result["HasAns_exact"] == pytest.approx(50.0)
    assert result["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert result["NoAns_total"] == 1
    assert result["NoAns_exact"] == result["NoAns_f1"] == 100.0


def test_missing_predictions_score_zero_and_stay_in_totals() -> None:
    result = score_predictions(_tiny_dataset(), {"q1": "Paris"})
    assert result["total"] == 3
    assert result["exact"] == pytest.approx(100 / 3)
    # Even the unanswerable q3 — where "" would have been right — is wrong when missing.
    assert result["NoAns_exact"] == 0.0


def test_groups_follow_official_script_when_one_kind_only() -> None:
    # evaluate-v2.0.py adds HasAns_* whenever there are answerable questions and NoAns_* only
    # when there are unanswerable ones.
    dataset = _tiny_dataset()
    dataset["data"][0]["paragraphs"][0]["qas"].pop()  # drop the unanswerable q3
    result = score_predictions(dataset, {"q1": "Paris", "q2": "France"})
    assert result["exact"] == result["HasAns_exact"] == 100.0
    assert not any(key.startswith("NoAns") for key in result)


# --- official figures -----------------------------------------------------------------------


def _load(name: str) -> dict:
    with (SQUAD / name).open(encoding="utf-8") as f:
        return json.load(f)


def _close(actual: float, expected: float) -> bool:
    # tests/data/README.md gives three decimals; the scorer must agree to two.
    return abs(actual - expected) < 0.005


# The figures of the official evaluate-v1.1.py / evaluate-v2.0.py on the cuts: tests/data/README.md
# ("Official SQuAD figures of the cut prediction files"), printed by tests/data/make_cuts.py.
@pytest.mark.parametrize(
    ("gold", "predictions", "total", "exact", "f1_score"),
    [
        ("dev-v1.1.json", "v1.1-bert-ensemble.json", 1198, 85.893, 92.325),
        ("dev-v1.1.json", "v1.1-match-lstm.json", 1198, 69.449, 78.121),
        ("dev-v2.0.json", "v2.0-bert-single.json", 463, 72.570, 75.068),
    ],
)
def test_official_figures(gold: str, predictions: str, total: int, exact: float, f1_score: float) -> None:
    result = score_predictions(_load(gold), _load(f"predictions/{predictions}"))
    assert result["total"] == total
    assert _close(result["exact"], exact), result
    assert _close(result["f1"], f1_score), result


def test_official_v2_breakdown() -> None:
    result = score_predictions(_load("dev-v2.0.json"), _load("predictions/v2.0-bert-single.json"))
    assert result["total"] == 463
    assert result["HasAns_total"] == 202
    assert result["NoAns_total"] == 261
    assert _close(result["HasAns_exact"], 69.802), result
    assert _close(result["HasAns_f1"], 75.527), result
    assert _close(result["NoAns_exact"], 74.713), result
    # For a no-answer question EM and F1 coincide (both are "did it abstain?").
    assert result["NoAns_f1"] == result["NoAns_exact"]
