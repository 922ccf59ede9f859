"""The chat in Debian's Chromium, driven by Playwright, against ``qa serve`` started here.

One server (real MiniLM model, the seed article and the user guide) serves the whole module;
the tests run in file order: ask and see the highlighted span, see a confident short answer
underlined (and a doubtful one left out), see a low-confidence answer flagged, select an earlier
answer, ask what the documents do not say and see the closest passages instead, upload a document and ask about
it, upload a hostile document and check nothing in it runs, reject an unsupported upload.
Screenshots and timings go to ``test-output/``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from chromium import local_context
from ui_server import BLOCKED, OUTPUT, Server, record_timing, start_server

from index.build import build_index
from index.chunking import ChunkerSettings
from index.loaders import iter_sources
from index.store import IndexDir
from qa.answer.extractive import AnswerSettings, ExtractiveAnswerer
from qa.search.retrieval import Retriever
from ui.render import LOW_CONFIDENCE_NOTE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ANSWER_TIMEOUT_MS = 120_000

XSS_DOCUMENT = """# Vault notes <img src=x onerror="window.__xss='title'">

The vault combination is written on the blue card in the drawer. <script>window.__xss='script';alert('script')</script>
<img src=x onerror="window.__xss='img';alert('img')"> [open the vault](javascript:window.__xss='md-link')
<svg onload="window.__xss='svg'"></svg> <a href="javascript:window.__xss='a'">click</a> **not bold** $x^2$
"""


# Questions whose topic the guide covers but whose answer it may not hold, most likely first: the
# low-confidence test asks the first one the answerer marks low-confidence on the same index, so it
# follows the calibrated thresholds (qa/answer/abstention.py) instead of one question's probability.
HALF_ANSWERED = [
    "How long does it take to index ten thousand pages?",
    "Can I index a whole website?",
    "How many passages does the answer read?",
    "Which PDF reader is used for the page view?",
    "How do I run the language model on a GPU?",
    "Does the browser chat work on a mobile phone?",
    "How much memory does the index need?",
    "How do I undo the last index update?",
    "Can two people use the browser chat at once?",
    "How do I change the chunk size?",
]
SURE = "How do I index my own documents?"
# Questions with a short phrase for an answer; the short-answer test asks the first whose phrase
# is confident enough to be shown (qa/answer/short/confidence.py), chosen the same way.
SHORT = [
    "When will the first UN Summit of Heads of Counter-Terrorism Agencies be held?",
    "What do ISIL members abuse to communicate?",
    "Who is the head of the UN Counter-Terrorism Office?",
    "How many members does the Security Council have?",
]


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, data: Path, minilm) -> Path:
    base = tmp_path_factory.mktemp("browser")
    corpus = base / "corpus"
    shutil.copytree(REPO / "docs" / "guide", corpus / "guide")
    for seed in sorted((data / "seeds").glob("*.txt")):
        shutil.copy(seed, corpus / seed.name)
    build_index(iter_sources([corpus]), base / "idx", minilm, ChunkerSettings())
    return base / "idx"


@pytest.fixture(scope="module")
def answerer(corpus_index: Path, minilm) -> ExtractiveAnswerer:
    """The server's answerer, in this process: what the browser should show."""
    return ExtractiveAnswerer(Retriever(IndexDir(corpus_index).load(minilm), minilm), minilm)


@pytest.fixture(scope="module")
def server(corpus_index: Path, tmp_path_factory: pytest.TempPathFactory):
    running = start_server(["--index", str(corpus_index)], tmp_path_factory.mktemp("browser-logs"))
    record_timing("serve_start_to_first_http_response_s", running.seconds_to_ready)
    record_timing("serve_start_to_ready_to_answer_s", running.seconds_to_model)
    yield running
    running.stop()
    assert BLOCKED not in running.stderr()


@pytest.fixture
def page(browser, server: Server):
    """A fresh browser session on the app; anything it asks of another host is refused and recorded."""
    context, outside = local_context(browser, server.url)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    page.goto(server.url)
    page.wait_for_selector("#qa-question textarea")
    yield page
    context.close()
    assert outside == [], f"the page asked for resources off this machine: {outside}"


def ask(page, question: str) -> float:
    """Type ``question``, press Ask, wait for the answer bubble; the seconds it took."""
    answered = page.locator("#qa-chat .qa-query").count()
    page.fill("#qa-question textarea", question)
    began = time.perf_counter()
    page.click("#qa-ask")
    page.wait_for_function(
        f"document.querySelectorAll('#qa-chat .qa-query').length > {answered}", timeout=ANSWER_TIMEOUT_MS
    )
    return time.perf_counter() - began


# Records every progress text shown while files are indexed, to check that progress is visible.
WATCH_PROGRESS = """() => {
  window.__progress = [];
  new MutationObserver(() => {
    const text = document.querySelector('#qa-upload-result').innerText;
    if (text.includes('indexing')) window.__progress.push(text);
  }).observe(document.querySelector('#qa-upload-result'), {subtree: true, childList: true, characterData: true});
}"""


