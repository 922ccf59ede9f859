"""PDF reading throughput: the old pypdf reader against the layout-aware PDFium reader.

    python -m eval.bench.pdf [FOLDER] [--repeat 3]

FOLDER's PDFs (default: eval/corpora/realdocs, else 40 generated pages) are read in one process
by both readers, file by file and one reader after the other, ``--repeat`` times; the best time
of each reader on each file counts (the machine is shared, the minimum is the least disturbed
run). Prints pages/s (wall and CPU) for each and their ratio, and what the new reader made of
the pages: characters kept, pages marked as contents/index, box runs. Pages read by OCR are not
part of this figure (``--ocr`` times them on their own).

The baseline is the extraction loop of ``index/formats/pdf.py`` before issue 15 (pypdf
``extract_text`` per page, pages joined by a blank line), copied here as it was.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from index.formats.pdf import read_pdf

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FOLDER = REPO / "eval" / "corpora" / "realdocs"


def old_reader(path: Path) -> tuple[int, int]:
    """Pages and characters by the reader this project had before (pypdf)."""
    from pypdf import PasswordType, PdfReader

    logger = logging.getLogger("pypdf")
    logger.setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = PdfReader(io.BytesIO(path.read_bytes()))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ValueError("encrypted PDF")
        texts = []
        for page in reader.pages:
            try:
                texts.append(page.extract_text() or "")
            except Exception:
                texts.append("")
    return len(texts), len("\n\n".join(texts))


def new_reader(path: Path) -> tuple[int, int]:
    document = read_pdf(path, doc_id=path.name, source=str(path)).document
    new_reader.last = document  # type: ignore[attr-defined]  # for the summary of what was kept
    return len(document.pages), len(document.text)


def timed(read: Callable[[Path], tuple[int, int]], path: Path) -> tuple[float, float, int, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    pages, chars = read(path)
    return time.perf_counter() - wall, time.process_time() - cpu, pages, chars


def generated(folder: Path, files: int = 4, pages: int = 10) -> list[Path]:
    """Manual-like PDFs: a running header, a page number, justified paragraphs."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    style = getSampleStyleSheet()["BodyText"]
    style.alignment = 4  # justified
    sentence = "The archive keeps every record on two storage tiers and checks its checksum every night. "
    paths = []
    for n in range(files):
        path = folder / f"generated-{n}.pdf"

        def header(canvas, doc) -> None:
            canvas.setFont("Helvetica", 9)
            canvas.drawString(72, 760, "Archive Operations Manual")
            canvas.drawCentredString(306, 40, str(doc.page))

        story = [Paragraph(sentence * 6, style) for _ in range(pages * 5)]
        SimpleDocTemplate(str(path), pagesize=letter).build(story, onFirstPage=header, onLaterPages=header)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=None, help="a folder of PDFs (searched recursively)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each reader on each file (best counts)")
    parser.add_argument("--ocr", action="store_true", help="also time OCR: the first PDF made image-only")
    args = parser.parse_args(argv)
    scratch = tempfile.TemporaryDirectory()
    folder = args.folder or (DEFAULT_FOLDER if DEFAULT_FOLDER.is_dir() else None)
    paths = sorted(folder.rglob("*.pdf")) if folder else generated(Path(scratch.name))
    if not paths:
        print(f"no PDF under {folder}", file=sys.stderr)
        return 1
    print(f"{len(paths)} PDFs from {folder or 'generated pages'}; best of {args.repeat} runs per file and reader\n")
    totals = {"old": [0.0, 0.0, 0, 0], "new": [0.0, 0.0, 0, 0]}
    widths = {"pages": 5, "old s": 7, "new s": 7, "old chars": 10, "new chars": 10, "nav": 4, "runs": 7}
    print(f"{'file':34}", *(f"{name:>{width}}" for name, width in widths.items()))
    for path in paths:
        best: dict[str, tuple[float, float, int, int]] = {}
        for _ in range(args.repeat):
            for name, read in (("old", old_reader), ("new", new_reader)):
                run = timed(read, path)
                if name not in best or run[0] < best[name][0]:
                    best[name] = run
        for name, run in best.items():
            for i, value in enumerate(run):
                totals[name][i] += value
        document = new_reader.last  # type: ignore[attr-defined]
        old, new = best["old"], best["new"]
        nav = sum(1 for span in document.pages if span.navigation)
        row = (new[2], f"{old[0]:.2f}", f"{new[0]:.2f}", f"{old[3]:,}", f"{new[3]:,}", nav, f"{len(document.boxes):,}")
        print(f"{path.name[:34]:34}", *(f"{value:>{width}}" for value, width in zip(row, widths.values())))
    (old_wall, old_cpu, pages, _), (new_wall, new_cpu, _, _) = totals["old"], totals["new"]
    print(f"\n{pages} pages, old reader (pypdf):          {pages / old_wall:5.1f} pages/s ({pages / old_cpu:.1f} CPU)")
    print(f"{pages} pages, new reader (PDFium + layout): {pages / new_wall:5.1f} pages/s ({pages / new_cpu:.1f} CPU)")
    print(f"new / old throughput: {old_wall / new_wall:.2f} (CPU {old_cpu / new_cpu:.2f})")
    if args.ocr:
        _time_ocr(paths[0], Path(scratch.name))
    scratch.cleanup()
    return 0


def _time_ocr(path: Path, folder: Path, pages: int = 3) -> None:
    """OCR pages/s: three pages from the middle of ``path`` made pictures and read back."""
    import pypdfium2
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    source = pypdfium2.PdfDocument(str(path))
    scanned = folder / "scanned.pdf"
    out = canvas.Canvas(str(scanned))
    first = max(0, len(source) // 2 - 1)
    for index in range(first, min(first + pages, len(source))):
        page = source[index]
        width, height = page.get_size()
        out.setPageSize((width, height))
        out.drawImage(ImageReader(page.render(scale=200 / 72).to_pil()), 0, 0, width, height)
        out.showPage()
    out.save()
    wall, _, count, chars = timed(new_reader, scanned)
    print(f"OCR (Tesseract, {count} scanned pages of {path.name}): {count / wall:.2f} pages/s, {chars:,} characters")


if __name__ == "__main__":
    raise SystemExit(main())
