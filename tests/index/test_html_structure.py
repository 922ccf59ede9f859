"""HTML pages read as a reader sees them (issue 15): inline elements stay in their sentence,
headings, list items, terms and table rows are paragraphs of their own (so the sentence splitter
never glues them to the next sentence), ``<pre>`` keeps its lines, and navigation is dropped.
The last tests hold these on the real manuals of eval/corpora/realdocs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from index.formats.html import chapter_text, load_html
from index.formats.html_text import page_text
from index.sentences import sentence_spans

REALDOCS = Path(__file__).resolve().parents[2] / "eval" / "corpora" / "realdocs"


def text_of(body: str, *, book: bool = False) -> str:
    return page_text(LexborHTMLParser(f"<html><head><title>T</title></head><body>{body}</body></html>"), book=book)


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


# --- inline elements ----------------------------------------------------------------------------


def test_inline_elements_stay_in_their_sentence() -> None:
    text = text_of(
        "<p>Use <code>git commit\n --amend</code> to fix it; press <kbd>M-6</kbd>, <tt>^K</tt> or "
        '<em>see</em> <a href="#x">the <b>manual</b></a><span>.</span></p>'
    )
    assert text == "Use git commit --amend to fix it; press M-6, ^K or see the manual."


def test_source_line_wrapping_is_not_a_break_and_words_do_not_run_together() -> None:
    text = text_of("<p>The first\n   line   and\tthe <i>sec</i>ond.</p><p>Next<br>line</p>")
    assert text == "The first line and the second.\n\nNext\nline"


# --- headings -----------------------------------------------------------------------------------


def test_headings_are_paragraphs_of_their_own() -> None:
    text = text_of("<h1>Title</h1>Loose text<h3>1.3. Why the name?</h3><blockquote><p>Because.</p></blockquote>")
    assert text == "Title\n\nLoose text\n\n1.3. Why the name?\n\nBecause."
    assert "Why the name?" in sentences(text)


def test_a_faq_question_in_a_definition_term_is_a_paragraph() -> None:
    text = text_of("<dl><dt>What is <code>user.name</code>?</dt><dd><p>Your name.</p><p>More.</p></dd></dl>")
    assert text == "What is user.name?\n\nYour name.\n\nMore."


def test_consecutive_terms_are_lines_of_one_paragraph() -> None:
    text = text_of("<dl><dt><samp>-E</samp></dt><dt><samp>--tabstospaces</samp></dt><dd><p>Convert tabs.</p></dd></dl>")
    assert text == "-E\n--tabstospaces\n\nConvert tabs."


def test_faq_question_markup_and_summary_are_paragraphs() -> None:
    text = text_of(
        '<div><span class="question">Can I?</span> Yes you can.</div><details><summary>Why?</summary>Because.</details>'
    )
    assert text == "Can I?\n\nYes you can.\n\nWhy?\n\nBecause."


def test_bold_paragraphs_and_bold_first_lines_are_headings() -> None:
    text = text_of("<p><b>In the beginning...</b></p><p>For years.</p><p><strong>Q: Why?</strong><br>Because.</p>")
    assert text == "In the beginning...\n\nFor years.\n\nQ: Why?\n\nBecause."
    # A block of bold lines is a list of commands, not a heading over the rest.
    assert text_of("<p><b>cd nano/</b><br><b>make</b><br><b>make install</b> # as root</p>") == (
        "cd nano/\nmake\nmake install # as root"
    )


# --- lists, pre, tables -------------------------------------------------------------------------


def test_list_items_are_paragraphs_without_invented_markers() -> None:
    text = text_of("<p>Limits:</p><ul><li>Maximum length of a line.</li><li>Nested<ol><li>inner</li></ol></li></ul>")
    assert text == "Limits:\n\nMaximum length of a line.\n\nNested\n\ninner"
    assert "Maximum length of a line." in sentences(text)


def test_pre_keeps_its_lines() -> None:
    text = text_of("<p>Run:</p><pre>\n    cd nano-x.y/\n    ./configure\n\n    make   \n</pre><p>Done.</p>")
    assert text == "Run:\n\ncd nano-x.y/\n./configure\n\nmake\n\nDone."


def test_data_tables_are_rows_and_layout_tables_are_blocks() -> None:
    data = "<table><caption>Sizes</caption><tr><th>Type</th><th>Bits</th></tr><tr><td>u8<br>byte</td><td></td>"
    data += "<td><p>8</p></td></tr></table>"
    assert text_of(data) == "Sizes\n\nType | Bits\n\nu8 byte | 8"
    layout = "<table><tr><td><h2>Menu-less page</h2><p>Body text.</p></td><td><ul><li>Item</li></ul></td></tr></table>"
    assert text_of(layout) == "Menu-less page\n\nBody text.\n\nItem"


# --- boilerplate --------------------------------------------------------------------------------

SITE = """
<header><a href="/">Logo</a><div>SiteBanner</div></header>
<nav><a href="/a">NavA</a><a href="/b">NavB</a></nav>
<div class="breadcrumb"><a href="/">Home</a> &gt; <a href="/docs">Docs</a></div>
<div id="main-text">
  <h1>Page title</h1>
  <p>Real text of the page, long enough to be most of it, with a <a href="/x">link</a> inside.</p>
  <ul><li><a href="https://mirror.example.org/">https://mirror.example.org/</a></li>
      <li><a href="https://ftp.example.org/">https://ftp.example.org/</a></li></ul>
  <p>Next: <a href="b.html">Invoking</a>, Previous: <a href="a.html">Introduction</a>, Up: <a href="t.html">Top</a></p>
