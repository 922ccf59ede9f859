"""Per-session chat state: separate histories, settings applied per question, errors as messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.core.errors import BadQuery, QAError
from qa.core.types import Document
from qa.engine import Engine
from ui.session import ANSWER_MODES, ChatState, available_modes

DOCS = [
    Document(f"d{i}.txt", f"Doc {i}", f"d{i}.txt", f"Fact number {i}: the {animal} eats {food} every morning.")
    for i, (animal, food) in enumerate([("otter", "fish"), ("panda", "bamboo"), ("koala", "leaves"), ("bee", "pollen")])
]


@pytest.fixture
def engine(tmp_path: Path, fake_embedder: HashingEmbedder) -> Engine:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=40, overlap_tokens=8))
    return Engine(tmp_path / "idx", fake_embedder)


def test_sessions_do_not_share_history(engine: Engine) -> None:
    alice, bob = ChatState(engine), ChatState(engine)
    alice.ask("What does the otter eat?", 3, "extractive")
    alice.ask("What does the panda eat?", 3, "extractive")
    bob.ask("What does the koala eat?", 3, "extractive")
    assert [t.question for t in alice.chat.turns] == ["What does the otter eat?", "What does the panda eat?"]
    assert [t.question for t in bob.chat.turns] == ["What does the koala eat?"]
    assert len(alice.messages) == 4 and len(bob.messages) == 2
    assert "koala" not in " ".join(m["content"] for m in alice.messages)


def test_number_of_passages_setting_is_used(engine: Engine) -> None:
    chat = ChatState(engine)
    assert len(chat.ask("What does the bee eat?", 1, "extractive").hits) == 1
    assert len(chat.ask("What does the bee eat?", 4, "extractive").hits) == 4


def test_selecting_a_message_finds_its_answer(engine: Engine) -> None:
    chat = ChatState(engine)
    first = chat.ask("What does the otter eat?", 2, "extractive")
    second = chat.ask("What does the panda eat?", 2, "extractive")
    assert chat.answer_at(0) is first and chat.answer_at(1) is first
    assert chat.answer_at(2) is second and chat.answer_at(3) is second
    assert chat.answer_at(4) is None
    assert chat.selected is second


def test_bad_mode_or_question_becomes_an_error_message(engine: Engine) -> None:
    chat = ChatState(engine)
    assert available_modes(engine) == ("extractive",) and "llm" in ANSWER_MODES
    with pytest.raises(QAError, match="unknown answer mode 'llm'"):
        chat.ask("What does the otter eat?", 3, "llm")
    with pytest.raises(BadQuery):
        chat.ask("   ", 3, "extractive")
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "user", "assistant"]
    assert all('class="qa-error"' in m["content"] for m in chat.messages[1::2])
    assert chat.answers == [None, None]
    assert chat.chat.turns == []  # failed questions do not become history


def test_reset_forgets_the_conversation(engine: Engine) -> None:
    chat = ChatState(engine)
    chat.ask("What does the otter eat?", 3, "extractive")
    chat.reset()
    assert chat.messages == [] and chat.answers == [] and chat.chat.turns == [] and chat.selected is None


def test_sources_of_the_whole_conversation_can_be_chosen(engine: Engine) -> None:
    chat = ChatState(engine)
    first = chat.ask("What does the otter eat?", 2, "extractive")
    with pytest.raises(QAError):
        chat.ask("What does the panda eat?", 2, "llm")  # Q2 fails: it has no sources
    third = chat.ask("What does the koala eat?", 2, "extractive")
    choices = chat.source_choices()
    assert [key for _, key in choices] == [f"3:c{c.n}" for c in third.citations] + [
        f"1:c{c.n}" for c in first.citations
    ]
    assert choices[-1][0].startswith("Q1 [1] ")
    assert chat.first_source(first) == "1:c1" and chat.first_source(third) == "3:c1"
    assert chat.source("1:c1") == (first, "c1") and chat.selected is first
    assert chat.source("2:c1") == (None, "c1") and chat.selected is first
    assert chat.source("9:c1") == (None, None) and chat.source("junk") == (None, None)


def test_an_unexpected_failure_still_answers_with_an_error_message(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = ChatState(engine)

    def broken(*_args, **_kwargs):
        raise RuntimeError("<script>secret document text</script>")

    monkeypatch.setattr(engine, "answerer", broken)
    with pytest.raises(RuntimeError):
        chat.ask("What does the otter eat?", 3, "extractive")
    assert [m["role"] for m in chat.messages] == ["user", "assistant"]
    assert "internal error" in chat.messages[1]["content"] and "secret" not in chat.messages[1]["content"]
    assert chat.answers == [None]