def upload(page, path: Path) -> str:
    """Upload ``path`` and press Index; the result message (progress texts seen go to ``window.__progress``)."""
    page.set_input_files("#qa-files input[type=file]", str(path))
    page.locator("#qa-files .file-preview").wait_for()  # uploaded to the server, listed by the component
    page.evaluate(WATCH_PROGRESS)
    page.click("#qa-index")
    page.wait_for_selector("#qa-upload-result .qa-upload-ok, #qa-upload-result .qa-error", timeout=ANSWER_TIMEOUT_MS)
    return page.inner_text("#qa-upload-result")


def test_question_shows_answer_with_highlighted_span(page) -> None:
    seconds = ask(page, "Who is the head of the UN Counter-Terrorism Office?")
    record_timing("browser_question_to_answer_s", seconds)
    bubble = page.locator("#qa-chat .qa-answer").last
    assert "Voronkov" in bubble.inner_text()
    assert bubble.locator("sup.qa-marker").first.inner_text() == "[1]"
    assert "Who is the head of the UN Counter-Terrorism Office?" in page.locator("#qa-chat .qa-query").last.inner_text()
    assert page.input_value("#qa-query textarea") == "Who is the head of the UN Counter-Terrorism Office?"
    mark = page.locator("#qa-source mark.qa-cited")
    assert mark.count() == 1 and "Vladimir Voronkov" in mark.inner_text()
    assert mark.evaluate("m => getComputedStyle(m).backgroundColor") != "rgba(0, 0, 0, 0)"  # visibly highlighted
    head = page.inner_text("#qa-source .qa-source-head")
    assert re.search(r"chars \d+–\d+", head) and "ISIL" in head
    # The markdown links of the article stay text.
    assert "[Counter-Terrorism Office](#)" in page.inner_text("#qa-source .qa-passage")
    page.click("#qa-details button, #qa-details .label-wrap")
    page.wait_for_selector("#qa-retrieval table.qa-retrieval", state="visible")
    passages = AnswerSettings().passages  # the Settings slider starts at the default
    assert page.locator("#qa-retrieval tbody tr").count() == passages
    assert page.locator("#qa-retrieval td.qa-num").count() == 3 * passages
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "browser-answered-chat.png"), full_page=True)


def test_a_confident_short_answer_is_shown_and_underlined_in_the_cited_span(page, answerer) -> None:
    chosen = [(q, answerer.answer(q)) for q in SHORT]
    shown = [(q, a) for q, a in chosen if a.short_answer is not None]
    assert shown, f"no short answer was confident enough: {[(q, a.short_answer_confidence) for q, a in chosen]}"
    question, expected = shown[0]
    ask(page, question)
    bubble = page.locator("#qa-chat [data-testid=bot]").last
    assert expected.short_answer.text in bubble.inner_text() and "Short answer" in bubble.inner_text()
    assert page.locator("#qa-source mark.qa-cited strong.qa-short").inner_text() == expected.short_answer.text
    withheld = [q for q, a in chosen if a.short_answer is None and a.withheld_short_answer is not None]
    if withheld:  # a phrase below the threshold is not shown, the cited sentence still is
        ask(page, withheld[0])
        assert "Short answer" not in page.locator("#qa-chat [data-testid=bot]").last.inner_text()
        assert page.locator("#qa-source mark.qa-cited strong.qa-short").count() == 0


def test_low_confidence_answer_says_the_documents_may_not_answer(page, answerer) -> None:
    assert not answerer.answer(SURE).low_confidence
    chosen = [(q, answerer.answer(q)) for q in HALF_ANSWERED]
    low = [q for q, a in chosen if a.low_confidence and not a.abstained]
    assert low, f"no question got a low-confidence answer: {[(q, a.answer_confidence) for q, a in chosen]}"
    ask(page, SURE)
    assert page.locator("#qa-chat .qa-low-confidence").count() == 0  # a sure answer carries no note
    ask(page, low[0])
    bubble = page.locator("#qa-chat [data-testid=bot]").last
    note = bubble.locator(".qa-low-confidence")
    assert note.count() == 1 and note.inner_text().strip() == LOW_CONFIDENCE_NOTE
    assert bubble.locator(".qa-answer sup.qa-marker").first.inner_text() == "[1]"  # still answered, cited
    assert bubble.locator(".qa-abstain").count() == 0
    # The note stands above the quoted passage.
    assert note.evaluate("n => n.compareDocumentPosition(n.parentElement.querySelector('.qa-answer')) & 4")
    assert page.locator("#qa-source mark.qa-cited").count() == 1
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "browser-low-confidence.png"), full_page=True)


def source_head_includes(page, text: str) -> None:
    page.wait_for_function(
        f"document.querySelector('#qa-source .qa-source-head').innerText.includes({json.dumps(text)})"
    )


