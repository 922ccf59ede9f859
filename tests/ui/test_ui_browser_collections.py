"""Collections in Debian's Chromium: users ``red`` and ``blue``, logged in through gradio's login
page, each see answers from their own collection only.

One ``qa serve`` subprocess on 127.0.0.1 (hashing embedder, a "red" and a "blue" document, two
users granted one collection each) serves the module and is stopped by its PID. Each user asks the
question only their document answers (and sees it cited), then the one only the other document
answers (and sees none of its text anywhere on the page). A screenshot goes to ``test-output/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from chromium import local_context
from test_ui_browser import ask
from ui_server import BLOCKED, OUTPUT, Server, collections_index, start_server

from qa.core.credentials import CredentialStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long pass phrase"
# Made-up words, so the hashing embedder and BM25 find each document by its own words only.
DOCUMENTS = {
    "red": (
        "zorblax.txt",
        "The zorblax furnace of Quentaria glows crimson at night. "
        "Velmorth Drakespindle built the zorblax furnace in the spring of 1742.\n",
    ),
    "blue": (
        "glimmerwick.txt",
        "The glimmerwick lantern of Osparine hangs over the harbour. "
        "Tamsin Orrowbeck lit the glimmerwick lantern in the winter of 1851.\n",
    ),
}
QUESTIONS = {"red": "Who built the zorblax furnace?", "blue": "Who lit the glimmerwick lantern?"}
# Phrases of each document that no question contains: seen on a page only if the document leaked.
PHRASES = {
    "red": ["Drakespindle", "Quentaria", "glows crimson", "1742"],
    "blue": ["Orrowbeck", "Osparine", "over the harbour", "1851"],
}
ANSWERS = {"red": "Velmorth Drakespindle", "blue": "Tamsin Orrowbeck"}
OTHER = {"red": "blue", "blue": "red"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser-collections")
    index = collections_index(folder, DOCUMENTS)
    auth_file = folder / "creds" / "auth.json"
    store = CredentialStore(auth_file)
    for name in ("red", "blue"):
        store.add_user(name, PASSWORD, [name])
    args = ["--index", str(index), "--uploads", str(folder / "uploads"), "--auth-file", str(auth_file)]
    running = start_server(args, folder / "logs")
    try:
        yield running
    finally:
        running.stop()
    assert BLOCKED not in running.stderr()


def _log_in(browser, server: Server, who: str):
    """A fresh browser context logged in as ``who`` through gradio's login page, and its page."""
    context, outside = local_context(browser, server.url)
    page = context.new_page()
    page.outside = outside
    page.goto(server.url)
    page.locator("input[type=text]").first.fill(who)
    page.locator("input[type=password]").first.fill(PASSWORD)
    page.locator("button", has_text="Login").first.click()
    page.wait_for_selector("#qa-question textarea")
    return context, page


def _as_words(phrase: str) -> re.Pattern[str]:
    """``phrase`` standing as words of its own: "1851" inside gradio's hex hashes ("6518512f") is not a leak."""
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(phrase)}(?![0-9A-Za-z])")


def _assert_shows_nothing_of(page, other: str) -> None:
    text = page.inner_text("body")
    html = page.content()
    for phrase in PHRASES[other]:
        assert phrase not in text, f"{other}'s {phrase!r} shows on the page"
        assert not _as_words(phrase).search(html), f"{other}'s {phrase!r} is in the page's HTML"
    assert DOCUMENTS[other][0] not in html  # nor its file name


@pytest.mark.parametrize("who", ["red", "blue"])
def test_each_browser_user_sees_only_their_collection(browser, server: Server, who: str) -> None:
    other = OTHER[who]
    context, page = _log_in(browser, server, who)
    try:
        _assert_shows_nothing_of(page, other)
        ask(page, QUESTIONS[who])  # only their own document answers this
        assert ANSWERS[who] in page.locator("#qa-chat .qa-answer").last.inner_text()
        source = page.inner_text("#qa-source")
        assert ANSWERS[who] in source and DOCUMENTS[who][0] in page.inner_text("#qa-source .qa-source-head")
        assert all(phrase in page.inner_text("body") for phrase in PHRASES[who])  # the check below can see text
        _assert_shows_nothing_of(page, other)

        ask(page, QUESTIONS[other])  # only the other document answers this: abstain, or cite their own
        assert page.locator("#qa-chat .qa-query").count() == 2
        _assert_shows_nothing_of(page, other)
        page.click("#qa-details button, #qa-details .label-wrap")  # the retrieval details list passages too
        page.wait_for_selector("#qa-retrieval", state="visible")
        _assert_shows_nothing_of(page, other)
        documents = page.inner_text("#qa-documents") + page.inner_text("#qa-status")
        assert DOCUMENTS[other][0] not in documents
        assert not any(phrase in documents for phrase in PHRASES[other])
        # The status line counts only the user's own collection (one document), not the whole index.
        assert "Index: 1 documents" in page.inner_text("#qa-status")
        if who == "red":
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "browser-collections-red.png"), full_page=True)
    finally:
        context.close()
    assert page.outside == [], f"the page asked for resources off this machine: {page.outside}"
