"""Which parts of an HTML page are navigation or site furniture rather than its text.

Three simple rules, no statistics over a corpus:

- semantic markup: ``<nav>``, ARIA navigation roles, and (on web pages, not in books) ``<aside>``,
  and the page's ``<header>``/``<footer>`` (not those inside ``<article>``/``<main>``, nor one
  holding the ``<h1>``: an article's header holds its title);
- ``id``/``class`` names such as ``menu``, ``sidebar``, ``breadcrumb``, ``toc``, ``footer`` (web
  pages only: a book's class names describe typography, not site furniture);
- link lists: a list, table or paragraph whose text is nearly all links within the same site
  (a table of contents, a menu, a manual's "Next: … Previous: … Up: …" line), and a heading that is
  just a link to another part of the page (the section titles a table of contents repeats).

Links to other sites (``https://…``) are content: a FAQ's list of download sites is an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborNode

# Elements that never hold readable text (or whose text is a widget's, not the document's).
NEVER_TEXT = frozenset(
    {"script", "style", "noscript", "template", "svg", "iframe", "head", "object", "embed", "canvas"}
    | {"button", "select", "textarea", "audio", "video", "form"}
)
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_NAV_ROLES = frozenset({"navigation", "menu", "menubar", "search"})
_NAV_NAMES = frozenset(
    {"nav", "navbar", "navigation", "menu", "menubar", "breadcrumb", "breadcrumbs", "sidebar", "toc", "pagination"}
    | {"pager", "skip", "cookie", "cookies", "share", "social"}
)
# A page's <header>/<footer>, and blocks named or given roles so.
_EDGE_TAGS = frozenset({"header", "footer"})
_EDGE_NAMES = frozenset({"header", "footer", "masthead", "banner", "colophon"})
_EDGE_ROLES = frozenset({"banner", "contentinfo"})
_NEVER_NAMED = frozenset({"html", "body", "main", "article"})
# Words a navigation line adds around its links ("Next: Invoking, Previous: Introduction, Up: Top").
_NAV_LABELS = re.compile(r"\b(?:next|previous|prev|up|top|home|back|contents|index)\b", re.IGNORECASE)
_CONTENTS_HEADING = re.compile(r"(?:table of )?contents|on this page", re.IGNORECASE)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # a scheme (https:, mailto:) or //host
_LINK_LISTS = frozenset({"p", "ul", "ol", "dl", "table", "menu"})
_NAME_SPLIT = re.compile(r"[^a-z0-9]+")
# Class names only count for a block holding less than this share of the page's text, so that a
# wrapper such as <div class="page-with-sidebar"> around everything is never dropped.
_MAX_NAMED_SHARE = 0.5
_MAX_TEXT_OUTSIDE_LINKS = 0.1


@dataclass(slots=True)
class _Counts:
    """Letters and digits under an element: all, those outside same-site links (nav labels left
    out, and counted apart), the number of same-site links, and whether it holds an ``<h1>``."""

    total: int = 0
    outside: int = 0
    links: int = 0
    labels: int = 0
    title: bool = False


_NONE = _Counts()


class Boilerplate:
    """The rules above for one page; ``book`` keeps headers, footers, asides and class names."""

    def __init__(self, root: LexborNode, *, book: bool) -> None:
        self._book = book
        self._counts = _count(root)
        self._page_total = max(self._counts[root.mem_id].total, 1)

    def drops(self, node: LexborNode, *, in_content: bool) -> bool:
        """Whether ``node`` (an element) is boilerplate; ``in_content``: it is inside an
        ``<article>`` or ``<main>``."""
        tag, attributes = node.tag, node.attributes
        role = (attributes.get("role") or "").lower()
        if tag == "nav" or role in _NAV_ROLES:
            return True
        if tag in HEADINGS:
            return _links_elsewhere(node) or bool(_CONTENTS_HEADING.fullmatch(node.text().strip()))
        if tag in _LINK_LISTS and self._is_link_list(node):
            return True
        if self._book:
            return False
        counts = self._counts.get(node.mem_id, _NONE)
        if tag == "aside" or role == "complementary":
            return True
        if tag in _EDGE_TAGS or role in _EDGE_ROLES:
            return not in_content and not counts.title
        if tag in _NEVER_NAMED or counts.total >= _MAX_NAMED_SHARE * self._page_total:
            return False
        names = set(_NAME_SPLIT.split(f"{attributes.get('id') or ''} {attributes.get('class') or ''}".lower()))
        if names & _NAV_NAMES:
            return True
        return bool(names & _EDGE_NAMES) and not in_content and not counts.title

    def _is_link_list(self, node: LexborNode) -> bool:
        counts = self._counts.get(node.mem_id, _NONE)
        if counts.total == 0 or counts.links == 0:
            return False
        if counts.links < 2 and counts.labels == 0:
            return False  # one link in a paragraph ("see <a>Invoking</a>") is a reference, not a menu
        return counts.outside <= _MAX_TEXT_OUTSIDE_LINKS * counts.total


def hidden(node: LexborNode) -> bool:
    attributes = node.attributes
    if "hidden" in attributes or (attributes.get("aria-hidden") or "").lower() == "true":
        return True
    style = (attributes.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _same_site(node: LexborNode) -> bool:
    href = node.attributes.get("href")
    return href is not None and not _EXTERNAL.match(href.strip())


def _alnum(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _count(root: LexborNode) -> dict[int, _Counts]:
    """``_Counts`` of every element under ``root`` (by ``mem_id``), in one pass without recursion
    (a hostile page may nest elements thousands deep)."""
    counts: dict[int, _Counts] = {}
    # Each frame: the element, its children still to visit, its counts, whether it is in a link.
    stack: list[tuple[LexborNode, list[LexborNode], _Counts, bool]] = []

    def enter(node: LexborNode, in_link: bool) -> None:
        in_link = in_link or (node.tag == "a" and _same_site(node))
        children = list(node.iter(include_text=True))
        children.reverse()
        own = _Counts(links=int(node.tag == "a" and _same_site(node)), title=node.tag == "h1")
        stack.append((node, children, own, in_link))

    enter(root, False)
    while stack:
        node, children, own, in_link = stack[-1]
        if children:
            child = children.pop()
            if child.is_text_node:
                text = child.text_content or ""
                n = _alnum(text)
                own.total += n
                if not in_link:
                    labels = sum(_alnum(m.group()) for m in _NAV_LABELS.finditer(text))
                    own.labels += labels
                    own.outside += n - labels
            elif child.is_element_node and child.tag not in NEVER_TEXT:
                enter(child, in_link)
            continue
        stack.pop()
        counts[node.mem_id] = own
        if stack:
            parent = stack[-1][2]
            parent.total += own.total
            parent.outside += own.outside
            parent.links += own.links
            parent.labels += own.labels
            parent.title = parent.title or own.title
    return counts


def _links_elsewhere(heading: LexborNode) -> bool:
    """A heading whose whole text is a link to another part of the page: a table-of-contents
    entry. A heading linking to itself (a permalink) is a real heading."""
    text = _alnum(heading.text())
    links = [a for a in heading.css("a[href]") if (a.attributes.get("href") or "").startswith("#")]
    if not text or not links or sum(_alnum(a.text()) for a in links) < text:
        return False
    own = {heading.attributes.get("id")} | {
        node.attributes.get("id") or node.attributes.get("name") for node in heading.css("[id], [name]")
    }
    return all((a.attributes.get("href") or "")[1:] not in own for a in links)
