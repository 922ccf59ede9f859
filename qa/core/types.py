"""The values that flow between stages: Document -> Chunk -> Hit, and Span, the location they share.

They are frozen so that a stage can never change what an earlier stage produced, and
offsets are typed fields (not metadata) because every citation we show is checked
against them: ``document.text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from qa.core.errors import BadCollection, SpanMismatch

DEFAULT_COLLECTION = "default"
ALL_COLLECTIONS = "*"  # in a grant: every collection
_COLLECTION = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def check_collection(name: object) -> str:
    """``name`` when it is a usable collection name (``[a-z0-9][a-z0-9_-]{0,63}``); BadCollection otherwise."""
    if not isinstance(name, str) or not _COLLECTION.fullmatch(name):
        raise BadCollection(
            f"collection name {name!r} is not usable: use 1-64 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def content_hash(text: str) -> str:
    """Stable hash of a document's text; a changed hash means re-chunk and re-embed."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class PageSpan:
    """Characters ``[start, end)`` of a document's text came from page ``page`` (1-based).

    A page is a PDF page, a slide or a sheet. ``navigation`` marks a table-of-contents or index
    page: its text stays (offsets of later pages must not move) but it is never chunked, so it is
    never retrieved or quoted as evidence.
    """

    page: int
    start: int
    end: int
    navigation: bool = False


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle on page ``page``, in fractions of the page's width and height, origin top-left.

    Fractions (not points or pixels) so a page rendered at any size can draw it.
    """

    page: int
    x0: float
    y0: float
    x1: float
    y1: float

    def to_json(self) -> dict:
        return {
            "page": self.page,
            "x0": round(self.x0, 4),
            "y0": round(self.y0, 4),
            "x1": round(self.x1, 4),
            "y1": round(self.y1, 4),
        }


@dataclass(frozen=True, slots=True)
class TextBox:
    """Characters ``[start, end)`` of a document's text were drawn in ``box`` (one word or line run).

    A character inside a run is placed by linear interpolation along the run, so a span that cuts
    a run gets the part of the box its characters cover.
    """

    start: int
    end: int
    box: Box


@dataclass(frozen=True, slots=True)
class Document:
    """One source text. ``doc_id`` is stable across rebuilds (relative path or corpus id)."""

    doc_id: str
    title: str
    source: str
    text: str
    pages: tuple[PageSpan, ...] = ()
    content_hash: str = field(default="")
    boxes: tuple[TextBox, ...] = ()  # ordered by start; only for formats drawn on pages (PDF, OCR)
    collection: str = DEFAULT_COLLECTION  # who may see it: tokens and users are granted collections
    _box_ends: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.text))
        object.__setattr__(self, "_box_ends", tuple(run.end for run in self.boxes))
        check_collection(self.collection)

    def page_at(self, offset: int) -> int | None:
        """The PDF page holding character ``offset``, or None for documents without pages."""
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        if self.pages and offset >= self.pages[-1].end:
            return self.pages[-1].page
        return None

    def boxes_for(self, start: int, end: int) -> tuple[Box, ...]:
        """Where ``text[start:end]`` stands on its pages: one rectangle per line it covers."""
        if not self.boxes or start >= end:
            return ()
        first = bisect.bisect_right(self._box_ends, start)
        parts: list[Box] = []
        for run in self.boxes[first:]:
            if run.start >= end:
                break
            lo, hi = max(start, run.start), min(end, run.end)
            if lo >= hi:
                continue
            width = (run.box.x1 - run.box.x0) / max(1, run.end - run.start)
            part = Box(
                run.box.page,
                run.box.x0 + width * (lo - run.start),
                run.box.y0,
                run.box.x0 + width * (hi - run.start),
                run.box.y1,
            )
            parts.append(part)
        return _merge_lines(parts)

    def quote(self, start: int, end: int) -> str:
        if not 0 <= start <= end <= len(self.text):
            raise SpanMismatch(f"span [{start}, {end}) is outside document {self.doc_id!r} of length {len(self.text)}")
        return self.text[start:end]


def _merge_lines(parts: list[Box]) -> tuple[Box, ...]:
    """Runs that follow each other on one line of a page become one rectangle."""
    merged: list[Box] = []
    for box in parts:
        last = merged[-1] if merged else None
        same_line = (
            last is not None
            and last.page == box.page
            and box.x0 >= last.x0
            and min(last.y1, box.y1) - max(last.y0, box.y0) > 0.5 * min(last.y1 - last.y0, box.y1 - box.y0)
        )
        if last is not None and same_line:
            merged[-1] = Box(last.page, last.x0, min(last.y0, box.y0), max(last.x1, box.x1), max(last.y1, box.y1))
        else:
            merged.append(box)
    return tuple(merged)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A token-bounded piece of a document: ``text == document.text[start:end]``."""

    doc_id: str
    start: int
    end: int
    text: str
    n_tokens: int

    def __post_init__(self) -> None:
        if self.end - self.start != len(self.text) or self.start < 0:
            raise SpanMismatch(
                f"chunk of {self.doc_id!r} has span [{self.start}, {self.end}) but {len(self.text)} characters"
            )


