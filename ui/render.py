"""HTML for answers, sources, retrieval details and the index status line.

Document text is untrusted: a document may hold ``<script>``, ``<img onerror=…>`` or markdown
links to ``javascript:``. Every piece of text from a document, a file name or a question goes
through ``esc`` before it meets markup, and ``esc`` also turns the characters markdown and LaTeX
treat as syntax into numeric character references, so the text stays text even where a
renderer parses markdown. The markup around it is ours. Nothing here imports gradio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.core.answers import Answer, Citation
from qa.core.types import Hit

if TYPE_CHECKING:
    from ui.uploads import IngestResult

# One pass over the text: HTML's special characters, and those with a meaning in markdown, GFM
# autolinks or KaTeX, become character references, which every renderer shows literally.
_TABLE = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'[]()*_`#!~|\\$:{}+=-"})

_SNIPPET = 220


def esc(text: str, breaks: bool = True) -> str:
    """``text`` as inert HTML: escaped and markdown-neutral; line breaks kept as ``<br>`` if ``breaks``."""
    escaped = text.translate(_TABLE)
    return escaped.replace("\n", "<br>") if breaks else escaped


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _where(title: str, source: str, page: int | None, start: int, end: int) -> str:
    page_part = f" · page {page}" if page is not None else ""
    return (
        f'<span class="qa-title">{esc(title or source)}</span> · <span class="qa-source">{esc(source)}</span>'
        f"{page_part} · chars {start}–{end}"
    )


def _snippet(text: str, limit: int = _SNIPPET) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def user_message_html(question: str) -> str:
    return esc(question)


def answer_message_html(answer: Answer) -> str:
    """The chat bubble of an answer: quoted evidence with numbered markers, short answer, query used."""
    parts: list[str] = []
    if answer.abstained:
        parts.append(f'<div class="qa-abstain"><strong>No answer found.</strong> {esc(answer.text)}</div>')
        if answer.hits:
            items = "".join(
                f"<li>{_where(h.title, h.source, h.page, h.start, h.end)}<br>"
                f'<span class="qa-snippet">{esc(_snippet(h.text))}</span></li>'
                for h in answer.hits
            )
            parts.append(f'<div class="qa-closest">Closest passages:<ol>{items}</ol></div>')
    elif answer.mode == "llm":
        parts.append(_llm_answer_html(answer))
    else:
        if answer.fallback_reason:
            parts.append(f'<div class="qa-fallback">LLM answer not used: {esc(answer.fallback_reason)}.</div>')
        body = " ".join(
            # Hard-wrapped source lines flow in the answer (CSS); the Sources panel keeps the layout.
            f'<span class="qa-quote">{esc(c.text, breaks=False)}</span> <sup class="qa-marker">[{c.n}]</sup>'
            for c in answer.citations
        )
        parts.append(f'<div class="qa-answer">{body}</div>')
        if answer.short_answer is not None:
            parts.append(
                f'<div class="qa-short-line">Short answer: <strong>{esc(answer.short_answer.text)}</strong></div>'
            )
    parts.append(query_html(answer))
    return "".join(parts)


UNSUPPORTED_NOTE = "Sentences marked unsupported were written by the language model but no retrieved passage says them."


def _llm_answer_html(answer: Answer) -> str:
    """The model's sentences: supported ones with their citation markers, unsupported ones marked as such."""
    spans = []
    for sentence in answer.sentences:
        text = esc(sentence.text, breaks=False)
        if sentence.supported:
            marks = "".join(f'<sup class="qa-marker">[{n}]</sup>' for n in sentence.citations)
            spans.append(f'<span class="qa-sentence">{text}</span> {marks}')
        else:
            spans.append(
                f'<span class="qa-sentence qa-unsupported">{text}</span> '
                '<sup class="qa-unsupported-mark">unsupported</sup>'
            )
    html = f'<div class="qa-answer qa-llm">{" ".join(spans)}</div>'
    if any(not s.supported for s in answer.sentences):
        html += f'<div class="qa-unsupported-note">{esc(UNSUPPORTED_NOTE)}</div>'
    return html


def generating_html(text: str) -> str:
    """The bubble of an answer being generated: the model's raw words so far, not yet checked."""
    return (
        f'<div class="qa-generating-text">{esc(text)}</div>'
        '<div class="qa-generating">generating… each sentence is checked against the passages when done</div>'
    )


def query_html(answer: Answer) -> str:
    rewritten = answer.rewritten_query.strip() != answer.question.strip()
    note = " (rewritten from the conversation)" if rewritten else ""
    return (
        f'<div class="qa-query">Searched for: <code class="qa-query-text">{esc(answer.rewritten_query)}</code>'
        f"{note}</div>"
    )


def error_message_html(message: str) -> str:
    return f'<div class="qa-error">{esc(message)}</div>'


@dataclass(frozen=True, slots=True)
class SourceChoice:
    """One entry of the Sources list: a citation (``c<n>``) or, on abstention, a close passage (``h<i>``)."""

    label: str
    key: str


