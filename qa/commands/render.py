"""Plain-text rendering of results for the terminal."""

from __future__ import annotations

import textwrap

from qa.answer.short.confidence import in_words
from qa.core.answers import Answer
from qa.core.types import Hit


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


def format_hit(n: int, hit: Hit, width: int = 100) -> str:
    page = f", page {hit.page}" if hit.page is not None else ""
    head = f"[{n}] {hit.title or hit.doc_id}  ({hit.doc_id}{page}, chars {hit.start}-{hit.end})"
    scores = f"    score {hit.score:.3f}  (dense {_fmt(hit.scores.dense)}, bm25 {_fmt(hit.scores.bm25)})"
    body = textwrap.fill(" ".join(hit.text.split()), width=width, initial_indent="    ", subsequent_indent="    ")
    return "\n".join((head, scores, body))


def format_hits(hits: list[Hit]) -> str:
    if not hits:
        return "no passages found"
    return "\n\n".join(format_hit(n, hit) for n, hit in enumerate(hits, 1))


def format_answer(answer: Answer, width: int = 100) -> str:
    """The answer, its short answer, the query searched when it was rewritten, and numbered citations."""
    lines = []
    if answer.rewritten_query != answer.question:
        lines.append(f"(searched for: {answer.rewritten_query})")
    if answer.mode == "llm":
        for sentence in answer.sentences:
            mark = "".join(f"[{n}]" for n in sentence.citations) if sentence.supported else "[unsupported]"
            lines.append(textwrap.fill(f"{sentence.text} {mark}", width=width))
        if any(not s.supported for s in answer.sentences):
            lines.append("([unsupported]: no passage says this; the sentence is the model's own.)")
    else:
        if answer.fallback_reason:
            lines.append(f"(LLM answer not used: {answer.fallback_reason}.)")
        lines.append(textwrap.fill(" ".join(answer.text.split()), width=width))
    if answer.short_answer is not None:
        p = answer.short_answer_confidence
        sure = "" if p is None else f" ({in_words(p)}, {p:.0%})"
        lines.append(f"Short answer{sure}: {answer.short_answer.text}")
    for c in answer.citations:
        page = f", page {c.page}" if c.page is not None else ""
        lines.append(f"[{c.n}] {c.title or c.doc_id}  ({c.doc_id}{page}, chars {c.start}-{c.end})")
        quote = " ".join(c.text.split())
        lines.append(textwrap.fill(quote, width=width, initial_indent="    ", subsequent_indent="    "))
    if answer.abstained and answer.hits:
        lines.append("Closest passages:")
        lines.append(format_hits(list(answer.hits)))
    return "\n".join(lines)
