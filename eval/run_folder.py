"""Run folders on disk, comparing two runs, and the regression gate.

A run folder holds ``metrics.json`` (figures, counts, gold set, index manifest, answer settings,
git commit), ``per_question.jsonl`` (one QuestionResult a line), ``predictions.json`` (question
id -> short answer, the official SQuAD format, so ``qa eval score`` can re-score it) and the
reports. Comparing reads only the first two.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.report import render_html, render_markdown
from eval.scoring import DIRECTION, HIGHER, LOWER, QuestionResult, summarise
from qa.core.errors import EvalRunError

METRICS_FILE, QUESTIONS_FILE, PREDICTIONS_FILE = "metrics.json", "per_question.jsonl", "predictions.json"


@dataclass(frozen=True, slots=True)
class Run:
    path: Path
    header: dict  # metrics.json
    results: tuple[QuestionResult, ...]

    @property
    def metrics(self) -> dict[str, float]:
        return self.header["metrics"]


def write_run(out: Path, header: dict, results: Sequence[QuestionResult]) -> Run:
    """Write a complete run folder; ``header`` is metrics.json without the figures, which come from ``results``."""
    metrics, counts = summarise(results)
    header = {**header, "metrics": metrics, "counts": counts}
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).write_text(json.dumps(header, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with open(out / QUESTIONS_FILE, "w", encoding="utf-8") as f:
        for result in results:
            f.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    predictions = {r.gold.qid: _prediction_text(r) for r in results}
    (out / PREDICTIONS_FILE).write_text(json.dumps(predictions, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    run = Run(out, header, tuple(results))
    (out / "report.md").write_text(render_markdown(header, run.results), encoding="utf-8")
    (out / "report.html").write_text(render_html(header, run.results), encoding="utf-8")
    return run


def _prediction_text(result: QuestionResult) -> str:
    """As ``eval.scoring.prediction``, from the stored record."""
    if result.answer.get("mode") == "llm" and not result.abstained:
        return " ".join(s["text"] for s in result.answer["sentences"])
    short = result.answer["short_answer"]
    return "" if result.abstained or short is None else short


def load_run(path: Path) -> Run:
    """A run folder written by ``write_run``; EvalRunError naming the file when it is not one."""
    path = Path(path)
    try:
        header = json.loads((path / METRICS_FILE).read_text(encoding="utf-8"))
        if not isinstance(header.get("metrics"), dict):
            raise EvalRunError(f"{path / METRICS_FILE}: no 'metrics' object")
        results = []
        with open(path / QUESTIONS_FILE, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    results.append(QuestionResult.from_json(json.loads(line)))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise EvalRunError(f"{path / QUESTIONS_FILE}:{line_no}: not a question record ({exc})") from exc
    except FileNotFoundError as exc:
        raise EvalRunError(f"{path}: not a run folder ({Path(exc.filename).name} is missing)") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise EvalRunError(f"{path}: cannot read run ({exc})") from exc
    return Run(path, header, tuple(results))


@dataclass(frozen=True, slots=True)
class Delta:
    metric: str
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def worse_by(self) -> float:
        """How much worse ``after`` is, in the metric's own direction (negative when better)."""
        direction = DIRECTION.get(self.metric, "info")
        if direction == HIGHER:
            return self.before - self.after
        if direction == LOWER:
            # Latency is gated as a ratio: milliseconds mean nothing across machines.
            return (self.after - self.before) / self.before if self.before > 0 else 0.0
        return 0.0


@dataclass(frozen=True, slots=True)
class Flip:
    qid: str
    question: str
    check: str  # a key of QuestionResult.passed
    before: bool
    after: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    deltas: tuple[Delta, ...]
    flips: tuple[Flip, ...]
    only_before: tuple[str, ...]  # question ids asked in the first run only
    only_after: tuple[str, ...]


def compare(before: Run, after: Run) -> Comparison:
    """Metric deltas (metrics both runs have) and the per-question checks that changed outcome."""
    deltas = tuple(
        Delta(name, float(before.metrics[name]), float(after.metrics[name]))
        for name in before.metrics
        if name in after.metrics
    )
    after_by_id = {r.gold.qid: r for r in after.results}
    flips: list[Flip] = []
    for old in before.results:
        new = after_by_id.get(old.gold.qid)
        if new is None:
            continue
        for check, was in old.passed.items():
            now = new.passed.get(check)
            if now is not None and now != was:
                flips.append(Flip(old.gold.qid, old.gold.question, check, was, now))
    before_ids = {r.gold.qid for r in before.results}
    return Comparison(
        deltas,
        tuple(flips),
        tuple(sorted(before_ids - set(after_by_id))),
        tuple(sorted(set(after_by_id) - before_ids)),
    )


def regressions(
    comparison: Comparison, tolerance: float, latency_tolerance: float | None = None
) -> list[tuple[Delta, float]]:
    """The deltas that fail the gate, each with the tolerance it exceeded.

    A quality metric fails when it drops by more than ``tolerance`` (absolute, on the 0-1 scale).
    Latency fails only when ``latency_tolerance`` is given and it grows by more than that ratio;
    "info" figures never fail. Runs over different questions cannot be gated (EvalRunError).
    """
    if tolerance < 0 or (latency_tolerance is not None and latency_tolerance < 0):
        raise EvalRunError("tolerances must not be negative")
    if comparison.only_before or comparison.only_after:
        raise EvalRunError(
            f"the runs asked different questions ({len(comparison.only_before)} only in the baseline, "
            f"{len(comparison.only_after)} only in this run); gate against a baseline of the same gold subset"
        )
    failed = []
    for delta in comparison.deltas:
        direction = DIRECTION.get(delta.metric, "info")
        limit = tolerance if direction == HIGHER else latency_tolerance if direction == LOWER else None
        if limit is not None and delta.worse_by > limit + 1e-12:
            failed.append((delta, limit))
    return failed


def format_comparison(comparison: Comparison, max_flips: int = 50) -> str:
    """Deltas as a table and the flipped questions grouped by check, for the terminal."""
    lines = [f"{'metric':<28} {'before':>10} {'after':>10} {'delta':>10}"]
    for d in comparison.deltas:
        mark = "" if math.isclose(d.before, d.after) else (" worse" if d.worse_by > 0 else " better")
        if DIRECTION.get(d.metric, "info") == "info" and mark:
            mark = " changed"
        lines.append(f"{d.metric:<28} {d.before:>10.4f} {d.after:>10.4f} {d.change:>+10.4f}{mark}")
    lines.append("")
    if not comparison.flips:
        lines.append("no question changed outcome")
    by_check: dict[str, list[Flip]] = {}
    for flip in comparison.flips:
        by_check.setdefault(flip.check, []).append(flip)
    for check, flips in sorted(by_check.items()):
        lost = sum(f.before and not f.after for f in flips)
        lines.append(f"{check}: {lost} now fail, {len(flips) - lost} now pass")
        for f in flips[:max_flips]:
            lines.append(f"  {'pass->FAIL' if f.before else 'fail->PASS'}  {f.qid}  {f.question[:90]}")
        if len(flips) > max_flips:
            lines.append(f"  ... {len(flips) - max_flips} more")
    if comparison.only_before or comparison.only_after:
        lines.append(f"questions only in the first run: {len(comparison.only_before)}; ")
        lines[-1] += f"only in the second: {len(comparison.only_after)}"
    return "\n".join(lines)
