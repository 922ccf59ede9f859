"""Ask a gold set's questions against an index, timing each answer and scoring it.

Questions that share a ``conversation_id`` are asked in one ``ChatSession``, in turn order, so
follow-ups are rewritten with their history exactly as in ``qa chat``; the others are asked one
by one with ``ExtractiveAnswerer.answer`` as ``qa ask`` does (``LLMAnswerer.answer`` with ``--llm``,
generation included in the latency). Latency is the time of that call
alone (retrieval and answer). Retrieval metrics come from a separate hybrid search for the query
the answer actually used, deep enough for R@10, so that they are measured whatever the answerer
does with its passages.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eval.goldset import GoldSet
from eval.metrics import dedupe
from eval.questions import GoldQuestion
from eval.scoring import DEPTH, QuestionResult, score_question
from index.build import BuildReport, build_index
from index.embedding import Embedder
from index.layout import read_documents
from qa.answer.chat import ChatSession
from qa.core.errors import GoldFormatError
from qa.core.paths import PROJECT_ROOT
from qa.core.types import DocumentTable
from qa.engine import Engine

if TYPE_CHECKING:
    from index.postgres.reader import PgStore

# Chunks searched to rank DEPTH documents: a document is often several chunks.
CHUNK_DEPTH = 5 * DEPTH

Progress = Callable[[int], None]


def evaluation_order(questions: Sequence[GoldQuestion]) -> list[list[GoldQuestion]]:
    """Groups to ask in order: each conversation (by turn) where it first appears, each other question alone."""
    groups: list[list[GoldQuestion]] = []
    conversations: dict[str, list[GoldQuestion]] = {}
    for q in questions:
        if q.conversation_id is None:
            groups.append([q])
        elif q.conversation_id in conversations:
            conversations[q.conversation_id].append(q)
        else:
            conversations[q.conversation_id] = [q]
            groups.append(conversations[q.conversation_id])
    for group in conversations.values():
        group.sort(key=lambda q: q.turn)  # stable: equal turns keep file order
    return groups


def ask_all(
    gold: GoldSet, engine: Engine, on_question: Progress | None = None, llm: bool = False
) -> list[QuestionResult]:
    """Every question of ``gold`` asked and scored, in evaluation order; with ``llm``, by ``engine.llm_answerer``."""
    answerer = engine.llm_answerer() if llm else engine.answerer()
    retriever = engine.retriever()
    # Read afresh from disk (or the store): citations are re-checked against what was stored, not
    # the answerer's copy.
    stored = read_documents(retriever.index.path) if engine.store is None else engine.store.documents()
    documents = DocumentTable(stored)
    groups = evaluation_order(gold.questions)
    if groups:
        answerer.answer(groups[0][0].question)  # first-call costs (model load, caches) are not latency
    results: list[QuestionResult] = []
    for group in groups:
        session = ChatSession(answerer) if group[0].conversation_id is not None else None
        for q in group:
            began = time.perf_counter()
            answer = session.ask(q.question) if session is not None else answerer.answer(q.question)
            latency_ms = (time.perf_counter() - began) * 1000
            hits = retriever.search(answer.rewritten_query, k=CHUNK_DEPTH, mode="hybrid")
            ranked = dedupe(h.doc_id for h in hits)[:DEPTH]
            results.append(score_question(q, answer, ranked, documents, latency_ms))
            if on_question is not None:
                on_question(len(results))
    return results


def build_gold_index(
    gold: GoldSet, root: Path | PgStore, embedder: Embedder, on_document: Callable[[object, int], None] | None = None
) -> BuildReport:
    """Index the corpus a gold set ships with (all of it, or the selected SQuAD articles) at ``root``."""
    if gold.corpus is None:  # checked before build_index creates anything under root
        raise GoldFormatError(f"{gold.path}: this gold set has no corpus; give --index DIR")
    return build_index(gold.documents(), root, embedder, on_document=on_document)


def git_state(root: Path = PROJECT_ROOT) -> dict:
    """The commit the code was run from and whether the tree had uncommitted changes (None outside git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}
