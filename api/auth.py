"""Who may call the API of ``qa serve``: ``Authorization: Bearer TOKEN`` checked against the
credential store (qa/core/credentials.py), a rate limit per token, and a daily upload count per token.

``Gate.admit`` is asked by every route of ``/api/v1`` and ``/v1`` (api/http.py ``ErrorsAsJSON``) and
by ``/mcp`` (``Gate.protect``); it raises ``Denied`` (401, or 429 with ``Retry-After``), whose message
names the limit. The token itself is never logged nor put in a message.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qa.core.credentials import CredentialStore
from qa.core.errors import BadCollection
from qa.core.types import ALL_COLLECTIONS, DEFAULT_COLLECTION, check_collection

SCOPE_KEY = "qa.token"  # the request scope's entry holding the Admitted caller
DEFAULT_RATE = "60/min"
DEFAULT_UPLOADS_PER_DAY = 100
_UNITS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "day": 86400}
_DAY = 86400.0


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: float
    text: str

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``N/UNIT`` (sec, min, hour, day), e.g. ``60/min``; ValueError naming the value otherwise."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*([a-z]+)\s*", text.lower())
        if not match or match.group(2) not in _UNITS or int(match.group(1)) < 1:
            raise ValueError(f"rate limit {text!r} is not N/sec, N/min, N/hour or N/day with N >= 1")
        return cls(int(match.group(1)), float(_UNITS[match.group(2)]), text.strip())


class Denied(Exception):
    """A request refused: its status, a message naming the reason or limit, and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class _Window:
    """The times of the events in the last ``seconds`` (a sliding window)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.times: deque[float] = deque()

    def count(self, now: float) -> int:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        return len(self.times)

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.times[0] + self.seconds - now))


@dataclass(frozen=True)
class Admitted:
    """The caller of one request: the name of its token and the collections it was granted."""

    token: str
    gate: Gate
    collections: tuple[str, ...] = (DEFAULT_COLLECTION,)  # in the order granted; "*": all

    def charge_uploads(self, files: int) -> None:
        self.gate.charge_uploads(self.token, files)

    @property
    def allowed(self) -> frozenset[str] | None:
        """What this caller may see; None: everything."""
        return None if ALL_COLLECTIONS in self.collections else frozenset(self.collections)


def allowed_of(scope: Any) -> frozenset[str] | None:
    """The collections the caller of a request (its scope) may see; None (all) when nothing is guarded."""
    caller: Admitted | None = scope.get(SCOPE_KEY) if scope is not None else None
    return None if caller is None else caller.allowed


def upload_collection_of(scope: Any, asked: str | None) -> str:
    """The collection an upload goes to: ``asked`` when granted (BadCollection otherwise), else the
    caller's first granted collection (``default`` without a gate or for ``*``)."""
    caller: Admitted | None = scope.get(SCOPE_KEY) if scope is not None else None
    if asked:
        check_collection(asked)
        if caller is not None and caller.allowed is not None and asked not in caller.allowed:
            raise BadCollection(f"collection {asked!r} is not granted to token {caller.token!r}")
        return asked
    first = caller.collections[0] if caller is not None and caller.collections else DEFAULT_COLLECTION
    return DEFAULT_COLLECTION if first == ALL_COLLECTIONS else first


class Gate:
    def __init__(
        self,
        store: CredentialStore,
        rate: Rate,
        uploads_per_day: int = DEFAULT_UPLOADS_PER_DAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.rate = rate
        self.uploads_per_day = uploads_per_day
        self.clock = clock
        self._lock = threading.Lock()
        self._requests: dict[str, _Window] = {}
        self._uploads: dict[str, _Window] = {}

    def admit(self, authorization: str | None) -> Admitted:
        """The caller of a request with this ``Authorization`` header; Denied (401, 429) otherwise."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Denied(401, "an API token is required: send 'Authorization: Bearer TOKEN'", _CHALLENGE)
        name = self.store.token_name(token.strip())
        if name is None:
            raise Denied(401, "the API token is not valid (unknown or revoked)", _CHALLENGE)
        with self._lock:
            window = self._requests.setdefault(name, _Window(self.rate.seconds))
            now = self.clock()
            if window.count(now) >= self.rate.requests:
                wait = window.retry_after(now)
                raise Denied(
                    429,
                    f"rate limit of token {name!r} reached ({self.rate.text}, --rate-limit); retry in {wait} s",
                    {"Retry-After": str(wait)},
                )
            window.times.append(now)
        return Admitted(name, self, self.store.token_collections(name))

    def charge_uploads(self, token: str, files: int) -> None:
        """Count ``files`` uploaded with ``token``; Denied (429) when that would pass the daily limit."""
        with self._lock:
            window = self._uploads.setdefault(token, _Window(_DAY))
            now = self.clock()
            if window.count(now) + files > self.uploads_per_day:
                wait = window.retry_after(now) if window.times else int(_DAY)
                raise Denied(
                    429,
                    f"upload limit of token {token!r} reached: {self.uploads_per_day} files a day "
                    f"(--upload-limit); {window.count(now)} uploaded in the last 24 hours",
                    {"Retry-After": str(wait)},
                )
            window.times.extend([now] * files)

    def protect(self, app: Any) -> Any:
        """The ASGI ``app`` behind this gate (for ``/mcp``)."""
        return _Protected(self, app)


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class _Protected:
    """An ASGI app that answers Denied requests itself, with ``{"error": message}``. A class, not a
    function: starlette's Route treats a plain function as a request handler, an object as ASGI."""

    def __init__(self, gate: Gate, app: Any) -> None:
        self.gate = gate
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            authorization = None
            for key, value in scope.get("headers", []):
                if key.lower() == b"authorization":  # the first, as /api/v1 and /v1 read it
                    authorization = value.decode("latin-1")
                    break
            try:
                scope[SCOPE_KEY] = self.gate.admit(authorization)
            except Denied as denied:
                body = json.dumps({"error": denied.message}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                headers += [(k.lower().encode(), v.encode()) for k, v in denied.headers.items()]
                await send({"type": "http.response.start", "status": denied.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
