"""Documents uploaded from the browser: checked, stored under a safe name, and indexed in place.

Uploaded files are kept in ``<folder>/uploads/`` and indexed with ids ``uploads/<name>``, so an
upload never replaces a document of the original corpus, and uploading a file of the same name
again updates that document. The index is updated while the server runs; the Engine picks up
the new generation on the next question. Nothing here imports gradio.

An upload to a collection other than ``default`` is kept in ``<folder>/uploads/<collection>/``
(id ``uploads/<collection>/<name>``) and indexed into that collection (``upload_collection``).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.loaders import DOCUMENT_SUFFIXES, Skipped
from index.update import update_index
from qa.core.errors import QAError, UploadRejected
from qa.core.types import DEFAULT_COLLECTION, Document, check_collection
from qa.engine import Engine

UPLOAD_SUFFIXES = DOCUMENT_SUFFIXES  # every format the indexer reads, except the benchmark corpora
UPLOAD_PREFIX = "uploads/"
DEFAULT_MAX_MB = 25
_MAX_NAME = 120
_MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)

Progress = Callable[[int, int, str], None]  # (done, total, what) for a progress bar


def safe_name(name: str) -> str:
    """A file name that stays inside the uploads folder: no folders, no leading dots, plain characters.

    Browsers send only a base name, but a request can carry anything (``../../x``, ``C:\\x``).
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base) > _MAX_NAME:
        stem, dot, suffix = base.rpartition(".")
        base = (stem[: _MAX_NAME - len(suffix) - 1] + dot + suffix) if dot else base[:_MAX_NAME]
    while len(base.encode("utf-8")) > _MAX_NAME_BYTES:  # file systems count bytes (255), not characters
        stem, dot, suffix = base.rpartition(".")
        base = (stem[:-1] + dot + suffix) if dot and stem else base[:-1]
    if not base or base in {".", ".."} or base.startswith("."):
        raise UploadRejected(name or "(no name)", "not a usable file name")
    return base