def test_selecting_a_citation_or_an_earlier_answer_shows_its_source(page) -> None:
    ask(page, "Who is the head of the UN Counter-Terrorism Office?")
    record_timing("browser_later_question_to_answer_s", ask(page, "How do I index my own documents?"))
    assert "ISIL" not in page.inner_text("#qa-source .qa-source-head")
    labels = page.locator("#qa-citations label")
    assert labels.first.inner_text().startswith("Q2 [1]") and labels.last.inner_text().startswith("Q1 [1]")
    labels.last.click()  # a citation of the first answer
    source_head_includes(page, "ISIL")
    assert "Voronkov" in page.inner_text("#qa-source mark.qa-cited")
    labels.first.click()
    page.wait_for_function("!document.querySelector('#qa-source .qa-source-head').innerText.includes('ISIL')")
    page.locator("#qa-chat [data-testid=bot]").first.click()  # the first answer's bubble
    source_head_includes(page, "ISIL")


def test_out_of_corpus_question_says_so_and_lists_the_closest_passages(page) -> None:
    ask(page, "What is the boiling point of mercury?")
    message = page.locator("#qa-chat .qa-abstain").last.inner_text()
    assert "No answer found" in message and "documents do not contain" in message
    closest = page.locator("#qa-chat .qa-closest").last
    assert "Closest passages" in closest.inner_text()
    assert closest.locator("li").count() == AnswerSettings().passages
    assert page.locator("#qa-chat .qa-answer").count() == 0  # nothing is quoted as if it answered
    page.screenshot(path=str(OUTPUT / "browser-abstained.png"), full_page=True)


def test_uploaded_document_is_searchable_without_restart(page, tmp_path: Path) -> None:
    before = int(re.search(r"(\d+) documents", page.inner_text("#qa-status")).group(1))
    notes = tmp_path / "lighthouse-notes.md"
    notes.write_text("# Lighthouse notes\n\nThe lighthouse keeper winds the great clock every Tuesday at dawn.\n")
    result = upload(page, notes)
    assert "Indexed 1 file(s)" in result and "searchable now" in result
    assert any("indexing uploads/lighthouse-notes.md" in text for text in page.evaluate("window.__progress"))
    page.wait_for_function(f"document.querySelector('#qa-status').innerText.includes('{before + 1} documents')")
    ask(page, "When does the lighthouse keeper wind the clock?")
    assert "every Tuesday" in page.locator("#qa-chat .qa-answer").last.inner_text()
    assert "Lighthouse notes" in page.inner_text("#qa-source .qa-source-head")
    assert "every Tuesday" in page.inner_text("#qa-source mark.qa-cited")


def test_hostile_document_is_shown_as_text_and_never_runs(page, tmp_path: Path) -> None:
    hostile = tmp_path / "vault-notes.md"
    hostile.write_text(XSS_DOCUMENT)
    assert "Indexed 1 file(s)" in upload(page, hostile)
    ask(page, "Where is the vault combination written?")
    page.click("#qa-details button, #qa-details .label-wrap")
    page.wait_for_selector("#qa-retrieval table.qa-retrieval", state="visible")
    page.wait_for_timeout(1000)  # give any injected handler the time to fire
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    for area in ("#qa-chat", "#qa-source", "#qa-retrieval", "#qa-citations"):
        assert page.locator(f"{area} script, {area} img, {area} svg[onload], {area} a[href^='javascript']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    passage = page.inner_text("#qa-source .qa-passage")
    assert "<script>window.__xss='script';alert('script')</script>" in passage
    assert "[open the vault](javascript:window.__xss='md-link')" in passage
    assert "**not bold** $x^2$" in passage
    assert "<img src=x onerror=" in page.inner_text("#qa-source .qa-source-head")  # the hostile title, as text
    assert "blue card" in page.locator("#qa-chat .qa-answer").last.inner_text()
    page.screenshot(path=str(OUTPUT / "browser-hostile-document.png"), full_page=True)


def test_unsupported_upload_is_rejected_with_a_clear_message(page, tmp_path: Path) -> None:
    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ\x90\x00 not a document")
    result = upload(page, program)
    assert "Rejected setup.exe: unsupported file type '.exe'" in result
    assert "Indexed" not in result
    page.wait_for_selector(".toast-body :text('setup.exe rejected')")  # the warning toast says so too


def test_hostile_file_name_is_shown_as_text(page, tmp_path: Path) -> None:
    hostile = tmp_path / "x<img src=x onerror=\"window.__xss='name';alert(1)\">.exe"
    hostile.write_bytes(b"MZ")
    result = upload(page, hostile)
    page.wait_for_timeout(1000)
    assert "unsupported file type '.exe'" in result
    assert page.evaluate("window.__xss") is None and page.dialogs == []
    assert page.locator("#qa-upload-result img, .toast-body img").count() == 0