def source_choices(answer: Answer) -> list[SourceChoice]:
    if answer.citations:
        return [
            SourceChoice(f"[{c.n}] {c.title or c.source}, chars {c.start}–{c.end}", f"c{c.n}") for c in answer.citations
        ]
    return [SourceChoice(f"closest {i}: {h.title or h.source}", f"h{i}") for i, h in enumerate(answer.hits, 1)]


def _containing_hit(citation: Citation, hits: tuple[Hit, ...]) -> Hit | None:
    for hit in hits:
        if hit.doc_id == citation.doc_id and hit.start <= citation.start and citation.end <= hit.end:
            return hit
    return None


def _highlighted(text: str, offset: int, citation: Citation, short: tuple[int, int] | None) -> str:
    """``text`` (from document offset ``offset``) with the citation marked, the short answer emphasised in it."""

    def part(a: int, b: int) -> str:
        return esc(text[a - offset : b - offset])

    inner = part(citation.start, citation.end)
    if short is not None:
        s, e = short
        inner = f'{part(citation.start, s)}<strong class="qa-short">{part(s, e)}</strong>{part(e, citation.end)}'
    return (
        f"{part(offset, citation.start)}"
        f'<mark class="qa-cited" data-cite="{citation.n}">{inner}</mark>'
        f"{part(citation.end, offset + len(text))}"
    )


def source_html(answer: Answer | None, key: str | None) -> str:
    """The Sources panel for one choice of ``source_choices``: where the passage is and the passage itself."""
    if answer is None:
        return '<div class="qa-sources-empty">Ask a question: its sources appear here.</div>'
    if key is None:
        choices = source_choices(answer)
        if not choices:
            return '<div class="qa-sources-empty">No passages were retrieved.</div>'
        key = choices[0].key
    kind, number = key[0], int(key[1:])
    if kind == "c":
        citation = next((c for c in answer.citations if c.n == number), None)
        if citation is None:
            return '<div class="qa-sources-empty">No such citation.</div>'
        short = None
        sa = answer.short_answer
        if sa is not None and sa.doc_id == citation.doc_id and citation.start <= sa.start and sa.end <= citation.end:
            short = (sa.start, sa.end)
        hit = _containing_hit(citation, answer.hits)
        text, offset = (hit.text, hit.start) if hit is not None else (citation.text, citation.start)
        head = _where(citation.title, citation.source, citation.page, citation.start, citation.end)
        return (
            f'<div class="qa-source" data-key="{key}"><div class="qa-source-head">[{citation.n}] {head}</div>'
            f'<div class="qa-passage">{_highlighted(text, offset, citation, short)}</div></div>'
        )
    if not 1 <= number <= len(answer.hits):
        return '<div class="qa-sources-empty">No such passage.</div>'
    hit = answer.hits[number - 1]
    return (
        f'<div class="qa-source" data-key="{key}"><div class="qa-source-head">closest {number}: '
        f"{_where(hit.title, hit.source, hit.page, hit.start, hit.end)}</div>"
        f'<div class="qa-passage">{esc(hit.text)}</div></div>'
    )


def retrieval_html(answer: Answer | None) -> str:
    """Each retrieved passage with its dense, BM25 and fused scores, best first."""
    if answer is None or not answer.hits:
        return '<div class="qa-sources-empty">No passages retrieved yet.</div>'
    rows = "".join(
        f'<tr><td>{i}</td><td class="qa-num">{_score(h.scores.dense)}</td>'
        f'<td class="qa-num">{_score(h.scores.bm25)}</td><td class="qa-num">{_score(h.score)}</td>'
        f'<td>{_where(h.title, h.source, h.page, h.start, h.end)}<div class="qa-snippet">{esc(_snippet(h.text))}</div>'
        "</td></tr>"
        for i, h in enumerate(answer.hits, 1)
    )
    return (
        '<table class="qa-retrieval"><thead><tr><th>#</th><th>dense</th><th>BM25</th><th>fused</th>'
        f"<th>passage</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def status_html(documents: int, chunks: int, embedder: str, updated: str, where: str) -> str:
    return (
        f'<div class="qa-status">Index: <b>{documents}</b> documents · <b>{chunks}</b> chunks · '
        f"embedder {esc(embedder)} · last update {esc(updated)} · <code>{esc(where)}</code></div>"
    )


def upload_html(result: IngestResult) -> str:
    """The message under the files after an upload: what was indexed, and each rejected file with why."""
    lines = []
    if result.accepted:
        names = ", ".join(esc(n) for n in result.accepted)
        lines.append(
            f'<div class="qa-upload-ok">Indexed {len(result.accepted)} file(s) in {result.seconds:.1f} s: {names}. '
            "They are searchable now.</div>"
        )
    for rejected in result.rejected:
        lines.append(f'<div class="qa-error">Rejected {esc(rejected.name)}: {esc(rejected.reason)}</div>')
    return "".join(lines)
