"""Plain-text rendering of results for the terminal."""

from __future__ import annotations

import textwrap

from qa.types import Hit


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