def check_upload(path: Path, name: str, max_bytes: int) -> str:
    """The safe name to store ``path`` (uploaded as ``name``) under; UploadRejected with the reason otherwise."""
    stored = safe_name(name)
    suffix = Path(stored).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "files without an extension"
        raise UploadRejected(name, f"unsupported file type {kind}; upload {', '.join(UPLOAD_SUFFIXES)}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UploadRejected(name, f"cannot read the upload: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise UploadRejected(name, f"{size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB upload limit")
    if size == 0:
        raise UploadRejected(name, "empty file")
    return stored


def upload_prefix(collection: str) -> str:
    """The id prefix of the uploads to ``collection``."""
    return UPLOAD_PREFIX if collection == DEFAULT_COLLECTION else f"{UPLOAD_PREFIX}{collection}/"


def upload_collection(doc_id: str) -> str | None:
    """The collection of an uploaded document by its id; None for a document that is no upload
    (an update then leaves its collection as it is)."""
    if not doc_id.startswith(UPLOAD_PREFIX):
        return None
    folder, slash, _ = doc_id.removeprefix(UPLOAD_PREFIX).rpartition("/")
    return folder if slash else DEFAULT_COLLECTION


@dataclass
class IngestResult:
    accepted: list[str] = field(default_factory=list)  # safe names now indexed
    rejected: list[UploadRejected] = field(default_factory=list)
    seconds: float = 0.0
    collection: str = DEFAULT_COLLECTION

    @property
    def doc_ids(self) -> list[str]:
        """The index ids of the accepted files."""
        return [upload_prefix(self.collection) + name for name in self.accepted]


class Uploads:
    """The uploads folder of one served index; one update runs at a time."""

    def __init__(self, engine: Engine, folder: Path, max_bytes: int = DEFAULT_MAX_MB * 2**20) -> None:
        self.engine = engine
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    @property
    def files_dir(self) -> Path:
        return self.folder / UPLOAD_PREFIX.rstrip("/")

    def ingest(
        self, files: Iterable[tuple[Path, str]], progress: Progress | None = None, collection: str = DEFAULT_COLLECTION
    ) -> IngestResult:
        """Check, store and index ``(path, original name)`` pairs into ``collection``; a rejected
        file never stops the others."""
        began = time.perf_counter()
        result = IngestResult(collection=check_collection(collection))
        checked: list[tuple[Path, str]] = []
        for path, name in files:
            try:
                checked.append((Path(path), check_upload(Path(path), name, self.max_bytes)))
            except UploadRejected as rejected:
                result.rejected.append(rejected)
        if not checked:
            result.seconds = time.perf_counter() - began
            return result
        with self._lock:
            written = [self._store(path, stored, collection) for path, stored in checked]
            try:
                skipped = self._index(progress)
            except BaseException:
                for target in written:  # a half-done upload must not be indexed by the next one unasked
                    target.unlink(missing_ok=True)
                raise
            bad = {os.path.realpath(s.path): s.reason for s in skipped}
            for target in written:
                if os.path.realpath(target) in bad:
                    target.unlink(missing_ok=True)  # unreadable: keep it out of later updates too
                    result.rejected.append(UploadRejected(target.name, bad[os.path.realpath(target)]))
                else:
                    result.accepted.append(target.name)
        result.seconds = time.perf_counter() - began
        return result

    def remove(self, doc_id: str) -> None:
        """Delete an uploaded document: its file leaves the uploads folder and the index is updated
        without it. UploadRejected for any document not uploaded here (the corpus is not ours to delete)."""
        name = doc_id.removeprefix(UPLOAD_PREFIX)
        folder, _, base = name.rpartition("/")
        target = self.files_dir / name
        in_collection = not folder or (folder != DEFAULT_COLLECTION and _is_collection(folder))
        uploaded = doc_id.startswith(UPLOAD_PREFIX) and in_collection and "\\" not in name
        if not uploaded or base.startswith(".") or not target.is_file():
            raise UploadRejected(doc_id, "not a document uploaded to this server; only uploads can be deleted")
        with self._lock:
            target.unlink()
            update_index(
                [self.folder],
                self.engine.location,
                self.engine.embedder,
                remove={doc_id},
                collection=upload_collection,
            )

    def _store(self, path: Path, stored: str, collection: str = DEFAULT_COLLECTION) -> Path:
        folder = self.files_dir if collection == DEFAULT_COLLECTION else self.files_dir / collection
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / stored
        if target.resolve().parent != folder.resolve():  # belt and braces over safe_name
            raise UploadRejected(stored, "not a usable file name")
        partial = folder / f".{uuid.uuid4().hex}.part"
        shutil.copyfile(path, partial)
        os.replace(partial, target)
        return target

    def _index(self, progress: Progress | None) -> list[Skipped]:
        """Bring the index up to date with the uploads folder; the loader's Skipped items come back.

        ``update_index`` embeds only what is new or changed and keeps every other document (no
        pruning), so the original corpus stays searchable beside the uploads.
        """
        engine = self.engine
        total = sum(1 for _ in self.files_dir.rglob("*") if _.is_file() and not _.name.startswith("."))
        skipped: list[Skipped] = []
        done = 0

        def on_document(item: Document | Skipped, *_: object) -> None:
            nonlocal done
            done += 1
            if isinstance(item, Skipped):
                skipped.append(item)
            if progress is not None:
                what = item.path if isinstance(item, Skipped) else item.doc_id
                progress(min(done, total), total, str(what))

        # No chunker given: the index keeps its own settings.
        update_index(
            [self.folder], engine.location, engine.embedder, on_document=on_document, collection=upload_collection
        )
        return skipped


def _is_collection(name: str) -> bool:
    try:
        check_collection(name)
    except QAError:
        return False
    return True
