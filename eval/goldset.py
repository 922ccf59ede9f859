"""A gold set: its questions, what format they came from, and the corpus they are about (if it ships one).

``load_gold`` recognises the format from the path: a folder is BEIR, ``.json`` is SQuAD (v1.1 or
v2.0), ``.jsonl`` is the project's own format (docs/eval.md). SQuAD and BEIR carry their corpus,
so an evaluation can index it; a JSONL gold set is asked against an existing index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.questions import GoldQuestion, load_beir_queries, load_jsonl_questions, load_squad_questions
from index.formats.corpora import iter_beir_documents, iter_squad_documents
from qa.core.errors import GoldFormatError
from qa.core.types import Document

KINDS = ("squad", "beir", "jsonl")


@dataclass(frozen=True, slots=True)
class GoldSet:
    name: str
    path: Path
    kind: str  # one of KINDS
    questions: tuple[GoldQuestion, ...]
    corpus: Path | None  # the SQuAD file itself or BEIR corpus.jsonl; None when no corpus ships
    articles: tuple[str, ...] = ()  # SQuAD article titles kept by select_articles; () keeps all

    def documents(self) -> Iterator[Document]:
        """The documents the questions are about, for building an index to ask them against."""
        if self.corpus is None:
            raise GoldFormatError(f"{self.path}: this gold set has no corpus; give --index DIR")
        if self.kind == "beir":
            yield from iter_beir_documents(self.corpus)
            return
        for doc in iter_squad_documents(self.corpus):
            if not self.articles or _article(doc.doc_id) in self.articles:
                yield doc

    def select_articles(self, titles: Sequence[str], per_article: int | None = None) -> GoldSet:
        """Only the questions and paragraphs of these SQuAD articles (a small, quick gold set),
        and with ``per_article`` only the first that many questions of each."""
        if self.kind != "squad":
            raise GoldFormatError(f"{self.path}: selecting articles needs a SQuAD file, not {self.kind}")
        known = list(dict.fromkeys(_article(q.doc_ids[0]) for q in self.questions))
        missing = [t for t in titles if t not in known]
        if missing:
            raise GoldFormatError(f"{self.path}: no article titled {missing} (articles: {known})")
        if per_article is not None and per_article < 1:
            raise GoldFormatError(f"questions per article must be at least 1, got {per_article}")
        chosen = tuple(titles)
        taken: dict[str, int] = dict.fromkeys(chosen, 0)
        questions = []
        for q in self.questions:
            title = _article(q.doc_ids[0])
            if title in taken and (per_article is None or taken[title] < per_article):
                taken[title] += 1
                questions.append(q)
        return dataclasses.replace(self, questions=tuple(questions), articles=chosen)

    def first(self, n: int) -> GoldSet:
        """The first ``n`` questions (the corpus is unchanged, so retrieval stays as hard)."""
        if n < 1:
            raise GoldFormatError(f"limit must be at least 1, got {n}")
        return dataclasses.replace(self, questions=self.questions[:n])

    @property
    def has_unanswerable(self) -> bool:
        return any(not q.answerable for q in self.questions)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "kind": self.kind,
            "questions": len(self.questions),
            "unanswerable": sum(not q.answerable for q in self.questions),
            "articles": list(self.articles),
        }


def _article(doc_id: str) -> str:
    return doc_id.rsplit("#", 1)[0]


def load_gold(path: str | Path, split: str = "train") -> GoldSet:
    """The gold set at ``path``: a BEIR folder (judgements of ``split``), a SQuAD .json or a JSONL file."""
    path = Path(path)
    if path.is_dir():
        corpus = path / "corpus.jsonl"
        questions = load_beir_queries(path, split)
        return GoldSet(path.name, path, "beir", tuple(questions), corpus if corpus.is_file() else None)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return GoldSet(path.stem, path, "squad", tuple(load_squad_questions(path)), path)
    if suffix == ".jsonl":
        return GoldSet(path.stem, path, "jsonl", tuple(load_jsonl_questions(path)), None)
    if not path.exists():
        raise GoldFormatError(f"{path}: file not found")
    raise GoldFormatError(f"{path}: not a gold set (expected a BEIR folder, a SQuAD .json or a .jsonl file)")
