"""The page view of a cited PDF: which page to show, where the cited span stands on it, and the
page as a PNG for the app's own route. Nothing here imports gradio.

The route is given a document key and a page number, never a path: the key is looked up among
the documents of the loaded index, and the file read is the one that document was indexed from.
Rendered pages are cached on disk under a name made of the file's path, size and modification
time, the page and the width, so a changed file is never answered with an old picture.

A file that is missing, unreadable or changed since it was indexed gets a note instead of a page:
"changed" is a file with fewer pages than the index knows, or whose text layer on the cited page
no longer holds the words stored for that page (a scanned page has no text layer to compare).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index.formats.pdf_render import page_sizes, page_text, render_page_png
from index.tables import document_key
from qa.core.errors import QAError
from qa.core.types import Box, Document, Span

log = logging.getLogger(__name__)

PAGE_ROUTE = "/qa/page/{doc_key}/{page}.png"
PAGE_WIDTH_PX = 1000  # the panel is ~550 CSS px wide: sharp on a 2x screen, ~100-200 KB a page
CACHE_ENV = "QA_CACHE"
MAX_CACHE_BYTES = 256 * 2**20
# Share of the words stored for a page that its text layer must still hold: the stored text is
# cleaned (running headers dropped, hyphenated words joined), so it is not compared exactly.
SAME_PAGE_WORDS = 0.8
_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")
_WORD = re.compile(r"\w+")


def default_cache_dir() -> Path:
    """``$QA_CACHE/pages``, else ``$XDG_CACHE_HOME/qa/pages``, else ``~/.cache/qa/pages``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "pages"
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "qa" / "pages"


def doc_key(doc_id: str) -> str:
    """The document's name in page URLs: fixed length and URL-safe, whatever its id holds; the
    key the index finds a document by (``DocumentHashes.row_of_key``) without reading the others."""
    return document_key(doc_id).decode("ascii")


@dataclass(frozen=True, slots=True)
class PageView:
    """A cited span on its rendered page; ``boxes`` may lie on other pages too (shown on theirs)."""

    src: str  # the URL of page N is f"{src}{N}.png?v={version}" (relative: the app's own origin)
    version: str  # changes when the file does, so a browser never shows an old picture
    page: int  # shown first: the page where the span begins
    pages: int
    boxes: tuple[Box, ...]

    def url(self, page: int) -> str:
        return f"{self.src}{page}.png?v={self.version}"


@dataclass(frozen=True, slots=True)
class PageNote:
    """Why a span with boxes is shown as text only (the file is missing or changed)."""

    text: str


