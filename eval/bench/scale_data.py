"""The synthetic corpus of the scale benchmark (eval/bench/scale.py): vectors, texts and a fake embedder.

- **A real slice.** The committed SciFact cut (tests/data/scifact: 400 abstracts, ~890 chunks, 150
  claims) embedded once with all-MiniLM-L6-v2 and cached outside the repository; its chunks go into
  the index with their real texts and vectors, and its claims are real queries.
- **Synthetic chunks** drawn from a mixture of Gaussians shaped like the real slice: topic centres
  from a Gaussian with the real vectors' mean and covariance, ten chunks a topic on average
  (Zipf-like topic sizes), each chunk its topic's centre plus half the covariance's spread,
  normalised. At the real slice's size this gives about its mean pairwise cosine (0.08–0.11 vs
  0.12) and its nearest-neighbour cosine (0.85–0.86 vs 0.86), with denser topics (the tenth
  neighbour at 0.73–0.78 vs 0.43). Plain random unit vectors have no neighbours worth finding,
  so they would say nothing about recall.
- **Synthetic queries** are held-out draws from the same mixture with a wider spread (closer to
  how far a claim is from its abstract); their texts are words of their topic.
- **Texts** for BM25: each topic prefers 40 words of a 30,000-word made-up vocabulary; a chunk is
  two sentences of 16 words, three quarters from its topic, the rest from the whole vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from eval.bench.common import CACHE, REPO
from index.build import chunk_spans
from index.chunking import ChunkerSettings
from index.embedding import MINILM_NAME, QueryVectors, SpanVectors, embedder_by_name
from index.formats.corpora import iter_beir_documents
from index.store import index_text
from qa.core.types import Document

SCIFACT_CUT = REPO / "tests" / "data" / "scifact"
CHUNK_SPREAD, QUERY_SPREAD, CHUNKS_PER_TOPIC = 0.5, 0.8, 10
VOCABULARY, TOPIC_WORDS, WORDS_PER_SENTENCE = 30_000, 40, 16
DIM = 384


@dataclass(frozen=True)
class RealSlice:
    texts: list[str]  # the chunks' index texts, as embedded
    vectors: np.ndarray
    claims: list[str]
    claim_vectors: np.ndarray


def real_slice() -> RealSlice:
    """The SciFact cut's chunks and claims with their MiniLM vectors (embedded once, then cached)."""
    cache = CACHE / "scale" / "scifact-cut-minilm.npz"
    if not cache.is_file():
        embedder = embedder_by_name(MINILM_NAME)
        texts = [
            index_text(d, d.text[a:b], "title+chunk")
            for d in iter_beir_documents(SCIFACT_CUT / "corpus.jsonl")
            for a, b, _ in chunk_spans(d, ChunkerSettings())
        ]
        lines = (SCIFACT_CUT / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        claims = [json.loads(line)["text"] for line in lines if line.strip()]
        cache.parent.mkdir(parents=True, exist_ok=True)
        texts_json, claims_json = json.dumps(texts), json.dumps(claims)
        np.savez(
            cache,
            vectors=embedder.embed(texts),
            claim_vectors=embedder.embed(claims),
            texts=texts_json,
            claims=claims_json,
        )
    data = np.load(cache)
    return RealSlice(
        json.loads(str(data["texts"])), data["vectors"], json.loads(str(data["claims"])), data["claim_vectors"]
    )


class Synthetic:
    """A mixture of Gaussians shaped like ``real`` (see the module docstring), seeded."""

    def __init__(self, real: RealSlice, chunks: int, seed: int = 0) -> None:
        vectors = real.vectors.astype(np.float64)
        self.mean = vectors.mean(axis=0)
        covariance = np.cov((vectors - self.mean).T) + 1e-4 * np.eye(DIM)  # ~890 rows: a ridge keeps it definite
        self.shape = np.linalg.cholesky(covariance).astype(np.float32)
        self.rng = np.random.default_rng(seed)
        topics = max(1, chunks // CHUNKS_PER_TOPIC)
        self.centres = (self.mean + self._noise(topics)).astype(np.float32)
        weights = 1.0 / np.sqrt(np.arange(1, topics + 1))
        self.popularity = weights / weights.sum()
        self.vocabulary = _made_up_words(VOCABULARY, self.rng)
        self.topic_words = self.rng.integers(VOCABULARY, size=(topics, TOPIC_WORDS))

    def _noise(self, n: int) -> np.ndarray:
        return self.rng.standard_normal((n, DIM), dtype=np.float32) @ self.shape.T

    def draw(self, n: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
        """``n`` unit vectors and their topics."""
        topics = self.rng.choice(len(self.centres), size=n, p=self.popularity)
        vectors = self.centres[topics] + spread * self._noise(n)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), topics

    def text(self, topic: int, sentences: int, words: int = WORDS_PER_SENTENCE) -> str:
        own = self.rng.random(sentences * words) < 0.75
        picks = np.where(
            own,
            self.topic_words[topic][self.rng.integers(TOPIC_WORDS, size=own.size)],
            self.rng.integers(VOCABULARY, size=own.size),
        )
        sentence_words = [[self.vocabulary[i] for i in picks[s * words : (s + 1) * words]] for s in range(sentences)]
        return " ".join(" ".join(ws).capitalize() + "." for ws in sentence_words)


def _made_up_words(n: int, rng: np.random.Generator) -> list[str]:
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(syllables[i] for i in rng.integers(len(syllables), size=rng.integers(2, 5))))
    return sorted(words)


def documents(synthetic: Synthetic, vectors_topics: np.ndarray, real: RealSlice) -> Iterator[Document]:
    """One document a chunk: the synthetic ones, then the real slice's chunks (their texts as embedded)."""
    for row, topic in enumerate(vectors_topics):
        yield Document(f"synthetic/{row}", "", "synthetic", synthetic.text(int(topic), 2))
    for row, text in enumerate(real.texts):
        yield Document(f"scifact/{row}", "", "scifact", text)


class ScaleEmbedder:
    """Hands out precomputed vectors in the order a fresh build asks for them (one chunk a document);
    sentence vectors are the chunk's own, token signs one random row a word (what the rerank reads)."""

    name = "scale-bench"
    dim = DIM
    fingerprint = "scale-bench:precomputed"
    backend = "precomputed"
    quantization = "none"

    def __init__(self, vectors: np.ndarray, seed: int = 1) -> None:
        self._vectors = vectors
        self.used = 0
        self._rng = np.random.default_rng(seed)

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        raise NotImplementedError("the scale benchmark's queries carry their vectors")

    def embed_spans(self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]) -> SpanVectors:
        vectors = self._vectors[self.used : self.used + len(texts)]
        self.used += len(texts)
        per_text = [len(s) for s in spans]
        counts = np.array([len(text[a:b].split()) for text, s in zip(texts, spans) for a, b in s], dtype=np.int32)
        bits = self._rng.integers(0, 256, size=(int(counts.sum()), (DIM + 7) // 8), dtype=np.uint8)
        return SpanVectors(vectors, np.repeat(vectors, per_text, axis=0).astype(np.float16), bits, counts)

    def embed_query(self, text: str) -> QueryVectors:
        raise NotImplementedError("the scale benchmark's queries carry their vectors")


def query_tokens(vector: np.ndarray, words: int, rng: np.random.Generator) -> QueryVectors:
    """A query's vector with ``words`` random unit token vectors (what the rerank reads)."""
    tokens = rng.standard_normal((words, DIM)).astype(np.float32)
    return QueryVectors(vector, tokens / np.linalg.norm(tokens, axis=1, keepdims=True))
