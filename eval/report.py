"""The human side of a run folder: report.md and a self-contained report.html with inline SVG plots."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape

from eval.scoring import QuestionResult, recall_curve, short_answer_curve, short_answer_reliability
from eval.svg import histogram, line_chart, unit_chart

MAX_FAILURES = 100  # questions listed in a report; per_question.jsonl has them all


def _settings_lines(header: dict) -> list[tuple[str, str]]:
    gold, index, git = header.get("gold", {}), header.get("index", {}), header.get("git", {})
    embedder = index.get("embedder", {})
    commit = git.get("commit") or "unknown"
    if git.get("dirty"):
        commit += " (with uncommitted changes)"
    articles = f", articles {', '.join(gold['articles'])}" if gold.get("articles") else ""
    return [
        (
            "gold set",
            f"{gold.get('path')} ({gold.get('kind')}, {gold.get('questions')} questions, "
            f"{gold.get('unanswerable')} unanswerable{articles})",
        ),
        ("index", f"{index.get('path')}: {index.get('counts')}"),
        ("embedder", f"{embedder.get('name')} ({embedder.get('fingerprint')})"),
        ("chunker", f"{index.get('chunker')}, index text {index.get('index_text')}"),
        ("answer settings", json.dumps(header.get("answer_settings", {}))),
        *([("language model", json.dumps(header["llm"]))] if header.get("llm") else []),
        ("git commit", commit),
        ("created", f"{header.get('created_at')} in {header.get('seconds', 0):.1f} s"),
    ]


def _failures(results: Sequence[QuestionResult]) -> list[QuestionResult]:
    return [r for r in results if not all(r.passed.values())][:MAX_FAILURES]


def _short(value: object, limit: int = 120) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(header: dict, results: Sequence[QuestionResult]) -> str:
    lines = ["# Evaluation report", ""]
    lines += [f"- **{name}**: {value}" for name, value in _settings_lines(header)]
    lines += ["", "| metric | value | questions |", "|---|---|---|"]
    for name, value in header["metrics"].items():
        lines.append(f"| {name} | {value:.4f} | {header['counts'].get(name, '')} |")
    curve = recall_curve(results)
    if curve:
        lines += ["", "Recall@k: " + ", ".join(f"k={k} {v:.3f}" for k, v in enumerate(curve, 1))]
    _, point = short_answer_curve(results)
    if point is not None:
        lines += [
            "",
            f"Short answers shown: coverage {point[0]:.3f} of the questions with gold answers, "
            f"precision {point[1]:.3f} (F1 >= 0.5); the curve is in report.html",
        ]
    failures = _failures(results)
    lines += ["", f"## Questions failing a check (first {len(failures)})", ""]
    lines += ["| id | question | gold | short answer | failed |", "|---|---|---|---|---|"]
    for r in failures:
        failed = ", ".join(k for k, ok in r.passed.items() if not ok)
        gold = " / ".join(dict.fromkeys(r.gold.answers)) or "(unanswerable)"
        cells = [r.gold.qid, r.gold.question, gold, r.answer["short_answer"] or "", failed]
        lines.append("| " + " | ".join(_short(c, 80).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _evidence_plots(results: Sequence[QuestionResult]) -> list[str]:
    def scores(keep) -> list[float]:
        return [r.evidence_score for r in results if keep(r) and r.evidence_score is not None]

    plots = [
        histogram(
            {"answered": scores(lambda r: not r.abstained), "abstained": scores(lambda r: r.abstained)},
            "Evidence score: answered vs abstained",
            "support (best cosine + 0.5 overlap; abstains below abstain_below)",
        )
    ]
    if any(not r.gold.answerable for r in results):
        plots.append(
            histogram(
                {
                    "answerable (gold)": scores(lambda r: r.gold.answerable),
                    "unanswerable (gold)": scores(lambda r: not r.gold.answerable),
                },
                "Evidence score: answerable vs unanswerable",
                "support (best cosine + 0.5 overlap; abstains below abstain_below)",
            )
        )
    return plots


def _short_answer_plots(results: Sequence[QuestionResult]) -> list[str]:
    """Precision/coverage of short answers over their confidence threshold, and a reliability diagram."""
    points, point = short_answer_curve(results)
    if not points:
        return []
    return [
        unit_chart(
            {"short answers": points},
            "Short answers: precision vs coverage",
            "coverage (candidates at or above a threshold / questions)",
            "precision (F1 >= 0.5)",
            {"short answers": point} if point is not None else None,
            level=0.8,
        ),
        unit_chart(
            {"short answers": short_answer_reliability(results)},
            "Short-answer confidence: reliability",
            "mean confidence (5 groups of equal size)",
            "share right (F1 >= 0.5)",
            diagonal=True,
        ),
    ]


def render_html(header: dict, results: Sequence[QuestionResult]) -> str:
    latencies = [r.latency_ms for r in results if math.isfinite(r.latency_ms)]
    plots = [
        line_chart(recall_curve(results), "Recall@k (document level)", "k", "mean recall@k"),
        histogram({"ask()": latencies}, "Latency per question", "milliseconds (retrieval + answer)"),
        *_evidence_plots(results),
        *_short_answer_plots(results),
    ]
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{value:.4f}</td><td>{header['counts'].get(name, '')}</td></tr>"
        for name, value in header["metrics"].items()
    )
    settings = "".join(f"<li><b>{escape(k)}</b>: {escape(str(v))}</li>" for k, v in _settings_lines(header))
    failures = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(_short(c))}</td>"
            for c in (
                r.gold.qid,
                r.gold.question,
                " / ".join(dict.fromkeys(r.gold.answers)) or "(unanswerable)",
                r.answer["short_answer"] or "",
                r.answer["citations"][0]["quote"] if r.answer["citations"] else "(abstained)",
                ", ".join(k for k, ok in r.passed.items() if not ok),
            )
        )
        + "</tr>"
        for r in _failures(results)
    )
    figures = "".join(f"<figure>{svg}</figure>" for svg in plots)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qa eval report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}}
figure{{display:inline-block;margin:6px}}
</style></head><body>
<h1>Evaluation report</h1><ul>{settings}</ul>
<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>questions</th></tr>{rows}</table>
<h2>Plots</h2>{figures}
<h2>Questions failing a check (first {MAX_FAILURES})</h2>
<table><tr><th>id</th><th>question</th><th>gold</th><th>short answer</th><th>first citation</th><th>failed</th></tr>
{failures}</table></body></html>
"""
