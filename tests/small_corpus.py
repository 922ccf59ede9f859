"""An extractive answerer over a few documents written in a test, indexed with the fake embedder."""

from __future__ import annotations

from pathlib import Path

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.store import IndexDir
from qa.answer.extractive import AnswerSettings, ExtractiveAnswerer
from qa.core.types import Document
from qa.search.retrieval import Retriever

SMALL_CHUNKS = ChunkerSettings(max_tokens=24, overlap_tokens=8)  # several chunks even for a short text


def answerer_over(
    docs: list[Document],
    root: Path,
    embedder: HashingEmbedder,
    chunker: ChunkerSettings = SMALL_CHUNKS,
    settings: AnswerSettings = AnswerSettings(),
) -> ExtractiveAnswerer:
    build_index(iter(docs), root, embedder, chunker)
    index = IndexDir(root).load(embedder)
    return ExtractiveAnswerer(Retriever(index, embedder), embedder, settings)
