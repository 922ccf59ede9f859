"""The OpenAI-compatible ``/v1/chat/completions`` of ``qa serve`` (api/openai_compat.py), driven by
the ``openai`` Python client: the reply cites ``[n]`` with a "Sources:" block, and the response
carries the verified citations in its extra ``citations`` field, streaming and not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import openai
import pytest
from test_mcp import two_documents_index, verify
from ui_server import BLOCKED, start_server

from index.store import IndexDir
from qa.core.answers import NO_ANSWER_TEXT


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_documents_index(tmp_path_factory.mktemp("openai"))


@pytest.fixture(scope="module")
def client(index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    logs = tmp_path_factory.mktemp("openai-logs")
    server = start_server(["--index", str(index), "--uploads", str(logs / "uploads")], logs)
    try:
        with openai.OpenAI(base_url=server.url + "v1", api_key="not-needed", max_retries=0, timeout=60) as chat:
            yield chat
    finally:
        server.stop()
    assert BLOCKED not in server.stderr()


def check_citations(index: Path, text: str, citations: list[dict]) -> None:
    """Each citation is an exact span of its document, marked in the text and listed in its Sources block."""
    stored = IndexDir(index).load()
    answer, _, sources = text.partition("\n\nSources:\n")
    assert citations and sources
    for citation in citations:
        verify(stored, citation, "quote")
        assert f"[{citation['n']}]" in answer
        assert f"[{citation['n']}] {citation['title']} ({citation['source']}, chars " in sources
        assert f'"{" ".join(citation["quote"].split())}"' in sources


@pytest.mark.slow  # one `qa serve` start-up (~5 s) for the module
def test_a_completion_cites_its_sources_in_the_text_and_the_citations_field(client: openai.OpenAI, index: Path) -> None:
    done = client.chat.completions.create(
        model="qa", messages=[{"role": "user", "content": "Who discovered oxygen and when?"}]
    )
    assert done.object == "chat.completion" and done.choices[0].finish_reason == "stop"
    text = done.choices[0].message.content
    citations = done.model_extra["citations"]
    check_citations(index, text, citations)
    assert "Carl Wilhelm Scheele" in citations[0]["quote"]
    assert [m.id for m in client.models.list().data] == ["qa"]


@pytest.mark.slow
def test_a_streamed_completion_ends_with_the_sources_and_the_citations(client: openai.OpenAI, index: Path) -> None:
    messages = [{"role": "user", "content": "When did Chopin move to Paris?"}]
    chunks = list(client.chat.completions.create(model="qa", messages=messages, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    contents = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert contents[-1].startswith("\n\nSources:\n")  # the last content chunk is the sources block
    citations = chunks[-1].model_extra["citations"]
    check_citations(index, text, citations)
    assert "1831" in citations[0]["quote"]
    plain = client.chat.completions.create(model="qa", messages=messages)
    assert plain.choices[0].message.content == text and plain.model_extra["citations"] == citations


@pytest.mark.slow
def test_follow_ups_read_the_conversation_and_bad_ones_are_errors(client: openai.OpenAI, index: Path) -> None:
    conversation = [
        {"role": "system", "content": "Answer from the documents."},
        {"role": "user", "content": "Who was a Polish composer?"},
        {"role": "assistant", "content": "Frédéric Chopin was a Polish composer and pianist. [1]"},
        {"role": "user", "content": "When was he born?"},
    ]
    done = client.chat.completions.create(model="qa", messages=conversation)
    assert "1810" in done.choices[0].message.content
    assert done.model_extra["citations"][0]["doc_id"] == "chopin.txt"

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="qa", messages=[{"role": "assistant", "content": "Hello."}])
    assert "'assistant'" in refused.value.message
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="qa", messages=[{"role": "user", "content": "  "}])
    assert "empty question" in empty.value.message


def test_an_abstention_reads_as_the_products_own_text(index: Path) -> None:
    from api.openai_compat import reply_text
    from qa.engine import Engine

    answer = Engine(index).ask("Who discovered oxygen?")
    assert reply_text(answer).startswith(answer.text + "\n\nSources:\n[1] ")
    abstained = replace(answer, text=NO_ANSWER_TEXT, abstained=True, citations=(), short_answer=None)
    assert reply_text(abstained) == NO_ANSWER_TEXT  # no sources block: nothing is cited
