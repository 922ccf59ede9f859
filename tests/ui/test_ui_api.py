"""The chat over HTTP with gradio_client, against ``qa serve`` started here on 127.0.0.1.

A server over a small hashing-embedder index covers sessions, concurrency and uploads quickly;
the real MiniLM model answers about the seed article with citations checked against the stored index.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from ui_server import BLOCKED, OUTPUT, Server, record_timing, start_server

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.store import IndexDir
from qa.core.types import Document

REPO = Path(__file__).resolve().parents[2]
ASK_OUTPUTS = ("question", "chat", "query", "citations", "source", "details", "answer")

ANIMALS = [
    Document(f"{a}.txt", a.title(), f"{a}.txt", f"The {a} eats {food}. The {a} lives in {home}.")
    for a, food, home in [
        ("otter", "fish", "rivers"),
        ("panda", "bamboo", "mountain forests"),
        ("koala", "eucalyptus leaves", "Australia"),
        ("camel", "desert plants", "the Sahara"),
    ]
]


def client(server: Server) -> Client:
    return Client(server.url, verbose=False, analytics_enabled=False, download_files=False)


def ask(c: Client, question: str, passages: int = 3) -> dict:
    return dict(zip(ASK_OUTPUTS, c.predict(question, passages, "extractive", api_name="/ask"), strict=True))


def chat_texts(chat: list[dict]) -> list[str]:
    """The messages as the browser shows them (they are sent as escaped HTML)."""
    return [html.unescape(part["text"]) for message in chat for part in message["content"]]


@pytest.fixture(scope="module")
def hashing_server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("api") / "idx"
    build_index(iter(ANIMALS), root, HashingEmbedder(64), ChunkerSettings(max_tokens=40, overlap_tokens=8))
    server = start_server(["--index", str(root), "--max-upload-mb", "1"], root.parent / "logs")
    yield server, root
    server.stop()
    assert BLOCKED not in server.stderr()


def test_concurrent_sessions_all_get_answers_and_keep_their_own_history(hashing_server) -> None:
    server, _ = hashing_server
    plans = {
        "a": ["What does the otter eat?", "Where does the panda live?", "What does the camel eat?"],
        "b": ["Where does the koala live?", "What does the panda eat?", "Where does the otter live?"],
    }
    results: dict[str, list[dict]] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            c = client(server)
            results[name] = [ask(c, q) for q in plans[name]]
        except BaseException as exc:  # re-raised below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for name, questions in plans.items():
        replies = results[name]
        assert [r["answer"]["question"] for r in replies] == questions
        assert all(not r["answer"]["abstained"] and r["answer"]["citations"] for r in replies)
        final_chat = replies[-1]["chat"]
        assert len(final_chat) == 2 * len(questions)
        assert chat_texts(final_chat)[0::2] == questions  # this session's questions only, in order


def test_answer_panels_over_http(hashing_server) -> None:
    server, root = hashing_server
    reply = ask(client(server), "What does the koala eat?", passages=2)
    answer = reply["answer"]
    assert reply["question"] == ""  # the box is cleared for the next question
    assert reply["query"] == answer["rewritten_query"] == "What does the koala eat?"
    assert len(answer["hits"]) == 2
    assert [c[1] for c in reply["citations"]["choices"]] == [f"1:c{c['n']}" for c in answer["citations"]]
    assert reply["citations"]["value"] == "1:c1"
    index = IndexDir(root).load()
    for citation in answer["citations"]:
        assert index.document(citation["doc_id"]).text[citation["start"] : citation["end"]] == citation["quote"]
        assert "qa-cited" in reply["source"]
    assert reply["details"].count("<tr>") == 1 + len(answer["hits"])


def test_new_conversation_forgets_the_history(hashing_server) -> None:
    server, _ = hashing_server
    c = client(server)
    ask(c, "What does the otter eat?")
    cleared = dict(zip(ASK_OUTPUTS[1:], c.predict(api_name="/clear"), strict=True))
    assert cleared["chat"] == [] and cleared["answer"] is None and cleared["citations"]["choices"] == []
    reply = ask(c, "Where does the camel live?")
    assert chat_texts(reply["chat"])[0::2] == ["Where does the camel live?"]
    assert [key for _, key in reply["citations"]["choices"]] == ["1:c1"]  # numbering starts again


def test_upload_then_ask_without_restart_and_rejections(hashing_server, tmp_path: Path) -> None:
    server, root = hashing_server
    c = client(server)
    good = tmp_path / "lighthouse.md"
    good.write_text("# Lighthouse\n\nThe lighthouse keeper winds the clock every Tuesday.\n")
    bad = tmp_path / "payload.exe"
    bad.write_bytes(b"MZ not a document")
    big = tmp_path / "big.txt"
    big.write_text("words " * 200_000)  # 1.2 MB, over the 1 MB limit this server was given
    _, message, status = c.predict([handle_file(good), handle_file(bad)], api_name="/upload")
    assert "Indexed 1 file(s)" in message and "lighthouse.md" in message
    assert "Rejected payload.exe: unsupported file type" in message.replace("&#39;", "'")
    assert "<b>5</b> documents" in status
    with pytest.raises(ValueError, match=r"exceeds the maximum file size of 1048576 bytes"):
        c.predict([handle_file(big)], api_name="/upload")
    answer = ask(c, "When does the lighthouse keeper wind the clock?")["answer"]
    assert answer["citations"][0]["doc_id"] == "uploads/lighthouse.md"
    assert "every Tuesday" in answer["citations"][0]["quote"]
    uploads = root.with_name(root.name + "-uploads") / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["lighthouse.md"]


def test_pdf_docx_and_html_uploads_are_answered_with_pages(hashing_server, tmp_path: Path) -> None:
    import docx
    from reportlab.pdfgen import canvas

    server, root = hashing_server
    pdf_path = tmp_path / "almanac.pdf"
    pdf = canvas.Canvas(str(pdf_path))
    for line in ("The almanac lists the tides of the northern harbour.", "Glaciers retreat forty metres a year."):
        pdf.drawString(72, 720, line)
        pdf.showPage()
    pdf.save()
    word = docx.Document()
    word.add_paragraph("The orchestra rehearses in the old granary on Thursdays.")
    word.save(str(tmp_path / "orchestra.docx"))
    (tmp_path / "ferry.html").write_text(
        "<html><head><title>Ferry</title></head><body><nav>menu</nav><main><p>The ferry to the island "
        "leaves from pier seven at noon.</p></main></body></html>"
    )
    c = client(server)
    files = [handle_file(tmp_path / name) for name in ("almanac.pdf", "orchestra.docx", "ferry.html")]
    _, message, _ = c.predict(files, api_name="/upload")
    assert "Indexed 3 file(s)" in message, message
    index = IndexDir(root).load()
    for question, doc_id, page, words in [
        ("How fast do glaciers retreat each year?", "uploads/almanac.pdf", 2, "forty metres"),
        ("Where does the orchestra rehearse?", "uploads/orchestra.docx", None, "old granary"),
        ("Where does the ferry to the island leave from?", "uploads/ferry.html", None, "pier seven"),
    ]:
        citation = ask(c, question)["answer"]["citations"][0]
        assert (citation["doc_id"], citation["page"]) == (doc_id, page)
        assert words in citation["quote"]
        assert index.document(doc_id).text[citation["start"] : citation["end"]] == citation["quote"]


@pytest.mark.slow
def test_seed_article_answers_have_exact_citations(data: Path, tmp_path: Path, minilm) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in sorted((data / "seeds").glob("*.txt")):
        shutil.copy(seed, corpus / seed.name)
    shutil.copytree(REPO / "docs" / "guide", corpus / "guide")  # other documents to choose among
    build_index(_sources(corpus), tmp_path / "idx", minilm, ChunkerSettings())
    server = start_server(["--index", str(tmp_path / "idx")], tmp_path / "logs")
    questions = [
        "Who is the head of the UN Counter-Terrorism Office?",
        "What did he call for?",
        "Who did the UN official brief?",
        "What does ISIL focus on now?",
    ]
    plans = {1: questions[:2], 2: questions[2:]}  # session 1 asks a follow-up
    replies: dict[int, list[dict]] = {}
    try:
        replies[0] = [ask(client(server), questions[0])]
        first_alone = replies[0][0]

        def run(n: int) -> None:  # two more sessions at once, with the real model
            c = client(server)
            replies[n] = [ask(c, q) for q in plans[n]]

        threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        server.stop()
    assert BLOCKED not in server.stderr()
    assert sorted(replies) == [0, 1, 2] and [len(replies[n]) for n in (1, 2)] == [2, 2]
    index = IndexDir(tmp_path / "idx").load()
    for reply in (r for n in sorted(replies) for r in replies[n]):
        answer = reply["answer"]
        assert not answer["abstained"] and answer["citations"]
        for citation in answer["citations"]:
            assert index.document(citation["doc_id"]).text[citation["start"] : citation["end"]] == citation["quote"]
        span = answer["short_answer_span"]
        if span is not None:
            assert index.document(span["doc_id"]).text[span["start"] : span["end"]] == answer["short_answer"]
    assert first_alone["answer"]["citations"][0]["doc_id"].startswith("000_")
    assert "Voronkov" in first_alone["answer"]["answer"]
    # The short answer is shown only when probably right (qa/answer/short/confidence.py): this one
    # is right, but a "who" phrase scores about 0.65 there, under the 0.74 needed to show it.
    assert first_alone["answer"]["short_answer"] in ("Vladimir Voronkov", None)
    assert first_alone["answer"]["short_answer_confidence"] is not None
    for n in (1, 2):
        assert chat_texts(replies[n][-1]["chat"])[0::2] == plans[n]  # each session its own history
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "api-seed-answer.json").write_text(json.dumps(first_alone["answer"], indent=1, ensure_ascii=False))


def _sources(folder: Path):
    from index.loaders import iter_sources

    return iter_sources([folder])


@pytest.mark.slow
def test_serve_without_index_builds_and_opens_the_demo_corpus(tmp_path: Path, minilm) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    cold = start_server([], tmp_path / "cold", env=env)  # no demo index yet: it is built first
    try:
        page_config = urllib.request.urlopen(cold.url + "config", timeout=30).read().decode()
        began = time.perf_counter()
        reply = ask(client(cold), "How do I index my own documents?")
        first_answer = time.perf_counter() - began
    finally:
        cold.stop()
    assert (tmp_path / "data" / "qa" / "demo-index" / "CURRENT").is_file()
    assert "built-in demo corpus" in page_config and "qa index build" in page_config  # the hint
    citation = reply["answer"]["citations"][0]
    assert Path(citation["source"]).parent == REPO / "docs" / "guide"
    demo_index = IndexDir(tmp_path / "data" / "qa" / "demo-index").load()
    assert demo_index.document(citation["doc_id"]).text[citation["start"] : citation["end"]] == citation["quote"]
    warm = start_server([], tmp_path / "warm", env=env)  # the demo index exists now
    try:
        began = time.perf_counter()
        ask(client(warm), "Does it need the internet?")
        warm_answer = time.perf_counter() - began
    finally:
        warm.stop()
    # A demo index made from an older guide (an earlier checkout, when torch was the default
    # backend) is brought up to date on start, with the backend it was built with.
    old_guide = tmp_path / "old-guide"
    shutil.copytree(REPO / "docs" / "guide", old_guide)
    (old_guide / "indexing.md").write_text("# Indexing documents\n\nAn older guide said less.\n")
    demo_root = tmp_path / "data" / "qa" / "demo-index"
    shutil.rmtree(demo_root)
    build_index(_sources(old_guide), demo_root, minilm)
    stale = start_server([], tmp_path / "stale", env=env)
    stale.stop()
    assert IndexDir(demo_root).manifest().embedder["backend"] == "torch"
    refreshed = IndexDir(demo_root).load().document("indexing.md")
    current = next(d for d in _sources(REPO / "docs" / "guide") if getattr(d, "doc_id", None) == "indexing.md")
    assert refreshed.content_hash == current.content_hash and "older guide" not in refreshed.text
    for server in (cold, warm, stale):
        assert BLOCKED not in server.stderr()
    assert "indexing the demo corpus" in cold.stderr() and "indexing the demo corpus" not in warm.stderr()
    assert "indexing the demo corpus" in stale.stderr()
    record_timing("demo_serve_with_demo_build_to_first_http_response_s", cold.seconds_to_ready)
    record_timing("demo_serve_start_to_first_http_response_s", warm.seconds_to_ready)
    record_timing("demo_serve_start_to_ready_to_answer_s", warm.seconds_to_model)
    record_timing("api_first_question_to_answer_s", warm_answer)
    record_timing("api_first_question_to_answer_after_build_s", first_answer)


def test_serve_on_a_missing_index_fails_with_a_message(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    missing = tmp_path / "nothing-here"
    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", "serve", "--index", str(missing), "--port", "9"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"qa: error: no index at {missing}" in done.stderr
    assert not missing.exists()