</div>
<aside>Related posts</aside>
<div id="footer">Last updated 2024</div>
<footer>Copyright</footer>
"""


def test_navigation_and_site_furniture_are_dropped() -> None:
    assert text_of(SITE) == (
        "Page title\n\nReal text of the page, long enough to be most of it, with a link inside.\n\n"
        "https://mirror.example.org/\n\nhttps://ftp.example.org/"
    )


def test_a_table_of_contents_is_dropped_but_headings_with_permalinks_are_kept() -> None:
    toc = (
        "<h3>Table of Contents</h3><h3><a href='#1'>1. General</a></h3>"
        "<blockquote><p><a href='#1.1'>1.1. What?</a><br><a href='#1.2'>1.2. Why?</a></p></blockquote>"
        "<table class='menu'><tr><td>&bull; <a href='#g'>General</a></td></tr></table>"
    )
    body = "<h1 id='1'><a name='1'></a>1. General</h1><h3 id='g'><a href='#g'>1.1. What?</a></h3><p>This.</p>"
    assert text_of(toc + body) == "1. General\n\n1.1. What?\n\nThis."


def test_article_header_and_main_are_kept() -> None:
    page = "<header><ul class='menu'><li>Shop</li></ul></header><main><header><h1>Post</h1></header><p>Body.</p>"
    page += "<footer>Posted Monday</footer></main><footer>Site footer</footer>"
    assert text_of(page) == "Post\n\nBody.\n\nPosted Monday"
    # A page header holding the page's title (asciidoc's <div id="header"><h1>…) is kept.
    assert text_of("<div id='header'><h1>gitfaq(7)</h1></div><p>Text.</p>") == "gitfaq(7)\n\nText."


def test_a_wrapper_named_like_furniture_is_not_dropped() -> None:
    assert text_of("<div class='page has-sidebar'><p>All the text of the page.</p></div>") == (
        "All the text of the page."
    )


def test_hidden_and_script_text_is_dropped() -> None:
    body = "<p>Shown.</p><p hidden>Hidden.</p><div style='display: none'>Gone.</div><script>x()</script>"
    body += "<button>Copy</button><template><p>Later</p></template>"
    assert text_of(body) == "Shown."


def test_book_chapters_keep_headers_and_asides() -> None:
    body = "<header><h2>The Harbour</h2></header><p>Boats.</p><aside class='footer'>A footnote.</aside>"
    body += "<nav><ol><li><a href='#a'>Contents</a></li></ol></nav>"
    assert text_of(body, book=True) == "The Harbour\n\nBoats.\n\nA footnote."
    title, text = chapter_text(f"<html><head><title>Ch</title></head><body>{body}</body></html>".encode())
    assert (title, text) == ("Ch", "The Harbour\n\nBoats.\n\nA footnote.")


def test_deep_nesting_is_read_without_recursion() -> None:
    depth = 5000
    started = time.monotonic()
    assert text_of("<div>" * depth + "deep <b>text</b>" + "</div>" * depth) == "deep text"
    assert text_of("<ul><li>" * depth + "item" + "</li></ul>" * depth) == "item"
    assert time.monotonic() - started < 10


# --- the real manuals ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def realdocs() -> dict[str, str]:
    return {
        name: load_html(REALDOCS / name, doc_id=name, source=name).text
        for name in ("nano.html", "nano-faq.html", "gitfaq.html")
    }


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def test_nano_faq_questions_are_paragraphs_before_their_answers(realdocs: dict[str, str]) -> None:
    text = realdocs["nano-faq.html"]
    blocks = paragraphs(text)
    question = "1.3. Why the name change from TIP?"
    assert blocks[blocks.index(question) + 1].startswith("On January 10, 2000, TIP was officially renamed")
    assert "4.6. When I paste text into a document, each line gets indented further than the last. Why? And " in text
    # No sentence runs a question into its answer.
    assert not [s for s in sentences(text) if "TIP?" in s and "January" in s]
    # The table of contents at the top is gone (its wording differs from the headings').
    assert "manpage without" not in text and "FTP and WWW sites" not in text
    assert "In the beginning...\n\nFor years Pine" in text
    assert "cd nano-x.y/\n./configure\nmake\nmake install #(as root, of course)" in text


def test_gitfaq_questions_and_inline_code(realdocs: dict[str, str]) -> None:
    text = realdocs["gitfaq.html"]
    assert "\n\nWhat should I put in user.name?\n\nYou should put your personal name" in text
    inline = (
        "The examples in this FAQ assume a standard POSIX shell, like bash or dash, and a user, A U Thor, "
        "who has the account author on the hosting provider git.example.org."
    )
    assert inline in paragraphs(text)
    assert "to stage it, and then git commit --amend. Your change" in text
    assert "# By default, guess.\n*       text=auto\n" in text
    assert "Last updated" not in text  # the page footer


def test_nano_manual_options_and_keys(realdocs: dict[str, str]) -> None:
    text = realdocs["nano.html"]
    assert "A line of text can be copied into the cutbuffer (without cutting it) with M-6." in sentences(text)
    assert "\n\n-E\n--tabstospaces\n\nConvert each typed tab to spaces" in text
    assert "\n\n3.4 The Cutbuffer\n\n" in text
    assert "\n\nFor characters with a single-byte code, pressing the Esc key twice" in text
    assert "• Introduction" not in text  # the menus (tables of contents) of the Texinfo manual
    assert not [line for line in text.splitlines() if line.startswith("- ")]
