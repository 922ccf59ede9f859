"""Debian's Chromium for the browser tests, and a context that never reaches another host."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def local_context(browser, url: str, height: int = 1000):
    """A fresh browser context on the server at ``url`` in which every request for another host is
    refused; the refused URLs collect in the returned list (a test asserts it stays empty)."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    outside: list[str] = []
    local = url.rstrip("/")

    def refuse(route) -> None:
        outside.append(route.request.url)
        route.abort()

    context.route(lambda target: not target.startswith((local, "data:", "blob:")), refuse)
    return context, outside