class DocumentSource(Protocol):
    """Where stored documents are looked up by id (a loaded index, or the documents read from disk)."""

    def document(self, doc_id: str) -> Document: ...


class DocumentTable:
    """Documents looked up by id: a DocumentSource over documents already read."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self._by_id = {d.doc_id: d for d in documents}

    def document(self, doc_id: str) -> Document:
        return self._by_id[doc_id]


@dataclass(frozen=True, slots=True)
class Span:
    """Characters ``[start, end)`` of a stored document, ``text == document.text[start:end]``.

    The one location type: a retrieved passage (Hit), a citation and a short answer are each a
    span with a few fields more. ``page`` is the page of ``start`` (None for formats without pages);
    ``boxes`` are where the span is drawn on its pages (empty for formats not drawn on pages).
    """

    doc_id: str
    title: str
    source: str
    page: int | None
    start: int
    end: int
    text: str
    boxes: tuple[Box, ...]

    @staticmethod
    def located(document: Document, start: int, end: int) -> dict:
        """The span fields of ``document.text[start:end]``; SpanMismatch for an empty or out-of-range span."""
        if start >= end:
            raise SpanMismatch(f"empty span [{start}, {end}) of {document.doc_id!r}")
        text = document.quote(start, end)
        return {
            "doc_id": document.doc_id,
            "title": document.title,
            "source": document.source,
            "page": document.page_at(start),
            "start": start,
            "end": end,
            "text": text,
            "boxes": document.boxes_for(start, end),
        }

    def verify(self, document: Document) -> None:
        """Raise SpanMismatch unless this span is ``document.text[start:end]`` exactly."""
        if document.doc_id != self.doc_id:
            raise SpanMismatch(f"span of {self.doc_id!r} checked against {document.doc_id!r}")
        if document.quote(self.start, self.end) != self.text:
            raise SpanMismatch(
                f"span [{self.start}, {self.end}) of {self.doc_id!r} reads "
                f"{document.text[self.start : self.end]!r}, not {self.text!r}"
            )

    def location_json(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "boxes": [box.to_json() for box in self.boxes],
        }


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-retriever scores of a hit; None when that retriever did not score it."""

    dense: float | None
    bm25: float | None


@dataclass(frozen=True, slots=True)
class Hit(Span):
    """A retrieved chunk (``chunk_id``), with everything needed to cite it."""

    chunk_id: int
    score: float
    scores: Scores

    def to_json(self) -> dict:
        """The JSON shape of a hit: a contract shared by the CLI, eval and the UI."""
        return self.location_json() | {
            "text": self.text,
            "score": round(float(self.score), 6),
            "scores": {
                "dense": None if self.scores.dense is None else round(float(self.scores.dense), 6),
                "bm25": None if self.scores.bm25 is None else round(float(self.scores.bm25), 6),
            },
        }
