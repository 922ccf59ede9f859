"""Readers for gold questions: SQuAD JSON, BEIR folders and the project's JSONL, as one frozen record type.

Every source becomes ``GoldQuestion`` so the eval suite can score answers (SQuAD, JSONL) and
retrieval (all three) with one loop. Readers raise ``GoldFormatError`` naming the file (and
line), because a bad gold file must stop an evaluation rather than quietly shrink it.
The JSONL format is documented in docs/eval.md.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.core.errors import GoldFormatError


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    qid: str
    question: str
    answers: tuple[str, ...]  # gold answer strings (may repeat), () when unanswerable
    doc_ids: tuple[str, ...]  # relevant document ids
    answerable: bool = True
    relevance: tuple[tuple[str, int], ...] = ()  # graded (doc_id, score) pairs for BEIR; () otherwise
    conversation_id: str | None = None  # questions sharing one are asked in one chat session
    turn: int = 0  # order within the conversation


def squad_doc_id(title: str, paragraph_index: int) -> str:
    """Document id of a SQuAD paragraph: the article title and the 0-based paragraph index."""
    return f"{title}#{paragraph_index}"


def load_squad_questions(path: str | Path) -> list[GoldQuestion]:
    """Every question of an official SQuAD v1.1 or v2.0 JSON file, in file order."""
    path = Path(path)
    data = _read_json(path)
    questions: list[GoldQuestion] = []
    try:
        for article in data["data"]:
            title = article["title"]
            for p_index, paragraph in enumerate(article["paragraphs"]):
                doc_id = squad_doc_id(title, p_index)
                for qa in paragraph["qas"]:
                    # v1.1 has no is_impossible key: every question there is answerable.
                    impossible = bool(qa.get("is_impossible", False))
                    answers = () if impossible else tuple(str(a["text"]) for a in qa["answers"])
                    questions.append(
                        GoldQuestion(
                            qid=str(qa["id"]),
                            question=str(qa["question"]),
                            answers=answers,
                            doc_ids=(doc_id,),
                            answerable=not impossible,
                        )
                    )
    except (KeyError, TypeError) as exc:
        raise GoldFormatError(f"{path}: not a SQuAD file (missing or wrong field: {exc})") from exc
    return questions


def load_beir_queries(folder: str | Path, split: str = "train") -> list[GoldQuestion]:
    """Queries of a BEIR folder that have judgements in ``qrels/{split}.tsv``, in queries.jsonl order.

    ``doc_ids`` holds the corpus ids judged relevant (score > 0); ``relevance`` keeps every
    judged pair, so nDCG can use graded and zero judgements exactly as BEIR does.
    """
    folder = Path(folder)
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    queries_path = folder / "queries.jsonl"
    texts = _read_queries(queries_path)
    unknown = sorted(set(qrels) - set(texts))
    if unknown:
        raise GoldFormatError(f"{queries_path}: no query text for judged query ids {unknown[:5]}")
    return [
        GoldQuestion(
            qid=qid,
            question=text,
            answers=(),
            doc_ids=tuple(doc for doc, score in qrels[qid].items() if score > 0),
            answerable=any(score > 0 for score in qrels[qid].values()),
            relevance=tuple(qrels[qid].items()),
        )
        for qid, text in texts.items()
        if qid in qrels
    ]


_JSONL_KEYS = {"id", "question", "answers", "doc_ids", "answerable", "conversation_id", "turn"}


def load_jsonl_questions(path: str | Path) -> list[GoldQuestion]:
    """Questions of the project's gold JSONL (docs/eval.md), one object a line, in file order.

    ``answers`` and ``doc_ids`` default to ``[]``; ``answerable`` defaults to whether ``answers``
    is non-empty, and an unanswerable question must not carry answers (it would be scored both
    ways). Unknown keys are refused so that a typo ("answer") cannot silently drop gold data.
    """
    path = Path(path)
    questions: list[GoldQuestion] = []
    seen: set[str] = set()
    try:
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                question = _jsonl_question(line, f"{path}:{line_no}")
                if question.qid in seen:
                    raise GoldFormatError(f"{path}:{line_no}: duplicate id {question.qid!r}")
                seen.add(question.qid)
                questions.append(question)
    except FileNotFoundError as exc:
        raise GoldFormatError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldFormatError(f"{path}: cannot read ({exc})") from exc
    if not questions:
        raise GoldFormatError(f"{path}: no questions")
    return questions


def _jsonl_question(line: str, where: str) -> GoldQuestion:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise GoldFormatError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise GoldFormatError(f"{where}: expected a JSON object")
    unknown = sorted(set(record) - _JSONL_KEYS)
    if unknown:
        raise GoldFormatError(f"{where}: unknown keys {unknown} (allowed: {sorted(_JSONL_KEYS)})")
    qid, text = record.get("id"), record.get("question")
    if not isinstance(qid, str | int) or isinstance(qid, bool) or str(qid) == "":
        raise GoldFormatError(f"{where}: 'id' must be a non-empty string")
    if not isinstance(text, str) or not text.strip():
        raise GoldFormatError(f"{where}: 'question' must be a non-empty string")
    answers = _string_list(record.get("answers", []), "answers", where)
    doc_ids = _string_list(record.get("doc_ids", []), "doc_ids", where)
    answerable = record.get("answerable", bool(answers))
    if not isinstance(answerable, bool):
        raise GoldFormatError(f"{where}: 'answerable' must be true or false")
    if not answerable and answers:
        raise GoldFormatError(f"{where}: an unanswerable question cannot have answers")
    conversation, turn = record.get("conversation_id"), record.get("turn", 0)
    if conversation is not None and not isinstance(conversation, str | int):
        raise GoldFormatError(f"{where}: 'conversation_id' must be a string")
    if not isinstance(turn, int) or isinstance(turn, bool):
        raise GoldFormatError(f"{where}: 'turn' must be an integer")
    return GoldQuestion(
        qid=str(qid),
        question=text,
        answers=answers,
        doc_ids=doc_ids,
        answerable=answerable,
        conversation_id=None if conversation is None else str(conversation),
        turn=turn,
    )


def _string_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GoldFormatError(f"{where}: {key!r} must be a list of strings")
    return tuple(value)


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError as exc:
        raise GoldFormatError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GoldFormatError(f"{path}: cannot read JSON ({exc})") from exc


def _read_queries(path: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    texts[str(record["_id"])] = str(record["text"])
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise GoldFormatError(f"{path}:{line_no}: not a BEIR query line ({exc})") from exc
    except FileNotFoundError as exc:
        raise GoldFormatError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldFormatError(f"{path}: cannot read ({exc})") from exc
    return texts


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    # BEIR's loader skips one header line, reads tab-separated rows with the csv module, and
    # lets a repeated (query, doc) pair overwrite the earlier score; we do the same.
    qrels: dict[str, dict[str, int]] = {}
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
            if next(reader, None) is None:
                raise GoldFormatError(f"{path}: empty qrels file (expected a header line)")
            for row in reader:
                if not row:
                    continue
                try:
                    query_id, corpus_id, score = row[0], row[1], int(row[2])
                except (IndexError, ValueError) as exc:
                    raise GoldFormatError(f"{path}:{reader.line_num}: not a qrels row {row!r}") from exc
                qrels.setdefault(query_id, {})[corpus_id] = score
    except FileNotFoundError as exc:
        raise GoldFormatError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GoldFormatError(f"{path}: cannot read ({exc})") from exc
    return qrels
