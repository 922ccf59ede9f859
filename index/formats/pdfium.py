"""The one module that imports PDFium (pypdfium2), and the lock every use of it holds.

PDFium is not thread-safe, and the browser chat renders pages on a thread pool while an upload
is being indexed: so every call into it, reading text or rendering a page, holds ``LOCK``. The
lock is held a page at a time, never across OCR, so a page view waits for one page at most.
"""

from __future__ import annotations

import threading

import pypdfium2
import pypdfium2.raw as raw

LOCK = threading.RLock()

PdfDocument = pypdfium2.PdfDocument
PdfPage = pypdfium2.PdfPage
PdfTextPage = pypdfium2.PdfTextPage
PdfiumError = pypdfium2.PdfiumError

__all__ = ["LOCK", "PdfDocument", "PdfPage", "PdfTextPage", "PdfiumError", "raw"]