class PageNotFound(Exception):
    """The route has no page for this request; ``reason`` is for the log, never the document's text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    stamp: str  # size and modification time: a changed file gets new cache names
    pages: int


class PageImages:
    """Pages of the loaded index's PDFs, rendered on demand and cached in ``cache_dir``."""

    def __init__(
        self,
        find: Callable[[str], Document | None],
        cache_dir: Path,
        width_px: int = PAGE_WIDTH_PX,
        max_cache_bytes: int = MAX_CACHE_BYTES,
    ) -> None:
        self._find = find  # page key -> the current index's document (a new generation after an upload)
        self.cache_dir = Path(cache_dir)
        self.width_px = width_px
        self.max_cache_bytes = max_cache_bytes

    def view(self, span: Span) -> PageView | PageNote | None:
        """The page view of ``span``; None when it is not drawn on PDF pages (the text view suffices)."""
        if not span.boxes:
            return None
        document = self._find(doc_key(span.doc_id))
        if document is None:
            return PageNote("the document is no longer in the index, so its page cannot be shown")
        if not _is_pdf(document):
            return None
        found = self._file(document)
        if isinstance(found, str):
            return PageNote(found)
        page = span.boxes[0].page
        if not _same_page(document, found, page):
            return PageNote(f"{_name(document)} has changed since it was indexed; update the index to see its page")
        version = _digest(found.stamp)[:12]
        return PageView(f"qa/page/{doc_key(document.doc_id)}/", version, page, found.pages, span.boxes)

    def png(self, key: str, page: str, collections: frozenset[str] | None = None) -> bytes:
        """Page ``page`` of the indexed document ``key`` as PNG; PageNotFound for anything else (a
        document outside ``collections``, when given, included)."""
        document = self._find(key)
        hidden = document is not None and collections is not None and document.collection not in collections
        if document is None or hidden or not _is_pdf(document):
            raise PageNotFound("no such document in the index")
        if not _PAGE_NUMBER.fullmatch(page):
            raise PageNotFound("not a page number")
        found = self._file(document)
        if isinstance(found, str):
            raise PageNotFound(found)
        number = int(page)
        if number > found.pages:
            raise PageNotFound(f"the document has {found.pages} pages")
        cached = self.cache_dir / f"{_digest(f'{found.path.resolve()}|{found.stamp}|{number}|{self.width_px}')}.png"
        try:
            data = cached.read_bytes()
            os.utime(cached)  # recently used pages are the last to be pruned
            return data
        except OSError:
            pass
        data = render_page_png(found.path, number, self.width_px)
        self._store(cached, data)
        return data

    def _file(self, document: Document) -> _File | str:
        """The indexed file of ``document``, or why its pages cannot be shown."""
        path = Path(document.source)  # a relative source is read from where the server runs, as indexing did
        try:
            info = path.stat()
        except OSError:
            return f"the file {_name(document)} is no longer where it was indexed from, so its page cannot be shown"
        if not stat.S_ISREG(info.st_mode):
            return f"{_name(document)} is not a regular file any more"
        stamp = f"{info.st_size}-{info.st_mtime_ns}"
        try:
            count = _page_count(str(path), stamp)
        except QAError:
            return f"{_name(document)} can no longer be read as a PDF"
        last = max((p.page for p in document.pages), default=0)
        if count < last:
            return f"{_name(document)} has changed since it was indexed ({count} pages now, page {last} indexed)"
        return _File(path, stamp, count)

    def _store(self, target: Path, data: bytes) -> None:
        """Write a rendered page (whole or not at all), then keep the cache under its size limit."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            partial = self.cache_dir / f".{uuid.uuid4().hex}.part"
            partial.write_bytes(data)
            os.replace(partial, target)
            self._prune(target)
        except OSError as exc:  # a cache that cannot be written only costs rendering again
            log.warning("page cache %s not written: %s", self.cache_dir, exc)

    def _prune(self, keep: Path) -> None:
        """Least recently used pages go first, down to 3/4 of the limit; ``keep`` (just written) stays."""
        files = [(f.stat(), f) for f in self.cache_dir.glob("*.png")]
        total = sum(info.st_size for info, _ in files)
        if total <= self.max_cache_bytes:
            return
        for info, oldest in sorted(files, key=lambda pair: pair[0].st_mtime):
            if total <= self.max_cache_bytes * 3 // 4:
                break
            if oldest != keep:
                oldest.unlink(missing_ok=True)
                total -= info.st_size


def _is_pdf(document: Document) -> bool:
    return Path(document.source).suffix.lower() == ".pdf" and bool(document.pages)


def _name(document: Document) -> str:
    return Path(document.source).name


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=256)
def _page_count(path: str, stamp: str) -> int:
    """Pages of the file; ``stamp`` (size, mtime) is part of the key so a changed file is read again."""
    return len(page_sizes(Path(path)))


def _same_page(document: Document, found: _File, page: int) -> bool:
    if page > found.pages:
        return False
    stored = next((document.text[p.start : p.end] for p in document.pages if p.page == page), None)
    return stored is None or _words_still_there(stored, str(found.path), found.stamp, page)


@functools.lru_cache(maxsize=1024)
def _text_words(path: str, stamp: str, page: int) -> frozenset[str]:
    return frozenset(_WORD.findall(page_text(Path(path), page).lower()))


def _words_still_there(stored: str, path: str, stamp: str, page: int) -> bool:
    now = _text_words(path, stamp, page)
    if not now:
        return True  # a scanned page: no text layer to compare (its text came from OCR)
    words = set(_WORD.findall(stored.lower()))
    return not words or len(words & now) >= SAME_PAGE_WORDS * len(words)
