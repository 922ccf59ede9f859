"""What the page's events do, without a browser: questions, sources, reset, status, settings, uploads."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from llm_fakes import FakeLLM, passage_with
from test_ui_render import assert_inert

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.core.errors import QAError
from qa.core.types import Document
from qa.engine import Engine
from ui import handlers, render
from ui.handlers import ChatView, Indexed, Settings
from ui.session import MAX_PASSAGES, ChatState
from ui.uploads import UPLOAD_SUFFIXES, Uploads

DOCS = [
    Document(f"{a}.txt", a.title(), f"{a}.txt", f"The {a} eats {food}. The {a} lives in {home}.")
    for a, food, home in [("otter", "fish", "rivers"), ("panda", "bamboo", "forests"), ("koala", "leaves", "trees")]
]


@pytest.fixture
def engine(tmp_path: Path, fake_embedder: HashingEmbedder) -> Engine:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=40, overlap_tokens=8))
    return Engine(tmp_path / "idx", fake_embedder)


def ask_once(engine: Engine, chat: ChatState | None, text: str, mode: str = "extractive") -> ChatView:
    (view,) = handlers.ask(engine, chat, text, 3.0, mode)  # the slider sends a float
    return view


def fail_with(exc: Exception):
    def broken(*_args, **_kwargs):
        raise exc

    return broken


def test_a_first_question_starts_a_session_and_shows_its_sources(engine: Engine) -> None:
    view = ask_once(engine, None, "What does the otter eat?")
    chat = view.chat
    assert isinstance(chat, ChatState) and view.messages is chat.messages and len(view.messages) == 2
    answer = chat.answers[0]
    assert len(answer.hits) == 3
    assert (view.question, view.query, view.warning) == ("", answer.rewritten_query, None)
    assert view.panels.choices == chat.source_choices() and view.panels.choice == "1:c1"
    assert view.panels.source == handlers.source_view(answer, "c1")
    assert view.panels.source.json == answer.to_json()


def test_the_session_carries_on_and_follow_ups_are_rewritten(engine: Engine) -> None:
    chat = ask_once(engine, None, "What does the otter eat?").chat
    view = ask_once(engine, chat, "Where does it live?")
    assert view.chat is chat and len(chat.messages) == 4
    assert "otter" in view.query.lower()
    assert view.panels.choice == "2:c1" and view.panels.choices[-1][1] == "1:c1"


@pytest.mark.parametrize("text", ["", "   ", None])
def test_an_empty_question_warns_and_leaves_the_page_alone(engine: Engine, text: str | None) -> None:
    view = ask_once(engine, None, text)
    assert view.warning == "Type a question first." and view.question == text
    assert view.query is None and view.panels is None  # None: the page keeps what it shows
    assert view.messages == [] and isinstance(view.chat, ChatState)


def test_a_refused_question_is_an_escaped_toast_and_the_last_sources_stay(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = ask_once(engine, None, "What does the otter eat?").chat
    first = chat.answers[0]
    monkeypatch.setattr(engine, "answerer", fail_with(QAError("<img src=x onerror=alert(1)> in the index")))
    view = ask_once(engine, chat, "What does the panda eat?")
    assert view.warning == render.esc("<img src=x onerror=alert(1)> in the index") and "<img" not in view.warning
    assert view.query == "" and view.panels == handlers.panels(chat, first)
    assert chat.answers == [first, None] and 'class="qa-error"' in view.messages[-1]["content"]


def test_a_bug_is_logged_and_its_text_kept_off_the_page(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    chat = ChatState(engine)  # before the break: a new session makes an answerer too
    monkeypatch.setattr(engine, "answerer", fail_with(RuntimeError("<script>secret document text</script>")))
    with caplog.at_level(logging.ERROR, logger="ui.handlers"):
        view = ask_once(engine, chat, "What does the otter eat?")
    assert view.warning == "Internal error; the server log has the details."
    assert "secret" not in view.warning and "secret" not in view.messages[-1]["content"]
    assert view.query == "" and view.panels == handlers.panels(None, None)
    (record,) = caplog.records
    assert "What does the otter eat?" in record.getMessage() and isinstance(record.exc_info[1], RuntimeError)


def test_an_llm_answer_is_shown_while_written_then_checked(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ui.session.STREAM_INTERVAL_S", 0.0)
    engine.llm = FakeLLM(lambda messages: f"The otter eats fish [{passage_with(messages, 'otter eats')}].")
    views = list(handlers.ask(engine, None, "What does the otter eat?", 3.0, "llm"))
    *streamed, final = views
    assert streamed and all(v.query is None and v.panels is None for v in streamed)  # panels wait for the end
    assert all('class="qa-generating"' in v.messages[-1]["content"] for v in streamed)
    answer = final.chat.answers[0]
    assert answer.mode == "llm" and final.warning is None
    assert final.query == answer.rewritten_query and final.panels.choice == "1:c1"
    assert all(v.question == "" and v.chat is final.chat for v in views)


def test_llm_mode_without_a_model_is_refused_as_a_toast(engine: Engine) -> None:
    (view,) = handlers.ask(engine, None, "What does the otter eat?", 3.0, "llm")
    assert view.warning == render.esc("unknown answer mode 'llm'; choose one of extractive")
    assert view.query == "" and view.chat.answers == [None]


def test_selecting_a_message_shows_the_sources_of_its_answer(engine: Engine) -> None:
    chat = ask_once(engine, None, "What does the otter eat?").chat
    ask_once(engine, chat, "What does the panda eat?")
    first = chat.answers[0]
    panels = handlers.select_message(chat, 1)  # the first answer's bubble
    assert chat.selected is first and panels == handlers.panels(chat, first) and panels.choice == "1:c1"
    assert handlers.select_message(chat, 4) is None and chat.selected is first
    assert handlers.select_message(None, 0) is None


def test_choosing_a_source_shows_it_and_selects_its_answer(engine: Engine) -> None:
    chat = ask_once(engine, None, "What does the otter eat?").chat
    ask_once(engine, chat, "What does the koala eat?")
    first = chat.answers[0]
    assert handlers.choose_source(chat, "1:c1") == handlers.source_view(first, "c1") and chat.selected is first
    for choice in (None, "", "9:c1", "junk"):
        assert handlers.choose_source(chat, choice) is None
    assert handlers.choose_source(None, "1:c1") is None


def test_reset_empties_the_conversation_and_the_sources_column(engine: Engine) -> None:
    chat = ask_once(engine, None, "What does the otter eat?").chat
    view = handlers.reset(chat)
    assert view.chat is chat and view.messages == [] and view.query == ""
    assert chat.answers == [] and chat.chat.turns == [] and chat.selected is None
    empty = view.panels
    assert (empty.choices, empty.choice, empty.source.json) == ([], None, None)
    assert empty.source.html == render.source_html(None, None) and empty.source.details == render.retrieval_html(None)
    assert handlers.reset(None).chat is None


def test_status_shows_the_index_and_when_it_was_written(engine: Engine, tmp_path: Path) -> None:
    line = handlers.status(engine)
    manifest = engine.index.manifest
    assert "<b>3</b> documents" in line and render.esc(manifest.created_at) in line
    assert render.esc(str(engine.index_dir.root)) in line
    missing = handlers.status(Engine(tmp_path / "nowhere", engine.embedder))
    assert missing.startswith('<div class="qa-error">index unavailable')


def test_settings_offer_llm_answers_first_when_a_model_is_configured(engine: Engine) -> None:
    assert handlers.settings(engine) == Settings(engine.settings.passages, MAX_PASSAGES, ("extractive",), "extractive")
    engine.llm = FakeLLM(lambda _messages: "")
    assert handlers.settings(engine).modes == ("extractive", "llm") and handlers.settings(engine).mode == "llm"


class Reports:
    def __init__(self) -> None:
        self.calls: list[tuple[object, str]] = []

    def __call__(self, amount: float | tuple[int, int], what: str) -> None:
        self.calls.append((amount, what))


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / "cache" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    return str(path)


def test_no_files_is_a_toast_and_nothing_else(engine: Engine, tmp_path: Path) -> None:
    report = Reports()
    for paths in (None, []):
        assert handlers.index_files(engine, Uploads(engine, tmp_path / "up"), paths, report) == Indexed(
            None, None, ["Choose files to upload first."]
        )
    assert report.calls == []


def test_uploaded_files_are_indexed_and_rejected_ones_reported_inertly(engine: Engine, tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>.exe"
    good, bad = write(tmp_path, "beaver.txt", "The beaver builds dams across streams."), write(tmp_path, hostile, "x")
    report = Reports()
    done = handlers.index_files(engine, Uploads(engine, tmp_path / "up"), [good, bad], report)
    parsed = assert_inert(done.result)
    assert parsed.by_class["qa-upload-ok"][0].startswith("Indexed 1 file(s) in ")
    reason = f"unsupported file type '.exe'; upload {', '.join(UPLOAD_SUFFIXES)}"
    assert parsed.by_class["qa-error"] == [f"Rejected {hostile}: {reason}"]
    assert done.warnings == [render.esc(f"{hostile} rejected: {reason}")]  # a toast renders HTML
    assert "<b>4</b> documents" in done.status
    assert report.calls[0] == (0, "checking files") and report.calls[-1] == ((1, 1), "indexing uploads/beaver.txt")
    assert "beaver" in engine.ask("What does the beaver build?").citations[0].text


def test_a_failed_upload_says_so_under_the_files(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    uploads = Uploads(engine, tmp_path / "up")
    good = [write(tmp_path, "beaver.txt", "The beaver builds dams.")]
    monkeypatch.setattr(uploads, "ingest", fail_with(QAError("<b>disk</b> full")))
    refused = handlers.index_files(engine, uploads, good, Reports())
    assert assert_inert(refused.result).by_class["qa-error"] == ["indexing failed: <b>disk</b> full"]
    assert refused.warnings == [] and "<b>3</b> documents" in refused.status
    monkeypatch.setattr(uploads, "ingest", fail_with(RuntimeError("secret")))
    with caplog.at_level(logging.ERROR, logger="ui.handlers"):
        broken = handlers.index_files(engine, uploads, good, Reports())
    assert "internal error" in broken.result and "secret" not in broken.result
    assert [r.getMessage() for r in caplog.records] == ["indexing uploads failed"]
