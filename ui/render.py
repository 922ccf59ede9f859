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

from qa.answer.short.confidence import in_words
from qa.core.answers import Answer, Citation
from qa.core.types import Hit, Span
from ui.pages import PageNote, PageView

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
        if answer.low_confidence:
            parts.append(f'<div class="qa-low-confidence">{esc(LOW_CONFIDENCE_NOTE)}</div>')
        body = " ".join(
            # Hard-wrapped source lines flow in the answer (CSS); the Sources panel keeps the layout.
            f'<span class="qa-quote">{esc(c.text, breaks=False)}</span> <sup class="qa-marker">[{c.n}]</sup>'
            for c in answer.citations
        )
        parts.append(f'<div class="qa-answer">{body}</div>')
        if answer.short_answer is not None:
            parts.append(short_answer_html(answer))
    parts.append(query_html(answer))
    return "".join(parts)


def short_answer_html(answer: Answer) -> str:
    """The shown short answer with how sure the answerer is, in words ("Short answer (likely): 1937").
    Nothing when the short answer was withheld: the quoted evidence then stands alone."""
    if answer.short_answer is None:
        return ""
    p = answer.short_answer_confidence
    words = "" if p is None else f' (<span class="qa-short-sure">{in_words(p)}</span>)'
    return f'<div class="qa-short-line">Short answer{words}: <strong>{esc(answer.short_answer.text)}</strong></div>'


# Above an answer whose evidence probably, but not surely, answers (Answer.low_confidence).
LOW_CONFIDENCE_NOTE = "The closest passage — the documents may not answer this."
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


def span_of(answer: Answer | None, key: str | None) -> Span | None:
    """The citation or passage that ``source_choices`` key ``key`` names (the first one for None)."""
    if answer is None:
        return None
    if key is None:
        choices = source_choices(answer)
        key = choices[0].key if choices else None
    if not key or key[0] not in "ch" or not key[1:].isdigit():
        return None
    number = int(key[1:])
    if key[0] == "c":
        return next((c for c in answer.citations if c.n == number), None)
    return answer.hits[number - 1] if 1 <= number <= len(answer.hits) else None


def source_html(answer: Answer | None, key: str | None, page: PageView | PageNote | None = None) -> str:
    """The Sources panel for one choice of ``source_choices``: where the passage is, the passage itself,
    and, for a PDF, the page it stands on (``page``) or why that page cannot be shown."""
    if answer is None:
        return '<div class="qa-sources-empty">Ask a question: its sources appear here.</div>'
    span = span_of(answer, key)
    if span is None:
        empty = "No passages were retrieved." if key is None else "No such source."
        return f'<div class="qa-sources-empty">{empty}</div>'
    key = key or source_choices(answer)[0].key
    if isinstance(span, Citation):
        short = None
        sa = answer.short_answer
        if sa is not None and sa.doc_id == span.doc_id and span.start <= sa.start and sa.end <= span.end:
            short = (sa.start, sa.end)
        hit = _containing_hit(span, answer.hits)
        text, offset = (hit.text, hit.start) if hit is not None else (span.text, span.start)
        head = f"[{span.n}] {_where(span.title, span.source, span.page, span.start, span.end)}"
        passage = _highlighted(text, offset, span, short)
    else:
        head = f"closest {key[1:]}: {_where(span.title, span.source, span.page, span.start, span.end)}"
        passage = esc(span.text)
    return (
        f'<div class="qa-source" data-key="{key}"><div class="qa-source-head">{head}</div>'
        f'<div class="qa-passage">{passage}</div>{page_html(page)}</div>'
    )


def page_html(page: PageView | PageNote | None) -> str:
    """The rendered page with the span's rectangles over it (in percent of the picture, so they scale
    with it); only the rectangles of the page on show are visible. ``PAGE_SCRIPT`` turns the pages."""
    if page is None:
        return ""
    if isinstance(page, PageNote):
        return f'<div class="qa-page-note">Page view unavailable: {esc(page.text)}.</div>'
    boxes = "".join(
        f'<div class="qa-box" data-page="{b.page}"{"" if b.page == page.page else " hidden"} style="'
        f"left:{100 * b.x0:.3f}%;top:{100 * b.y0:.3f}%;width:{100 * (b.x1 - b.x0):.3f}%;"
        f'height:{100 * (b.y1 - b.y0):.3f}%"></div>'
        for b in page.boxes
    )
    first, last = " disabled" if page.page <= 1 else "", " disabled" if page.page >= page.pages else ""
    return (
        f'<figure class="qa-page" data-src="{page.src}" data-version="{page.version}" data-page="{page.page}" '
        f'data-pages="{page.pages}"><div class="qa-page-nav">'
        f'<button type="button" class="qa-page-prev" data-step="-1"{first}>◀ previous page</button>'
        f'<span class="qa-page-label">page <span class="qa-page-number">{page.page}</span> of {page.pages}</span>'
        f'<button type="button" class="qa-page-next" data-step="1"{last}>next page ▶</button></div>'
        f'<div class="qa-page-frame"><img class="qa-page-image" src="{page.url(page.page)}" '
        f'alt="page {page.page} of the document">{boxes}</div>'
        "<figcaption>Highlighted: where the marked text above stands on the page.</figcaption></figure>"
    )


# Turns the pages of a page view in the browser (gr.HTML's js_on_load: ``element`` is the panel, which
# stays while its content is replaced, so one delegated listener serves every page view shown).
PAGE_SCRIPT = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('.qa-page-nav button');
  if (!button || !element.contains(button)) return;
  const figure = button.closest('figure.qa-page');
  const pages = Number(figure.dataset.pages);
  const page = Math.min(pages, Math.max(1, Number(figure.dataset.page) + Number(button.dataset.step)));
  figure.dataset.page = String(page);
  figure.querySelector('img.qa-page-image').src = figure.dataset.src + page + '.png?v=' + figure.dataset.version;
  figure.querySelector('img.qa-page-image').alt = 'page ' + page + ' of the document';
  figure.querySelector('.qa-page-number').textContent = String(page);
  figure.querySelectorAll('.qa-box').forEach((box) => { box.hidden = box.dataset.page !== String(page); });
  figure.querySelector('.qa-page-prev').disabled = page <= 1;
  figure.querySelector('.qa-page-next').disabled = page >= pages;
});
"""


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
