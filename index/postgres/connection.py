"""Connections to a PostgreSQL store: the only module that imports psycopg and pgvector.

Settings come from the URL, and whatever it leaves out from the standard ``PG*`` variables
(libpq reads them). A password never leaves this module: every place that shows a store names
it by ``redact(url)``, and connection errors are reworded with the URL redacted.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pgvector.psycopg import register_vector

from qa.core.errors import IndexLocked, StoreUnavailable

STORE_ENV = "QA_STORE"
SCHEMES = ("postgresql://", "postgres://")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)

Connection = psycopg.Connection
DatabaseError = psycopg.Error
UndefinedTable = psycopg.errors.UndefinedTable
__all__ = ["Connection", "DatabaseError", "UndefinedTable", "connect", "redact", "use_vectors"]


def use_vectors(conn: Connection) -> None:
    """Make ``conn`` read and write pgvector's types (after CREATE EXTENSION vector)."""
    register_vector(conn)


def is_store_url(text: str) -> bool:
    return text.startswith(SCHEMES)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the user part and in the query)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:  # rebuilt only then: urlunsplit drops the "//" of an empty host (postgresql:///db)
        user, _, host = parts.netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        url = urlunsplit(parts._replace(netloc=f"{user}@{host}"))
    return _PASSWORD_PARAM.sub(r"\1***", url)


def _scrub(message: str, url: str) -> str:
    password = urlsplit(url).password
    return message.replace(password, "***") if password else message


def connect(url: str, *, autocommit: bool = False, vectors: bool = True) -> Connection:
    """A connection to the store at ``url``; StoreUnavailable (URL redacted) when it cannot be made.

    ``vectors``: register pgvector's types (the extension must exist in the database).
    """
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name="qa", connect_timeout=10)
    except psycopg.Error as exc:
        reason = _scrub(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__, url)
        raise StoreUnavailable(f"cannot connect to the store {redact(url)}: {reason}") from None
    if vectors:
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            conn.close()
            raise StoreUnavailable(
                f"the store {redact(url)} has no pgvector extension (CREATE EXTENSION vector needs it installed)"
            ) from None
    return conn


def take_writer_lock(conn: Connection, key: int, url: str) -> None:
    """Take the store's writer lock until the current transaction ends; IndexLocked when another
    writer holds it (a dead writer's lock goes with its connection)."""
    held = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    if not held or not held[0]:
        raise IndexLocked(f"another process is writing the store {redact(url)}")
