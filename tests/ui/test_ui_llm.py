"""LLM answers in the chat: unsupported sentences visibly marked, markup inert, text streamed while generated."""

from __future__ import annotations

from pathlib import Path

import pytest
from llm_fakes import FakeLLM, passage_with
from test_ui_render import DOCS, assert_inert

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.core.errors import QAError
from qa.engine import Engine
from ui import render
from ui.session import ChatState, Finished, Generating, available_modes, stream_ask

HOSTILE_CLAIM = "<script>window.__xss = 9</script> [x](javascript:alert(1)) **bold** $y$."


def reply(messages) -> str:
    n = passage_with(messages, "launch code")
    return f"The launch code is kept in the vault [{n}]. {HOSTILE_CLAIM} [{n}]"


@pytest.fixture
def engine(tmp_path: Path, fake_embedder: HashingEmbedder) -> Engine:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=40, overlap_tokens=8))
    return Engine(tmp_path / "idx", fake_embedder, llm=FakeLLM(reply))


def test_unsupported_sentences_are_marked_and_everything_stays_text(engine: Engine) -> None:
    answer = engine.llm_answerer().answer("Where is the launch code kept?")
    assert answer.mode == "llm" and [s.supported for s in answer.sentences] == [True, False]
    parsed = assert_inert(render.answer_message_html(answer))
    assert parsed.by_class["qa-sentence"] == ["The launch code is kept in the vault."]
    assert parsed.by_class["qa-sentence qa-unsupported"] == [answer.sentences[1].text]
    assert answer.sentences[1].text.startswith("<script>")  # shown as text, never as markup
    assert parsed.by_class["qa-unsupported-mark"] == ["unsupported"]
    assert parsed.by_class["qa-unsupported-note"] == [render.UNSUPPORTED_NOTE]
    assert parsed.by_class["qa-marker"] == ["[1]"]


def test_a_fallback_says_why_above_the_extractive_answer(engine: Engine) -> None:
    engine.llm = FakeLLM(reply, fail="<b>server</b> down")
    answer = engine.llm_answerer().answer("Where is the launch code kept?")
    parsed = assert_inert(render.answer_message_html(answer))
    assert parsed.by_class["qa-fallback"] == [f"LLM answer not used: {answer.fallback_reason}."]
    assert parsed.by_class["qa-quote"] == [c.text for c in answer.citations]


def test_generating_bubble_is_inert() -> None:
    parsed = assert_inert(render.generating_html(HOSTILE_CLAIM))
    assert parsed.by_class["qa-generating-text"] == [HOSTILE_CLAIM]


def test_stream_ask_shows_the_text_as_it_comes_then_the_checked_answer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ui.session.STREAM_INTERVAL_S", 0.0)
    slow = FakeLLM(reply)
    engine.llm = slow
    chat = ChatState(engine)
    assert available_modes(engine) == ("extractive", "llm")
    events = list(stream_ask(chat, "Where is the launch code kept?", 3, "llm"))
    assert isinstance(events[-1], Finished) and events[-1].error is None
    partial = [e for e in events if isinstance(e, Generating)]
    assert partial and all('class="qa-generating"' in e.messages[-1]["content"] for e in partial)
    answer = events[-1].answer
    assert answer.mode == "llm" and chat.answers == [answer]
    assert "qa-unsupported" in chat.messages[-1]["content"]


def test_stream_ask_reports_errors(engine: Engine) -> None:
    engine.llm = None
    events = list(stream_ask(ChatState(engine), "Where is the launch code kept?", 3, "llm"))
    assert isinstance(events[-1], Finished) and isinstance(events[-1].error, QAError)
    assert "unknown answer mode 'llm'" in str(events[-1].error)
