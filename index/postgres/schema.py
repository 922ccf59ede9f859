"""The tables of a PostgreSQL store and its one-row meta table (the manifest and the generation).

Documents, chunks (with their vector, pgvector), sentences (their float16 vector and token
signs as bytes: never searched in SQL, only read back with their chunk, and bytes need no
parsing) and BM25 postings (term, chunk, tf) are plain tables. A writer changes them in one
transaction and bumps ``qa_meta.generation`` in the same one, so a reader's snapshot holds one
generation whole. No foreign keys: a writer deletes a document's rows itself, and bulk COPY
does not pay a check per row.
"""

from __future__ import annotations

import json

from index.layout import Manifest
from index.postgres.connection import Connection, UndefinedTable

HNSW_INDEX = "qa_chunks_hnsw"
TABLES = ("qa_meta", "qa_documents", "qa_chunks", "qa_sentences", "qa_postings", "qa_terms")


def create(conn: Connection, dim: int) -> None:
    """Create the tables (inside the caller's transaction, after ``CREATE EXTENSION vector``) for
    ``dim``-dimensional vectors."""
    statements = [
        """CREATE TABLE qa_meta (id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1), generation bigint NOT NULL,
            manifest jsonb NOT NULL, next_doc bigint NOT NULL)""",
        """CREATE TABLE qa_documents (row bigint PRIMARY KEY, doc_id text NOT NULL UNIQUE, state bytea NOT NULL,
            collection text NOT NULL, source text NOT NULL, body bytea NOT NULL)""",
        f"""CREATE TABLE qa_chunks (id bigint PRIMARY KEY, doc bigint NOT NULL, start integer NOT NULL,
            "end" integer NOT NULL, tokens integer NOT NULL, length integer NOT NULL, collection text NOT NULL,
            text_key bytea NOT NULL, embedding vector({dim}) NOT NULL)""",
        "CREATE INDEX qa_chunks_doc ON qa_chunks (doc)",
        "CREATE INDEX qa_chunks_text_key ON qa_chunks (text_key)",
        """CREATE TABLE qa_sentences (chunk bigint NOT NULL, n integer NOT NULL, start integer NOT NULL,
            "end" integer NOT NULL, vector bytea NOT NULL, token_count integer NOT NULL,
            token_bits bytea NOT NULL, PRIMARY KEY (chunk, n))""",
        # A posting carries its chunk's length, and qa_terms each term's document frequency, so
        # BM25 reads one index range per query term and joins nothing (docs/scaling.md).
        """CREATE TABLE qa_postings (term text NOT NULL, chunk bigint NOT NULL, tf integer NOT NULL,
            length integer NOT NULL, PRIMARY KEY (term, chunk) INCLUDE (tf, length))""",
        "CREATE TABLE qa_terms (term text PRIMARY KEY, df bigint NOT NULL)",
        "CREATE INDEX qa_postings_chunk ON qa_postings (chunk)",
    ]
    for statement in statements:
        conn.execute(statement)


def drop(conn: Connection) -> None:
    """Drop every table (inside the caller's transaction: readers keep the old ones until commit)."""
    for table in TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def exists(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass('qa_meta') IS NOT NULL").fetchone()
    return bool(row and row[0])


def read_meta(conn: Connection) -> tuple[int, Manifest, int] | None:
    """``(generation, manifest, next document row)``, or None before the first build."""
    if not exists(conn):
        return None
    row = conn.execute("SELECT generation, manifest, next_doc FROM qa_meta").fetchone()
    return None if row is None else _meta(row)


def _meta(row: tuple) -> tuple[int, Manifest, int]:
    manifest = row[1] if isinstance(row[1], dict) else json.loads(row[1])
    return int(row[0]), Manifest.from_json(manifest), int(row[2])


def current_meta(conn: Connection) -> tuple[int, Manifest, int] | None:
    """``read_meta`` in one round trip, for readers: a missing table aborts the caller's
    (read-only) transaction, which a reader then simply ends."""
    try:
        row = conn.execute("SELECT generation, manifest, next_doc FROM qa_meta").fetchone()
    except UndefinedTable:
        return None
    return None if row is None else _meta(row)


def write_meta(conn: Connection, generation: int, manifest: Manifest, next_doc: int) -> None:
    conn.execute(
        """INSERT INTO qa_meta (id, generation, manifest, next_doc) VALUES (1, %s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET generation = EXCLUDED.generation, manifest = EXCLUDED.manifest,
           next_doc = EXCLUDED.next_doc""",
        (generation, json.dumps(manifest.to_json(), ensure_ascii=False), next_doc),
    )


def has_hnsw(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (HNSW_INDEX,)).fetchone()
    return bool(row and row[0])


def create_hnsw(conn: Connection, m: int, ef_construction: int) -> None:
    conn.execute(
        f"CREATE INDEX {HNSW_INDEX} ON qa_chunks USING hnsw (embedding vector_ip_ops) "
        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
    )
