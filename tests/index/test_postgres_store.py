"""The PostgreSQL + pgvector store (index/postgres) against the file index, on a real local server.

The same folder built into an index directory and into a store must search and answer alike; an
update must report and publish the same; a reader sees one generation whole while a writer is in
flight; a writer killed half way leaves the previous generation current and the lock free; two
servers over one database see a third process's update; bad input gets a clear message; and the
store's password shows up nowhere (output, manifest, eval run folder, server log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from pgserver import import_extra

from index.build import build_index
from index.embedding import HashingEmbedder
from index.loaders import iter_sources
from index.store import KILL_ENV, IndexDir
from index.update import update_index
from qa.core.errors import IndexMismatch
from qa.core.paths import PROJECT_ROOT

pytestmark = pytest.mark.scale

PgStore = import_extra("index.postgres.reader", "postgres").PgStore

from index.postgres.connection import redact  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.search.pg_retrieval import PgRetriever  # noqa: E402
from qa.search.retrieval import Retriever  # noqa: E402

GUIDE = PROJECT_ROOT / "docs" / "guide"
MODES = ("hybrid", "dense", "bm25")
QUESTIONS = (
    "How do I add new documents to the index?",
    "How do I index a folder full of my files?",
    "Which file types can it read?",
    "What happens when a file cannot be read?",
    "How do I start the browser chat?",
    "Can I use a language model to write answers?",
    "Where is the index stored?",
    "How do I search without asking a question?",
)
CORPUS = {
    "apples.md": "# Apples\n\nApples grow on trees in orchards. The Granny Smith apple is green and sour.\n",
    "rivers.txt": "The Danube flows through Vienna and Budapest before it reaches the Black Sea.\n",
    "engines.md": "# Engines\n\nA diesel engine ignites fuel by compression, without a spark plug.\n",
    "tea.txt": "Green tea is steamed or pan-fired soon after picking so that its leaves do not oxidise.\n",
}
SMALL_QUESTIONS = (
    "Which apple is green?",
    "Where does the Danube flow?",
    "How does a diesel engine ignite fuel?",
    "Why is green tea steamed?",
)


def write_corpus(folder: Path, files: dict[str, str] = CORPUS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def hit_key(hit) -> tuple:
    return (hit.chunk_id, hit.doc_id, hit.start, hit.end, hit.text)


def assert_same_hits(file_hits, store_hits) -> None:
    """Same hits in the same order, scores equal to 1e-5. Hits that tie exactly (the hashing
    embedder's orthogonal vectors score 0, as do chunks matching no BM25 term) may come in another
    order: the file index orders a tie by row (after an update, the order the files were read),
    the store by chunk id. So both are compared in (score, chunk id) order."""

    def ordered(hits):
        return sorted(hits, key=lambda h: (-round(h.score, 5), h.chunk_id))

    file_hits, store_hits = ordered(file_hits), ordered(store_hits)
    assert [hit_key(h) for h in store_hits] == [hit_key(h) for h in file_hits]
    for a, b in zip(file_hits, store_hits, strict=True):
        assert b.score == pytest.approx(a.score, rel=1e-5, abs=1e-9)
        assert b.scores.dense == pytest.approx(a.scores.dense, rel=1e-5, abs=1e-6)
        assert b.scores.bm25 == pytest.approx(a.scores.bm25, rel=1e-5, abs=1e-9)


def assert_same_search(root: Path, url: str, embedder, questions, **kwargs) -> None:
    file_retriever = Retriever(IndexDir(root).load(), embedder)
    store_retriever = PgRetriever(PgStore(url), embedder)
    for q in questions:
        for mode in MODES:
            file_hits = file_retriever.search(q, k=5, mode=mode, **kwargs)
            assert file_hits or mode == "bm25", (q, mode)
            assert_same_hits(file_hits, store_retriever.search(q, k=5, mode=mode, **kwargs))


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("QA_STORE", KILL_ENV)}
    return {**base, "PYTHONPATH": str(PROJECT_ROOT), "GRADIO_ANALYTICS_ENABLED": "False", **extra}


def qa(*args: str, extra_env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        cwd=PROJECT_ROOT,
        env=env(**(extra_env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def password_of(url: str) -> str:
    password = urlsplit(url).password
    assert password and len(password) >= 8
    return password


# --- 1. the same answers from both stores -------------------------------------------------------------------


def test_store_searches_and_answers_like_the_file_index(tmp_path: Path, pg_url: str, fake_embedder) -> None:
    root = tmp_path / "idx"
    file_report = build_index(iter_sources([GUIDE]), root, fake_embedder)
    store_report = build_index(iter_sources([GUIDE]), PgStore(pg_url), fake_embedder)
    assert (store_report.documents, store_report.chunks) == (file_report.documents, file_report.chunks)
    assert store_report.documents == len(list(GUIDE.glob("*.md")))
    assert store_report.path == redact(pg_url) and password_of(pg_url) not in store_report.path

    assert_same_search(root, pg_url, fake_embedder, QUESTIONS)

    file_engine, store_engine = Engine(root, fake_embedder), Engine(PgStore(pg_url), fake_embedder)
    documents = {d.doc_id: d for d in PgStore(pg_url).documents()}
    assert set(documents) == {d.doc_id for d in IndexDir(root).load().documents}
    for q in QUESTIONS:
        a, b = file_engine.ask(q), store_engine.ask(q)
        assert b.text == a.text, q
        assert b.abstained == a.abstained
        spans = [(c.doc_id, c.start, c.end) for c in b.citations]
        assert spans == [(c.doc_id, c.start, c.end) for c in a.citations], q
        for c in b.citations:
            assert c.text == documents[c.doc_id].text[c.start : c.end]
    assert store_engine.index.counts() == file_engine.index.counts()


def test_collections_search_like_the_file_index(tmp_path: Path, pg_url: str, fake_embedder) -> None:
    a_docs = write_corpus(tmp_path / "a", dict(list(CORPUS.items())[:2]))
    b_docs = write_corpus(tmp_path / "b", dict(list(CORPUS.items())[2:]))
    root, store = tmp_path / "idx", PgStore(pg_url)
    for target in (root, store):
        build_index(iter_sources([a_docs]), target, fake_embedder, collection="a")
        report = update_index([b_docs], target, fake_embedder, collection="b")
        assert (report.added, report.changed, report.removed) == (2, 0, 0)
    assert store.manifest().collections == ("a", "b")
    a_ids = {d.doc_id for d in store.documents() if d.collection == "a"}
    assert len(a_ids) == 2
    only_a = frozenset({"a"})
    assert_same_search(root, pg_url, fake_embedder, SMALL_QUESTIONS, collections=only_a)
    retriever = PgRetriever(store, fake_embedder)
    for q in SMALL_QUESTIONS:
        for mode in MODES:
            assert {h.doc_id for h in retriever.search(q, k=5, mode=mode, collections=only_a)} <= a_ids
    # The same through the engine's answerer restricted to a collection.
    answer = Engine(store, fake_embedder).ask("How does a diesel engine ignite fuel?", collections=only_a)
    assert all(c.doc_id in a_ids for c in answer.citations)


# --- 2. updates ---------------------------------------------------------------------------------------------


def assert_term_counts_hold(store: PgStore) -> None:
    """qa_terms (kept up to date by each writer, for BM25's idf) counts exactly the postings there are,
    and every chunk's postings carry its length."""
    with store.snapshot() as snap:
        kept = dict(snap.conn.execute("SELECT term, df FROM qa_terms").fetchall())
        counted = dict(snap.conn.execute("SELECT term, count(*) FROM qa_postings GROUP BY term").fetchall())
        lengths = snap.conn.execute(
            "SELECT count(*) FROM qa_postings p JOIN qa_chunks c ON c.id = p.chunk WHERE p.length <> c.length"
        ).fetchone()
    assert kept == counted and kept
    assert lengths == (0,)


def test_update_reports_and_publishes_like_the_file_index(tmp_path: Path, pg_url: str, fake_embedder) -> None:
    docs = write_corpus(tmp_path / "docs")
    root, store = tmp_path / "idx", PgStore(pg_url)
    build_index(iter_sources([docs]), root, fake_embedder)
    build_index(iter_sources([docs]), store, fake_embedder)

    def both(**kwargs):
        file_report = update_index([docs], root, fake_embedder, **kwargs)
        store_report = update_index([docs], store, fake_embedder, **kwargs)
        fields = ("added", "changed", "removed", "unchanged", "kept", "chunks_embedded", "chunks_reused")
        assert {f: getattr(store_report, f) for f in fields} == {f: getattr(file_report, f) for f in fields}
        assert_same_search(root, pg_url, fake_embedder, (*SMALL_QUESTIONS, "Which river reaches Vienna?"))
        assert_term_counts_hold(store)
        return store_report

    first = store.generation()
    (docs / "owls.md").write_text("# Owls\n\nOwls hunt at night and swallow mice whole.\n", encoding="utf-8")
    report = both()
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 0, 0, 4)
    assert report.chunks_embedded > 0
    assert store.generation() == first + 1

    (docs / "rivers.txt").write_text(CORPUS["rivers.txt"] + "\nThe Rhine flows north to the sea.\n", encoding="utf-8")
    report = both()
    assert (report.added, report.changed, report.removed, report.unchanged) == (0, 1, 0, 4)

    (docs / "tea.txt").unlink()
    report = both(prune=True)
    assert (report.added, report.changed, report.removed, report.unchanged) == (0, 0, 1, 4)
    assert store.generation() == first + 3
    assert store.manifest().counts["documents"] == 4 == len(IndexDir(root).load().documents)

    published = store.generation()
    manifest = store.manifest()
    report = both(prune=True)  # nothing changed: nothing published
    assert (report.added, report.changed, report.removed, report.unchanged) == (0, 0, 0, 4)
    assert report.chunks_embedded == 0
    assert store.generation() == published
    assert store.manifest().created_at == manifest.created_at


# --- 3. atomic publish --------------------------------------------------------------------------------------


def test_readers_see_one_generation_while_an_update_is_in_flight(
    tmp_path: Path, pg_url: str, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("index.batching.EMBED_BATCH", 1)  # chunks are written as they come, before the pause
    docs = write_corpus(tmp_path / "docs")
    store = PgStore(pg_url)
    build_index(iter_sources([docs]), store, fake_embedder)
    old_generation, old_count = store.generation(), store.manifest().counts["documents"]
    question = "Where does the Danube flow?"
    engine = Engine(PgStore(pg_url), fake_embedder)
    old_answer = engine.ask(question)
    old_hits = [hit_key(h) for h in PgRetriever(store, fake_embedder).search("zebra stripes savanna", k=5)]
    assert old_answer.citations and all(h[1] != "zebras.md" for h in old_hits)

    # An update that changes the Danube document and adds one about zebras.
    (docs / "rivers.txt").write_text("The Danube is frozen. Zebras graze by it on the savanna.\n", encoding="utf-8")
    (docs / "zebras.md").write_text("# Zebras\n\nZebra stripes confuse flies on the savanna.\n", encoding="utf-8")
    started, release = threading.Event(), threading.Event()
    result: dict = {}

    def on_document(item, n_chunks: int) -> None:
        # Paused after the last document: the changed one replaced, the new one's rows written.
        if getattr(item, "doc_id", None) == "zebras.md":
            started.set()
            assert release.wait(60)

    def run() -> None:
        try:
            result["report"] = update_index([docs], PgStore(pg_url), fake_embedder, on_document=on_document)
        except BaseException as exc:  # re-raised in the test thread
            result["error"] = exc

    writer = threading.Thread(target=run)
    writer.start()
    try:
        assert started.wait(60), result
        for _ in range(2):  # the writer is in flight: the old generation, whole
            reader = PgStore(pg_url)
            assert reader.generation() == old_generation
            assert reader.manifest().counts["documents"] == old_count
            assert len(reader.documents()) == old_count
            hits = PgRetriever(reader, fake_embedder).search("zebra stripes savanna", k=5)
            assert [hit_key(h) for h in hits] == old_hits
            answer = engine.ask(question)
            assert answer.text == old_answer.text
            assert [(c.doc_id, c.start, c.end) for c in answer.citations] == [
                (c.doc_id, c.start, c.end) for c in old_answer.citations
            ]
        with PgStore(pg_url).connection() as conn:  # the writer holds its lock, its rows uncommitted
            held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            assert conn.execute(held).fetchone()[0] == 1
        # A snapshot opened before the commit keeps reading the old state after it.
        with PgStore(pg_url).snapshot() as snap:
            assert snap.generation == old_generation
            release.set()
            writer.join(60)
            assert not writer.is_alive() and "error" not in result, result
            assert PgStore(pg_url).generation() == old_generation + 1  # committed meanwhile
            from index.postgres import schema

            meta = schema.read_meta(snap.conn)
            assert meta is not None and meta[0] == old_generation
            assert snap.conn.execute("SELECT count(*) FROM qa_documents").fetchone()[0] == old_count
            zebras = "SELECT count(*) FROM qa_documents WHERE doc_id = 'zebras.md'"
            assert snap.conn.execute(zebras).fetchone()[0] == 0
            old_rows = {int(r[0]) for r in snap.conn.execute("SELECT row FROM qa_documents")}
            assert {int(r[0]) for r in snap.conn.execute("SELECT DISTINCT doc FROM qa_chunks")} == old_rows
            stale = snap.slice(snap.dense(fake_embedder.embed([question])[0], 5, None))
            assert "zebras.md" not in {d.doc_id for d in stale.documents}
    finally:
        release.set()
        writer.join(60)
    report = result["report"]
    assert (report.added, report.changed) == (1, 1)
    # After the commit: the new generation everywhere, with no restart.
    assert store.generation() == old_generation + 1
    assert store.manifest().counts["documents"] == old_count + 1
    hits = PgRetriever(store, fake_embedder).search("zebra stripes savanna", k=5)
    assert hits[0].doc_id == "zebras.md"
    new_answer = engine.ask(question)
    assert [(c.doc_id, c.start, c.end) for c in new_answer.citations] != [
        (c.doc_id, c.start, c.end) for c in old_answer.citations
    ] or new_answer.text != old_answer.text
    assert engine.index.counts()[0] == old_count + 1


# --- 4. a writer killed half way ----------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["embedded", "pg-commit"])
def test_killed_update_leaves_the_previous_generation(tmp_path: Path, pg_url: str, fake_embedder, point: str) -> None:
    docs = write_corpus(tmp_path / "docs")
    store = PgStore(pg_url)
    build_index(iter_sources([docs]), store, fake_embedder)
    generation = store.generation()
    before = {q: [hit_key(h) for h in PgRetriever(store, fake_embedder).search(q, k=5)] for q in SMALL_QUESTIONS}
    (docs / "owls.md").write_text("# Owls\n\nOwls hunt at night and swallow mice whole.\n", encoding="utf-8")
    (docs / "tea.txt").write_text("Black tea is fully oxidised before it is dried.\n", encoding="utf-8")

    killed = qa(
        "index", "update", str(docs), "--store", pg_url, "--embedder", "hashing:64", extra_env={KILL_ENV: point}
    )
    assert killed.returncode == -9, killed.stderr[-2000:]

    assert store.generation() == generation
    assert store.manifest().counts["documents"] == len(CORPUS)
    after = {q: [hit_key(h) for h in PgRetriever(store, fake_embedder).search(q, k=5)] for q in SMALL_QUESTIONS}
    assert after == before

    # The dead writer's transaction (and its advisory lock) went with its connection.
    done = qa("index", "update", str(docs), "--store", pg_url, "--embedder", "hashing:64", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["added"], report["changed"]) == (1, 1)
    assert store.generation() == generation + 1
    assert store.manifest().counts["documents"] == len(CORPUS) + 1


# --- 5. two servers over one database -----------------------------------------------------------------------


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_two_servers_see_a_third_process_update(tmp_path: Path, pg_url: str) -> None:
    from ui_server import BLOCKED, start_server

    docs = write_corpus(tmp_path / "docs")
    built = qa("index", "build", str(docs), "--store", pg_url, "--embedder", "hashing:64")
    assert built.returncode == 0, built.stderr[-2000:]
    servers = []
    try:
        for n in range(2):
            server_env = {"QA_INDEX": str(tmp_path / f"home{n}" / "index"), "HOME": str(tmp_path / f"home{n}")}
            servers.append(start_server(["--store", pg_url], tmp_path / f"server{n}", server_env, timeout=240))
        for server in servers:
            health = _get(server.url + "api/v1/health")
            assert health["documents"] == len(CORPUS)
            assert health["embedder"].startswith("hashing")
            hits = _post(server.url + "api/v1/search", {"query": "owls hunt mice at night", "k": 5})["hits"]
            assert "owls.md" not in {h["doc_id"] for h in hits}

        (docs / "owls.md").write_text("# Owls\n\nOwls hunt at night and swallow mice whole.\n", encoding="utf-8")
        updated = qa("index", "update", str(docs), "--store", pg_url)
        assert updated.returncode == 0, updated.stderr[-2000:]

        for server in servers:
            deadline = time.monotonic() + 20
            while True:
                health = _get(server.url + "api/v1/health")
                hits = _post(server.url + "api/v1/search", {"query": "owls hunt mice at night", "k": 5})["hits"]
                if health["documents"] == len(CORPUS) + 1 and hits and hits[0]["doc_id"] == "owls.md":
                    break
                assert time.monotonic() < deadline, (health, hits)
                time.sleep(0.5)
            answer = _post(server.url + "api/v1/ask", {"question": "What do owls swallow whole?"})
            assert any(c["doc_id"] == "owls.md" for c in answer["citations"]), answer
            logs = server.stderr() + (server.log_dir / "stdout.txt").read_text(errors="replace")
            assert password_of(pg_url) not in logs
            assert BLOCKED not in logs  # no connection off this machine
    finally:
        for server in servers:
            server.stop()


# --- 6. bad input -------------------------------------------------------------------------------------------


def test_store_that_is_not_a_url(tmp_path: Path) -> None:
    result = qa("search", "anything", "--store", "notaurl")
    assert result.returncode in (1, 2)
    assert "postgresql://" in result.stderr and "Traceback" not in result.stderr


def test_wrong_password_is_named_redacted(pg_url: str) -> None:
    wrong = "Wr0ngSecret-4711"
    parts = urlsplit(pg_url)
    bad_url = urlunsplit(parts._replace(netloc=parts.netloc.replace(password_of(pg_url), wrong)))
    for command in (["ask", "a question"], ["index", "update", str(GUIDE), "--embedder", "hashing:64"]):
        result = qa(*command, "--store", bad_url)
        assert result.returncode == 1, result.stderr
        output = result.stdout + result.stderr
        assert wrong not in output and password_of(pg_url) not in output
        assert redact(bad_url) in result.stderr and "***" in result.stderr
        assert "Traceback" not in result.stderr


def test_ask_an_empty_store(pg_url: str) -> None:
    result = qa("ask", "Where does the Danube flow?", "--store", pg_url)
    assert result.returncode == 1
    assert "no index in the store" in result.stderr
    assert password_of(pg_url) not in result.stdout + result.stderr


def test_bad_files_are_skipped_into_the_store(tmp_path: Path, pg_url: str) -> None:
    docs = write_corpus(tmp_path / "docs")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not really a pdf\n")
    result = qa("index", "build", str(docs), "--store", pg_url, "--embedder", "hashing:64", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"binary.txt", "broken.pdf"} and all(skipped.values())
    manifest = PgStore(pg_url).manifest()
    assert manifest.counts["documents"] == len(CORPUS)
    assert {Path(s["path"]).name for s in manifest.skipped} == {"binary.txt", "broken.pdf"}

    strict = qa("index", "build", str(docs), "--store", pg_url, "--embedder", "hashing:64", "--strict")
    assert strict.returncode == 3
    assert PgStore(pg_url).manifest().counts["documents"] == len(CORPUS)  # still published


def test_another_embedder_dim(tmp_path: Path, pg_url: str, fake_embedder) -> None:
    docs = write_corpus(tmp_path / "docs")
    store = PgStore(pg_url)
    build_index(iter_sources([docs]), store, fake_embedder)
    other = HashingEmbedder(dim=32)
    build_index(iter_sources([docs]), store, other)  # a build replaces the store
    assert store.manifest().embedder["dim"] == 32
    hits = PgRetriever(store, other).search("Where does the Danube flow?", k=3)
    assert hits and hits[0].doc_id == "rivers.txt"
    generation = store.generation()
    (docs / "owls.md").write_text("Owls hunt at night.\n", encoding="utf-8")
    with pytest.raises(IndexMismatch) as raised:
        update_index([docs], store, fake_embedder)
    assert "rebuild" in str(raised.value) or "embedder" in str(raised.value)
    assert password_of(pg_url) not in str(raised.value)
    assert store.generation() == generation and store.manifest().embedder["dim"] == 32


# --- 7. the password shows up nowhere -----------------------------------------------------------------------


def test_password_never_appears(tmp_path: Path, pg_url: str, postgres_server) -> None:
    password = password_of(pg_url)
    docs = write_corpus(tmp_path / "docs", {p.name: p.read_text() for p in sorted(GUIDE.glob("*.md"))})
    outputs = []
    for command in (
        ["index", "build", str(docs), "--embedder", "hashing:64", "--json"],
        ["index", "update", str(docs), "--json"],
        ["ask", "How do I add new documents to the index?", "--json"],
        ["search", "index a folder", "--json"],
        ["index", "info", "--json"],
    ):
        result = qa(*command, "--store", pg_url)
        assert result.returncode == 0, (command, result.stderr[-2000:])
        outputs.append(result.stdout + result.stderr)
        json.loads(result.stdout)
    # $QA_STORE works the same as --store.
    via_env = qa("ask", "Which file types can it read?", "--json", extra_env={"QA_STORE": pg_url})
    assert via_env.returncode == 0, via_env.stderr[-2000:]
    assert json.loads(via_env.stdout)["citations"]
    outputs.append(via_env.stdout + via_env.stderr)

    out = tmp_path / "run"
    gold = PROJECT_ROOT / "eval" / "goldsets" / "guide.jsonl"
    evaluated = qa("eval", str(gold), "--store", pg_url, "--limit", "3", "--out", str(out), "--embedder", "hashing:64")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    outputs.append(evaluated.stdout + evaluated.stderr)
    run_files = [p for p in out.rglob("*") if p.is_file()]
    assert run_files
    for text in outputs + [p.read_text(errors="replace") for p in run_files]:
        assert password not in text
    assert "***" in "".join(p.read_text(errors="replace") for p in run_files)  # the store is named, redacted

    with PgStore(pg_url).connection() as conn:
        stored = conn.execute("SELECT manifest::text FROM qa_meta").fetchone()[0]
    assert password not in stored
    assert password not in postgres_server.log_text()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://qa:s3cret@127.0.0.1:5432/db", "postgresql://qa:***@127.0.0.1:5432/db"),
        ("postgresql://qa:p%40ss@host/db?sslmode=require", "postgresql://qa:***@host/db?sslmode=require"),
        (
            "postgresql://qa@host/db?password=s3cret&sslmode=require",
            "postgresql://qa@host/db?password=***&sslmode=require",
        ),
        ("postgres://host/db?PASSWORD=s3cret", "postgres://host/db?PASSWORD=***"),
        ("postgresql://qa@127.0.0.1/db", "postgresql://qa@127.0.0.1/db"),
        ("postgresql:///db", "postgresql:///db"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


def test_what_the_url_leaves_out_comes_from_the_pg_variables(pg_url: str, tmp_path: Path) -> None:
    """``postgresql:///DB`` with host, port, user and password from PGHOST, PGPORT, PGUSER and
    PGPASSWORD (libpq's own variables): builds and answers, and the password shows nowhere."""
    parts = urlsplit(pg_url)
    password = password_of(pg_url)
    pg_env = {
        "PGHOST": str(parts.hostname),
        "PGPORT": str(parts.port),
        "PGUSER": str(parts.username),
        "PGPASSWORD": password,
    }
    bare = f"postgresql:///{parts.path.lstrip('/')}"
    corpus = write_corpus(tmp_path / "docs")
    built = qa("index", "build", str(corpus), "--store", bare, "--embedder", "hashing:64", "--json", extra_env=pg_env)
    assert built.returncode == 0, built.stderr[-2000:]
    assert json.loads(built.stdout)["documents"] == len(CORPUS)
    asked = qa("ask", "How does a diesel engine ignite fuel?", extra_env={**pg_env, "QA_STORE": bare})
    assert asked.returncode == 0, asked.stderr[-2000:]
    assert "[1]" in asked.stdout
    for done in (built, asked):
        assert password not in done.stdout + done.stderr
    wrong = qa("ask", "Which apple is green?", "--store", bare, extra_env={**pg_env, "PGPASSWORD": "not-it-at-all"})
    assert wrong.returncode == 1
    assert "password authentication failed" in wrong.stderr and "not-it-at-all" not in wrong.stderr


def test_qa_chat_and_index_info_use_a_store(tmp_path: Path, pg_url: str) -> None:
    """The conversation in the terminal reads the store like `qa ask`; so does `qa index info`."""
    corpus = write_corpus(tmp_path / "docs")
    assert qa("index", "build", str(corpus), "--store", pg_url, "--embedder", "hashing:64").returncode == 0
    chat = subprocess.run(
        [sys.executable, "-m", "qa.cli", "chat", "--store", pg_url],
        cwd=PROJECT_ROOT,
        env=env(),
        input="Where does the Danube flow?\n/quit\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert chat.returncode == 0, chat.stderr[-2000:]
    assert "Vienna" in chat.stdout and "[1]" in chat.stdout
    info = qa("index", "info", "--store", pg_url, "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["generation"] == "pg-000001"
    for done in (chat, info):
        assert password_of(pg_url) not in done.stdout + done.stderr


def test_qa_index_watch_keeps_a_store_in_step(tmp_path: Path, pg_url: str) -> None:
    """`qa index watch --store`: a file added while it runs is in the store without another command."""
    import signal

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nAlpha particles are helium nuclei.\n", encoding="utf-8")
    assert qa("index", "build", str(docs), "--store", pg_url, "--embedder", "hashing:64").returncode == 0
    command = [sys.executable, "-m", "qa.cli", "index", "watch", str(docs), "--store", pg_url]
    watcher = subprocess.Popen(
        [*command, "--debounce", "0.3", "--settle", "0.3", "--json"],
        cwd=PROJECT_ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().startswith("watching")  # ready: the first scan is done
        (docs / "b.md").write_text("# B\n\nBeta particles are electrons.\n", encoding="utf-8")
        report = json.loads(watcher.stdout.readline())
        assert report["added"] == 1 and report["unchanged"] == 1 and report["published"]
        asked = qa("ask", "What are beta particles?", "--store", pg_url)
        assert "Beta particles are electrons." in asked.stdout
    finally:
        os.kill(watcher.pid, signal.SIGINT)
        out, err = watcher.communicate(timeout=60)
    assert password_of(pg_url) not in out + err


def test_an_hnsw_store_finds_what_the_exact_index_finds(tmp_path: Path, pg_url: str, fake_embedder) -> None:
    """Past the threshold the store searches with pgvector's HNSW index (built in the publishing
    transaction, then kept up to date row by row): the dense top 5 match the exact file index's,
    a collection filter still returns only its own documents, and an update is searched too."""
    import psycopg

    from index.dense import DenseSettings

    store = PgStore(pg_url)
    build_index(iter_sources([GUIDE]), tmp_path / "idx", fake_embedder)
    build_index(iter_sources([GUIDE]), store, fake_embedder, dense=DenseSettings(threshold=1), collection="guide")
    assert store.manifest().dense["kind"] == "pgvector-hnsw"
    # At this size the planner would scan the table; make every new connection use the index.
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {urlsplit(pg_url).path.lstrip('/')} SET enable_seqscan = off")
    store = PgStore(pg_url)
    with store.snapshot() as snap:
        vector = fake_embedder.embed(["index a folder"])[0]
        plan = snap.conn.execute("EXPLAIN SELECT id FROM qa_chunks ORDER BY embedding <#> %s LIMIT 5", (vector,))
        assert "qa_chunks_hnsw" in " ".join(row[0] for row in plan)
    files, hnsw = Retriever(IndexDir(tmp_path / "idx").load(), fake_embedder), PgRetriever(store, fake_embedder)
    found = wanted = 0
    for q in QUESTIONS:
        want = {h.chunk_id for h in files.search(q, k=5, mode="dense")}
        found += len(want & {h.chunk_id for h in hnsw.search(q, k=5, mode="dense")})
        wanted += len(want)
    assert found / wanted >= 0.95
    docs = write_corpus(tmp_path / "docs")
    update_index([docs], store, fake_embedder, collection="small")
    only = frozenset({"small"})
    hits = hnsw.search("Where does the Danube flow?", k=3, mode="dense", collections=only)
    assert hits and all(h.doc_id in CORPUS for h in hits)
    assert hnsw.search("Where does the Danube flow?", k=1)[0].doc_id == "rivers.txt"
