"""BM25 over chunk texts. The only module that imports bm25s and PyStemmer (``stem`` lends its stemmer to the answerer).

English stopwords and the Snowball stemmer, as in the BEIR baselines. Rows are aligned
with a caller-given array of chunk ids; bm25s has no incremental add, so an update
rebuilds it from the chunk texts (tokenising is cheap next to embedding).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from qa.core.errors import IndexMismatch

logging.getLogger("bm25s").setLevel(logging.WARNING)
_STEMMER = Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """The Snowball stem of a lower-cased word: BM25's term normaliser, shared with the answerer."""
    return _STEMMER.stemWord(word)


def terms(texts: list[str]) -> list[list[str]]:
    """Each text's BM25 terms as this index counts them (stopwords dropped, stemmed, in order):
    what a store that scores BM25 itself (index/postgres) keeps per chunk and asks with."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False, return_ids=False)


BM25_K1, BM25_B = 1.5, 0.75  # bm25s's defaults for its "lucene" scoring, which SparseIndex uses


def _tokenize(texts: list[str]):
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False)


class SparseIndex:
    def __init__(self, retriever: bm25s.BM25 | None, ids: np.ndarray) -> None:
        self._retriever = retriever
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: np.ndarray, texts: list[str]) -> SparseIndex:
        if len(ids) != len(texts):
            raise IndexMismatch(f"{len(ids)} ids for {len(texts)} texts")
        if not texts:
            return cls(None, ids)
        retriever = bm25s.BM25()
        retriever.index(_tokenize(texts), show_progress=False)
        return cls(retriever, ids)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for ``query`` (zeros when no query term is known)."""
        if self._retriever is None:
            return np.zeros(0, dtype=np.float32)
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=_STEMMER, show_progress=False, return_ids=False)
        vocab = self._retriever.vocab_dict
        known = [t for t in tokens[0] if t in vocab]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self._retriever.get_scores(known)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids)
        (folder / "empty").unlink(missing_ok=True)
        if self._retriever is None:
            (folder / "empty").write_text("no rows\n")
            return
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> SparseIndex:
        """Mapped, not read: the score matrix's pages are read as query terms touch them."""
        if (folder / "empty").exists():
            return cls(None, np.load(folder / "ids.npy"))
        ids = np.load(folder / "ids.npy", mmap_mode="r")
        retriever = bm25s.BM25.load(str(folder), show_progress=False, mmap=True)
        params = json.loads((folder / "params.index.json").read_text())
        if params.get("num_docs", len(ids)) != len(ids):
            raise IndexMismatch(f"{folder}: BM25 has {params.get('num_docs')} rows for {len(ids)} ids")
        return cls(retriever, ids)
