"""The scale harness itself: a real PostgreSQL 18 + pgvector server and a local Ray cluster come up and go away."""

from __future__ import annotations

import os

import pytest
from pgserver import LocalPostgres

pytestmark = pytest.mark.scale


def test_password_auth_over_tcp(postgres_server: LocalPostgres, pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT current_user, inet_server_addr()::text, current_setting('server_version_num')"
        ).fetchone()
    assert row is not None
    assert row[0] == "qa"
    assert row[1].startswith("127.0.0.1")
    assert int(row[2]) >= 180000

    wrong = pg_url.replace(f":{postgres_server.password}@", ":not-the-password@")
    assert wrong != pg_url
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()


def test_pgvector_hnsw(postgres_server: LocalPostgres, pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert version is not None
        print(f"pgvector {version[0]}")
        assert tuple(int(x) for x in version[0].split(".")[:2]) >= (0, 8)

        conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]'), (4, '[0,0,1]')")
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_ip_ops)")
        conn.execute("SET enable_seqscan = off")  # make the planner use (and so exercise) the HNSW index
        plan = "\n".join(
            r[0] for r in conn.execute("EXPLAIN SELECT id FROM items ORDER BY embedding <#> '[1,0,0]' LIMIT 2")
        )
        assert "items_embedding_idx" in plan
        ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY embedding <#> '[1,0,0]' LIMIT 2")]
    assert ids == [1, 3]


def test_databases_are_per_test(pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'items'").fetchone()
    assert tables == (0,)


def test_log_never_shows_the_password(postgres_server: LocalPostgres, pg_url: str) -> None:
    log = postgres_server.log_text()
    assert "ready to accept connections" in log
    assert postgres_server.password not in log


def test_stop_ends_the_process(postgres_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A second, private server (stopping the session one would break other tests); `postgres_server` is requested
    only so a missing extra skips/fails here by the same rule."""
    server = LocalPostgres.start(tmp_path_factory.mktemp("pgstop"))
    pid = server.pid
    os.kill(pid, 0)  # alive
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "database system is shut down" in server.log_text()


def test_ray_data_map(ray_local: str) -> None:
    import ray

    assert ray.is_initialized()
    assert ray_local.startswith("127.0.0.1:")
    rows = ray.data.from_items([{"x": i} for i in range(5)]).map(lambda row: {"x": row["x"], "y": row["x"] ** 2})
    assert sorted((r["x"], r["y"]) for r in rows.take_all()) == [(i, i * i) for i in range(5)]
