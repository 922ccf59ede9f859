"""What the benchmarks share: where their data is, the indexes they build once and reuse, and
the tune/check split of the SQuAD articles.

- Data: the shared folder beside the repository (``../shared``, holding ``data/`` and
  ``seeds/``; see its ``data/README.md``), moved by ``--shared DIR`` or ``$QA_SHARED``
  (``shared_folder``). A missing folder stops a benchmark with one message; the test suite never
  reads it (tests/data holds the small cuts the tests use).
- Indexes: ``load_or_build`` loads the index in a folder, building it there first when the
  folder holds none; ``index_folder`` is ``--index DIR`` when given, else a temporary folder.
- Split: settings are chosen on the first six SQuAD v1.1 dev articles in file order ("tune")
  and checked on the other six ("check"): ``article_halves``, ``select_articles``.

These scripts are research tools, left out of the wheel: nothing outside eval/bench and
eval/train imports them.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import resource
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from eval.chat_gold import SEED
from eval.questions import GoldQuestion
from index.build import build_index
from index.embedding import DEFAULT_BACKEND, MINILM_NAME, Embedder, embedder_by_name
from index.formats.corpora import iter_squad_documents
from index.loaders import Skipped, iter_sources
from index.store import IndexDir, StoredIndex
from qa.core.types import Document

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
SHARED_ENV = "QA_SHARED"
DEFAULT_SHARED = REPO.parent / "shared"
CACHE = REPO.parent / "cache"  # benchmark caches kept between runs (outside the repository)

# Paths inside the shared folder.
SQUAD1 = "data/squad/dev-v1.1.json"
SQUAD2 = "data/squad/dev-v2.0.json"
SCIFACT = "data/scifact"

HALVES = ("tune", "check")
TUNE_ARTICLES = 6  # the first six articles in file order are "tune", the other six "check"
ARTICLES = (*HALVES, "all")


# --- the shared data ------------------------------------------------------------------------


def add_shared_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shared",
        type=Path,
        default=None,
        help=f"the shared data folder (default ${SHARED_ENV}, else {DEFAULT_SHARED})",
    )


def shared_folder(given: Path | None = None) -> Path:
    """The shared data folder: ``given`` (``--shared``), else ``$QA_SHARED``, else ``../shared``.

    Exits with one message when it holds no ``data/`` folder.
    """
    folder = given or (Path(os.environ[SHARED_ENV]) if os.environ.get(SHARED_ENV) else DEFAULT_SHARED)
    folder = folder.expanduser()
    if not (folder / "data").is_dir():
        raise SystemExit(
            f"shared data not found at {folder}: the benchmarks read ../shared/data (see its README);"
            f" the test suite does not need it (--shared DIR or ${SHARED_ENV} points elsewhere)"
        )
    return folder


# --- indexes --------------------------------------------------------------------------------


def minilm(backend: str = DEFAULT_BACKEND) -> Embedder:
    """The real embedder on ``backend`` (the product's default unless given), warmed up so that no
    measured call pays for loading it."""
    embedder = embedder_by_name(MINILM_NAME, backend)
    embedder.warm_up()
    return embedder


@contextmanager
def index_folder(given: Path | None) -> Iterator[Path]:
    """``given`` (``--index DIR``, kept and reused by the next run), else a temporary folder."""
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        yield Path(tmp)


def load_or_build(root: Path, embedder: Embedder, documents: Callable[[], Iterable[Document | Skipped]]) -> StoredIndex:
    """The index in ``root``, built there from ``documents()`` first when ``root`` holds none."""
    if not IndexDir(root).exists():
        report = build_index(documents(), root, embedder)
        print(
            f"built {root}: {report.documents} documents, {report.chunks} chunks in {report.seconds:.1f}s", flush=True
        )
    return IndexDir(root).load(embedder)


def squad_documents(squad: Path, keep: Callable[[str], bool] = lambda _: True) -> Callable[[], Iterator[Document]]:
    """The paragraphs of a SQuAD file whose article title ``keep`` accepts (for ``load_or_build``)."""
    return lambda: (d for d in iter_squad_documents(squad) if keep(article_of(d.doc_id)))


def chat_index(root: Path, embedder: Embedder, shared: Path) -> StoredIndex:
    """The index the chat gold is asked against: the SQuAD v1.1 dev paragraphs and the seed article."""
    index = load_or_build(
        root, embedder, lambda: itertools.chain(iter_squad_documents(shared / SQUAD1), iter_sources([shared / SEED]))
    )
    index.document(Path(SEED).name)  # KeyError: an index without the seed article cannot score its turns
    return index


# --- the tune/check split -------------------------------------------------------------------


def article_of(doc_id: str) -> str:
    """The SQuAD article title of a paragraph id ``{title}#{i}``."""
    return doc_id.rsplit("#", 1)[0]


def split_titles(titles: Iterable[str]) -> dict[str, str]:
    """Each SQuAD article title's half, in file order: the first six "tune", the others "check"."""
    return {t: HALVES[i >= TUNE_ARTICLES] for i, t in enumerate(dict.fromkeys(titles))}


def article_halves(questions: Sequence[GoldQuestion]) -> dict[str, str]:
    """The half of each article the questions of a SQuAD file are about (``split_titles``)."""
    return split_titles(article_of(q.doc_ids[0]) for q in questions)


def half_of(question: GoldQuestion, halves: dict[str, str]) -> str:
    return halves[article_of(question.doc_ids[0])]


def select_articles(questions: list[GoldQuestion], articles: str, limit: int | None = None) -> list[GoldQuestion]:
    """The questions about the "tune" or "check" articles (or "all"), at most the first ``limit``."""
    if articles not in ARTICLES:
        raise ValueError(f"articles must be one of {ARTICLES}, got {articles!r}")
    halves = article_halves(questions)
    chosen = [q for q in questions if articles == "all" or half_of(q, halves) == articles]
    return chosen[:limit] if limit else chosen


# --- caches ---------------------------------------------------------------------------------


def cached_rows(path: Path, key: dict, compute: Callable[[], list[T]], decode: Callable[[dict], T]) -> list[T]:
    """Rows (dataclasses) kept as JSON in ``path`` under ``key``: read back with ``decode`` while
    the key is the same, else computed again and written whole (a temporary file renamed)."""
    if path.exists():
        data = json.loads(path.read_text())
        if data["key"] == key:
            return [decode(r) for r in data["rows"]]
    rows = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "rows": [dataclasses.asdict(r) for r in rows]}))
    tmp.replace(path)
    return rows


# --- process figures ------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
