"""EPUB books: the (X)HTML parts in reading order (the package's spine), read with the HTML
reader's text extraction (``index.formats.html.chapter_text``), so headings and paragraphs come
out as blocks separated by blank lines, as for a web page.

The page is a part's 1-based position in the spine, and ``text[span.start:span.end]`` is exactly
that part's text; parts without text (a cover image) get no span. Only the standard library
parses the container: zipfile (checked by ``index.formats.archive``) and ElementTree for the two
small XML files that say where the parts are.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ElementTree
import zipfile
import zlib
from pathlib import Path
from urllib.parse import unquote

from index.formats import clip_title, short
from index.formats.archive import open_zip
from index.formats.html import chapter_text
from index.formats.pages import join_pages
from qa.core.errors import UnreadableFile
from qa.core.types import Document

_CONTAINER = "META-INF/container.xml"
_ENCRYPTION = "META-INF/encryption.xml"
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})


def load_epub(path: Path, *, doc_id: str, source: str) -> Document:
    with open_zip(path.read_bytes(), "EPUB") as archive:
        package = _package_path(archive)
        opf = _xml(archive, package)
        parts = _spine(opf, posixpath.dirname(package))
        encrypted = _encrypted(archive)
        if any(part in encrypted for part in parts):
            raise UnreadableFile("DRM-protected EPUB (its chapters are encrypted)")
        names = set(archive.namelist())
        chapters = [
            (number, chapter_text(_read(archive, part)))
            for number, part in enumerate(parts, start=1)
            if part is not None and part in names  # a damaged book may lack a part: read the others
        ]
    text, spans = join_pages((number, text) for number, (_, text) in chapters)
    if not text:
        raise UnreadableFile("no text in EPUB")
    first_title = next((clip_title(title) for _, (title, text) in chapters if text and title), "")
    title = _book_title(opf) or first_title or path.stem
    return Document(doc_id=doc_id, title=title, source=source, text=text, pages=spans)


def _package_path(archive: zipfile.ZipFile) -> str:
    """Where the package document (.opf) is: named by the container, else the only .opf there is."""
    names = archive.namelist()
    if _CONTAINER in names:
        rootfile = _xml(archive, _CONTAINER).find(".//{*}rootfile")
        if rootfile is not None and (full_path := rootfile.get("full-path")) and full_path in names:
            return full_path
    packages = [name for name in names if name.lower().endswith(".opf")]
    if len(packages) != 1:
        raise UnreadableFile("not an EPUB: no package document (META-INF/container.xml names none)")
    return packages[0]


def _xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(_read(archive, name))
    except ElementTree.ParseError as error:
        raise UnreadableFile(f"corrupt EPUB: {name}: {short(error)}") from error


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, OSError) as error:
        # A bad checksum, cut data or an unknown compression method: the part is damaged.
        raise UnreadableFile(f"corrupt EPUB: {name}: {short(error)}") from error


def _spine(opf: ElementTree.Element, folder: str) -> list[str | None]:
    """The archive path of each part of the spine in reading order, None for a part that is not
    (X)HTML (an SVG page), so that positions stay those of the spine."""
    manifest: dict[str, str] = {}
    for item in opf.iterfind("{*}manifest/{*}item"):
        href, media_type = item.get("href"), item.get("media-type", "")
        is_html = media_type in _HTML_TYPES or (href or "").lower().endswith((".xhtml", ".html", ".htm"))
        if item.get("id") and href and is_html:
            manifest[item.get("id", "")] = posixpath.normpath(posixpath.join(folder, unquote(href.split("#")[0])))
    refs = [ref.get("idref", "") for ref in opf.iterfind("{*}spine/{*}itemref")]
    if not refs:
        raise UnreadableFile("EPUB without a reading order (its package document has no spine)")
    return [manifest.get(ref) for ref in refs]


def _encrypted(archive: zipfile.ZipFile) -> set[str]:
    """Paths META-INF/encryption.xml lists as encrypted (fonts are merely obfuscated, but they
    are never spine parts)."""
    if _ENCRYPTION not in archive.namelist():
        return set()
    references = _xml(archive, _ENCRYPTION).iterfind(".//{*}CipherReference")
    return {unquote(uri) for ref in references if (uri := ref.get("URI"))}


def _book_title(opf: ElementTree.Element) -> str:
    node = opf.find("{*}metadata/{*}title")
    return clip_title(node.text or "") if node is not None else ""
