"""The embedding cache of an update: what the previous generation embedded, found by text.

Its vectors, sentence vectors and token signs are read through that generation's memory maps,
row by row as they are reused, never copied whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from index.store import StoredIndex, index_text


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class ChunkVectors:
    """What embedding a chunk's index text yields: its vector, and per sentence a vector and token signs."""

    vector: np.ndarray
    sentences: np.ndarray
    token_bits: np.ndarray
    token_counts: np.ndarray


class EmbeddingCache:
    """Vectors already computed, keyed by (embedder fingerprint, sha256 of the chunk's index text).

    Its store is the previous generation inside the index directory: its vectors and the texts
    they were made from. The fingerprint part of the key is checked against the embedder that
    asks, so vectors of one model are never served to another.
    """

    def __init__(
        self,
        fingerprint: str,
        rows: dict[bytes, tuple[int, range]],
        vectors: np.ndarray,
        stored: StoredIndex | None,
    ) -> None:
        self.fingerprint = fingerprint
        self._rows = rows
        self._vectors = vectors
        self._stored = stored  # its sentence vectors and tokens

    @classmethod
    def empty(cls, fingerprint: str) -> EmbeddingCache:
        return cls(fingerprint, {}, np.zeros((0, 0), dtype=np.float32), None)

    @classmethod
    def of(cls, stored: StoredIndex) -> EmbeddingCache:
        fingerprint = stored.manifest.embedder["fingerprint"]
        if stored.sentence_vectors is None or stored.sentence_tokens is None:
            return cls.empty(fingerprint)  # a generation from before sentence vectors or tokens: embed afresh once
        _, vectors = stored.dense.items()  # mapped, in chunk row order
        starts = stored.chunk_sentences
        assert starts is not None  # present whenever the sentence vectors are
        rows: dict[bytes, tuple[int, range]] = {}
        mode = stored.manifest.index_text
        for row, entry in enumerate(stored.chunks):
            doc = stored.documents[int(entry["doc"])]
            text = index_text(doc, doc.text[int(entry["start"]) : int(entry["end"])], mode)
            rows.setdefault(text_key(text), (row, range(int(starts[row]), int(starts[row + 1]))))
        return cls(fingerprint, rows, vectors, stored)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, fingerprint: str, text: str) -> ChunkVectors | None:
        """What embedding ``text`` made before, when this cache has it."""
        if fingerprint != self.fingerprint or self._stored is None:
            return None
        found = self._rows.get(text_key(text))
        if found is None:
            return None
        row, sentences = found
        stored = self._stored
        assert stored.sentence_vectors is not None and stored.sentence_tokens is not None  # checked in of()
        bits, counts = stored.sentence_tokens.of(list(sentences))
        vectors = np.asarray(stored.sentence_vectors[sentences.start : sentences.stop])
        return ChunkVectors(np.asarray(self._vectors[row]), vectors, bits, counts)
