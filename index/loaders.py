"""Turn the files and folders a user names into Documents, reporting what could not be read.

A bad file never stops ingestion: every problem becomes a ``Skipped`` with a reason, in the
same stream as the documents, so a caller can show both as they come.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.formats import short
from qa.core.errors import QAError
from qa.core.types import Document

# Format modules are imported on first use: pypdfium2, python-docx, python-pptx, openpyxl and
# selectolax are slow to import, and a missing one should only cost its own format.
_READERS: dict[str, tuple[str, str]] = {
    ".txt": ("index.formats.text", "load_text"),
    ".md": ("index.formats.text", "load_markdown"),
    ".markdown": ("index.formats.text", "load_markdown"),
    ".html": ("index.formats.html", "load_html"),
    ".htm": ("index.formats.html", "load_html"),
    ".pdf": ("index.formats.pdf", "load_pdf"),
    ".docx": ("index.formats.docx", "load_docx"),
    ".pptx": ("index.formats.pptx", "load_pptx"),
    ".xlsx": ("index.formats.xlsx", "load_xlsx"),
    ".csv": ("index.formats.delimited", "load_csv"),
    ".epub": ("index.formats.epub", "load_epub"),
}
_CORPUS_SUFFIXES = frozenset({".json", ".jsonl"})
# One file, one document (the browser accepts these uploads); corpora are the many-document files.
DOCUMENT_SUFFIXES: tuple[str, ...] = tuple(_READERS)
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(DOCUMENT_SUFFIXES) | _CORPUS_SUFFIXES


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str  # the file path as given/joined ("path:lineno" for one bad record of a corpus)
    reason: str


@dataclass(frozen=True, slots=True)
class Held:
    """A file left unread because the caller asked to hold it (one still being written: index/watch.py)."""

    path: str  # as given/joined, like a Document's source
    doc_id: str  # the id a one-document file would get (a corpus file's records have their own)


def iter_sources(
    paths: Sequence[str | Path], hold: frozenset[str] = frozenset(), exclude: frozenset[str] = frozenset()
) -> Iterator[Document | Skipped | Held]:
    """Documents from files and folders (recursive, sorted, deterministic order).

    A file whose real path (``os.path.realpath``) is in ``hold`` is not read: a ``Held`` stands
    for it (only a caller that passes ``hold`` ever sees one). A folder whose real path
    (``os.path.realpath``) is in ``exclude`` is not walked (an index directory inside a folder read).

    Never raises for a bad file: yields Skipped with a reason and goes on. A path that does not
    exist → Skipped("... no such file or directory").

    A file inside a folder gets its POSIX path relative to that folder as id, a file named
    directly its file name; corpus files give their own ids. A repeated id is Skipped.
    """
    first_source: dict[str, str] = {}
    for given in paths:
        for item in _iter_path(os.fspath(given), hold, exclude):
            item = not_blank(item)
            if isinstance(item, Document):
                if item.doc_id in first_source:
                    earlier = first_source[item.doc_id]
                    item = Skipped(item.source, f"duplicate document id {item.doc_id!r} (also from {earlier})")
                else:
                    first_source[item.doc_id] = item.source
            yield item


def not_blank(item: Document | Skipped | Held) -> Document | Skipped | Held:
    """``item``, or Skipped when it is a document without text (nothing to chunk or cite)."""
    if isinstance(item, Document) and not item.text.strip():
        return Skipped(item.source, f"document {item.doc_id!r}: empty text")
    return item


def _iter_path(
    given: str, hold: frozenset[str] = frozenset(), exclude: frozenset[str] = frozenset()
) -> Iterator[Document | Skipped | Held]:
    if os.path.isdir(given):
        for found in walk_folder(given, exclude):
            if isinstance(found, Skipped):
                yield found
            elif hold and os.path.realpath(found[1]) in hold:
                yield Held(found[1], found[0])
            else:
                yield from load_file(found[1], doc_id=found[0])
    elif hold and os.path.realpath(given) in hold:
        yield Held(given, os.path.basename(given))
    elif os.path.lexists(given):
        yield from load_file(given, doc_id=os.path.basename(given))
    else:
        yield Skipped(given, "no such file or directory")


def walk_folder(root: str, exclude: frozenset[str] = frozenset()) -> Iterator[tuple[str, str] | Skipped]:
    """``(relative POSIX id, joined path)`` of every non-hidden file under ``root``, sorted by id,
    and a Skipped for each folder that cannot be listed.

    Symlinked folders are followed, but each real folder is walked once, so a link loop ends;
    real folders are walked before links, so a file is named by its real location when a link
    inside the tree points to a folder also in it.
    """
    found: list[tuple[str, str, str | None]] = []  # (id, path, reason if unreadable folder)
    visited: set[str] = {os.path.realpath(root)}
    folders: list[tuple[str, str]] = [("", root)]
    linked: list[tuple[str, str]] = []
    while folders or linked:
        rel_dir, folder = folders.pop() if folders else linked.pop(0)
        if rel_dir and (real := os.path.realpath(folder)) in visited:
            continue
        if rel_dir:
            visited.add(real)
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            found.append((rel_dir, folder, f"cannot list folder: {error.strerror or error}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if _is_dir(entry):
                if exclude and os.path.realpath(entry.path) in exclude:
                    continue
                (linked if entry.is_symlink() else folders).append((rel, entry.path))
            else:
                found.append((rel, entry.path, None))
    for rel, path, reason in sorted(found):
        yield (rel, path) if reason is None else Skipped(path, reason)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def load_file(source: str, *, doc_id: str) -> Iterator[Document | Skipped]:
    try:
        info = os.stat(source)
    except FileNotFoundError:
        yield Skipped(source, "no such file or directory (or a broken link)")
        return
    except OSError as error:
        yield Skipped(source, f"cannot read file: {error.strerror or error}")
        return
    path = Path(source)
    suffix = path.suffix.lower()
    if not stat.S_ISREG(info.st_mode):
        yield Skipped(source, "not a regular file")  # opening a FIFO or device could block forever
    elif suffix not in SUPPORTED_SUFFIXES:
        yield Skipped(source, f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no extension)")
    elif info.st_size == 0:
        yield Skipped(source, "empty file")
    else:
        # A document names the file it came from absolutely: a server started elsewhere (or a
        # page view) must find it whatever folder the build ran in.
        located = os.path.abspath(source)
        for item in _read(path, source, doc_id, suffix):
            yield dataclasses.replace(item, source=located) if isinstance(item, Document) else item


def _read(path: Path, source: str, doc_id: str, suffix: str) -> Iterator[Document | Skipped]:
    try:
        if suffix in _CORPUS_SUFFIXES:
            from index.formats.corpora import BadRecord, open_corpus

            for record in open_corpus(path, source):
                yield Skipped(record.location, record.reason) if isinstance(record, BadRecord) else record
        elif suffix == ".pdf":
            from index.formats.pdf import read_pdf

            # A PDF kept without some pages (scanned, and OCR missing or over its page cap) names
            # them like a skipped file, so a build summary, --strict and the browser show them.
            read = read_pdf(path, doc_id=doc_id, source=source)
            yield read.document
            for skip in read.skipped:
                yield Skipped(f"{source}:{skip.where}", f"not indexed: {skip.reason}")
        else:
            yield _reader(suffix)(path, doc_id=doc_id, source=source)
    except QAError as error:
        yield Skipped(source, str(error))
    except OSError as error:  # deleted, unreadable or on a failing disk since the walk
        yield Skipped(source, f"cannot read file: {error.strerror or short(error)}")
    except ImportError as error:
        yield Skipped(source, f"cannot read '{suffix}' files: {short(error)}")
    except Exception as error:  # a library bug on one odd file must not end the whole ingestion
        yield Skipped(source, f"failed to read: {type(error).__name__}: {short(error)}")


def _reader(suffix: str) -> Callable[..., Document]:
    module, function = _READERS[suffix]
    reader: Callable[..., Document] = getattr(importlib.import_module(module), function)
    return reader
