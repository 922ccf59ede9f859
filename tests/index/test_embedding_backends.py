"""Embedding backends: the onnx backend (int8 ONNX Runtime, exported locally) against torch, its
export cache, and an index that remembers which backend made it."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_lifecycle_update import text, write
from test_sentence_vectors import CHUNKER, DOCS

import index.onnx_embedding as onnx_embedding
from index.build import build_index
from index.chunking import ChunkerSettings, chunk_document
from index.embedding import (
    MINILM_NAME,
    HashingEmbedder,
    MiniLMEmbedder,
    default_embedder,
    embedder_by_name,
    export_onnx,
    model_dir,
)
from index.formats.corpora import iter_beir_documents
from index.layout import MANIFEST_FILE, Manifest
from index.loaders import iter_sources
from index.onnx_embedding import META_FILE, MODEL_FILE, OnnxMiniLMEmbedder, ensure_model
from index.sentences import sentence_spans
from index.store import IndexDir, index_text
from index.update import update_index
from qa.cli import main
from qa.core.errors import IndexMismatch, ModelUnavailable
from qa.core.paths import default_cache_dir
from qa.engine import Engine
from qa.search.retrieval import Retriever

# Measured on the chunks below (92 chunks, 425 sentences of the committed SciFact cut): chunk
# cosine min 0.9927 (mean 0.9952), sentence cosine min 0.9888 (mean 0.9945), token sign bits
# equal 95.8% of the time.
CHUNK_COSINE = 0.99
SENTENCE_COSINE = 0.985
SIGN_AGREEMENT = 0.95


# --- without the model --------------------------------------------------------------------


def test_the_cache_folder_follows_qa_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QA_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("QA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "qa"


def test_backends_are_chosen_by_name_without_loading_anything(tmp_path: Path) -> None:
    onnx = embedder_by_name(MINILM_NAME, "onnx")
    assert (onnx.backend, onnx.quantization) == ("onnx", "int8")
    assert onnx.fingerprint.startswith(MiniLMEmbedder().fingerprint + ":onnx-int8-")
    assert OnnxMiniLMEmbedder(quantization="none").fingerprint != onnx.fingerprint
    assert embedder_by_name(MINILM_NAME).backend == "onnx"  # the default for new indexes
    assert default_embedder().backend == "onnx"
    assert embedder_by_name(MINILM_NAME, "torch").backend == "torch"
    assert embedder_by_name("hashing:8", "onnx").name == "hashing:8"  # no model: the backend does not apply
    with pytest.raises(ModelUnavailable, match="'tensorflow'"):
        embedder_by_name(MINILM_NAME, "tensorflow")
    with pytest.raises(ModelUnavailable, match="'int4'"):
        OnnxMiniLMEmbedder(quantization="int4")


class _Backend(HashingEmbedder):
    def __init__(self, backend: str, quantization: str) -> None:
        super().__init__(dim=8)
        self.backend, self.quantization = backend, quantization


def _fresh_python(code: str) -> None:
    """Run ``code`` in a new interpreter (this one has imported torch long ago); it fails by raising."""
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_without_torch_hides_it_and_makes_other_threads_wait() -> None:
    _fresh_python(
        """
import sys, threading, time
import index.embedding as embedding

got = {}
with embedding.without_torch():
    other = threading.Thread(target=lambda: got.setdefault("torch", embedding._torch()))
    other.start()
    time.sleep(0.3)
    try:
        import torch
    except ImportError:
        pass
    else:
        raise SystemExit("torch was importable inside the block")
    assert "torch" not in got, "another thread imported torch inside the block"
other.join()
assert got["torch"].__name__ == "torch" and "torch" in sys.modules
with embedding.without_torch():  # loaded already: nothing to hide
    import torch
"""
    )


def test_a_manifest_refuses_another_backend_naming_both() -> None:
    made = {"name": "hashing:8", "dim": 8, "fingerprint": "hashing:8", "backend": "onnx", "quantization": "int8"}
    manifest = Manifest(1, made, {}, "title+chunk", {}, {}, "now", 0)
    manifest.check(_Backend("onnx", "int8"))
    with pytest.raises(IndexMismatch, match=r"onnx backend \(quantization int8\).*torch backend.*--backend torch"):
        manifest.check(_Backend("torch", "none"))
    # A manifest from before backends names none: only the fingerprint is compared, as before.
    old = Manifest(1, {k: made[k] for k in ("name", "dim", "fingerprint")}, {}, "title+chunk", {}, {}, "now", 0)
    old.check(_Backend("torch", "none"))


def _copying(source: Path, calls: list[Path], delay: float = 0.0):
    """An ``export_onnx`` that copies an export made before (and counts its calls)."""

    def export(weights: Path, target: Path) -> None:
        calls.append(target)
        time.sleep(delay)
        shutil.copyfile(source, target)

    return export


def _fake_model(tmp_path: Path) -> Path:
    source = tmp_path / "exported.onnx"
    source.write_bytes(b"not really a model")
    return source


def test_concurrent_first_uses_export_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(onnx_embedding, "export_onnx", _copying(_fake_model(tmp_path), calls, delay=0.3))
    folder = tmp_path / "cache" / "onnx" / "key"
    found: list[Path] = []
    threads = [
        threading.Thread(target=lambda: found.append(ensure_model(model_dir(), folder, "none"))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and found == [folder / MODEL_FILE] * 3
    assert (folder / MODEL_FILE).read_bytes() == b"not really a model"
    assert json.loads((folder / META_FILE).read_text())["quantization"] == "none"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["key", "key.lock"]  # no temporary folder left


@pytest.mark.parametrize("damage", ["truncated", "missing model", "missing record"])
def test_a_damaged_cache_is_made_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(onnx_embedding, "export_onnx", _copying(_fake_model(tmp_path), calls))
    folder = tmp_path / "onnx" / "key"
    ensure_model(model_dir(), folder, "none")
    if damage == "truncated":
        (folder / MODEL_FILE).write_bytes(b"not really")
    else:
        (folder / (MODEL_FILE if damage == "missing model" else META_FILE)).unlink()
    ensure_model(model_dir(), folder, "none")
    assert len(calls) == 2 and (folder / MODEL_FILE).read_bytes() == b"not really a model"
    ensure_model(model_dir(), folder, "none")
    assert len(calls) == 2  # intact again: reused


# --- with the real model ------------------------------------------------------------------


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qa-cache")


@pytest.fixture(scope="session")
def onnx_minilm(onnx_cache: Path) -> OnnxMiniLMEmbedder:
    """The int8 backend after a real first use: exported from the packaged weights and quantised."""
    embedder = OnnxMiniLMEmbedder(cache=onnx_cache)
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real fp32 export, made once; later "first uses" copy it instead of exporting again."""
    target = tmp_path_factory.mktemp("export") / "fp32.onnx"
    export_onnx(model_dir(), target)
    return target


def _chunks() -> tuple[list[str], list[list[tuple[int, int]]]]:
    corpus = Path(__file__).parents[1] / "data" / "scifact" / "corpus.jsonl"
    docs = itertools.islice(iter_beir_documents(corpus), 40)
    texts = [index_text(d, c.text, "title+chunk") for d in docs for c in chunk_document(d, ChunkerSettings())]
    return texts, [sentence_spans(t) for t in texts]


@pytest.mark.slow
def test_int8_vectors_agree_with_torch(onnx_minilm: OnnxMiniLMEmbedder, minilm) -> None:
    texts, spans = _chunks()
    ours, theirs = onnx_minilm.embed_spans(texts, spans), minilm.embed_spans(texts, spans)
    assert ((ours.texts * theirs.texts).sum(axis=1) >= CHUNK_COSINE).all()
    assert ((ours.spans * theirs.spans).sum(axis=1) >= SENTENCE_COSINE).all()
    np.testing.assert_array_equal(ours.token_counts, theirs.token_counts)  # the same word pieces
    assert ours.token_bits.shape == theirs.token_bits.shape
    agreement = (np.unpackbits(ours.token_bits, axis=1) == np.unpackbits(theirs.token_bits, axis=1)).mean()
    assert agreement >= SIGN_AGREEMENT
    np.testing.assert_array_equal(onnx_minilm.embed(texts), ours.texts)  # one pass makes both
    query = onnx_minilm.embed_query("Does vitamin D lower the risk of fractures?")
    assert query.tokens.shape == minilm.embed_query("Does vitamin D lower the risk of fractures?").tokens.shape
    np.testing.assert_allclose(
        query.vector, onnx_minilm.embed(["Does vitamin D lower the risk of fractures?"])[0], atol=1e-6
    )


@pytest.mark.slow
def test_the_fp32_export_reproduces_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exported: Path, minilm
) -> None:
    """The export and the pooling outside it are exact: what int8 changes is the weights alone."""
    monkeypatch.setattr(onnx_embedding, "export_onnx", _copying(exported, []))
    fp32 = OnnxMiniLMEmbedder(quantization="none", cache=tmp_path)
    texts, spans = _chunks()
    texts, spans = [*texts[:12], "", "  Ünïcode café, naïve façade  "], [*spans[:12], [], [(2, 14)]]
    ours, theirs = fp32.embed_spans(texts, spans), minilm.embed_spans(texts, spans)
    np.testing.assert_allclose(ours.texts, theirs.texts, atol=1e-4)
    np.testing.assert_allclose(ours.spans, theirs.spans, atol=1e-4)
    np.testing.assert_array_equal(ours.token_counts, theirs.token_counts)


@pytest.mark.slow
def test_the_export_is_reused_and_remade_when_damaged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, onnx_minilm: OnnxMiniLMEmbedder, onnx_cache: Path, exported: Path
) -> None:
    texts = ["Marie Curie won the Nobel Prize twice.", "Deltas form where rivers meet the sea."]
    reference = onnx_minilm.embed(texts)

    def no_export(weights: Path, target: Path) -> None:
        raise AssertionError("exported again although the cache holds the model")

    monkeypatch.setattr(onnx_embedding, "export_onnx", no_export)
    np.testing.assert_array_equal(OnnxMiniLMEmbedder(cache=onnx_cache).embed(texts), reference)

    shutil.copytree(onnx_cache / "onnx", tmp_path / "onnx")
    model = OnnxMiniLMEmbedder(cache=tmp_path).folder / MODEL_FILE
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])  # a copy cut short
    calls: list[Path] = []
    monkeypatch.setattr(onnx_embedding, "export_onnx", _copying(exported, calls))
    again = OnnxMiniLMEmbedder(cache=tmp_path).embed(texts)
    assert len(calls) == 1  # quantised again from a fresh export
    assert ((again * reference).sum(axis=1) > 0.9999).all()


@pytest.mark.slow
def test_an_onnx_index_is_refused_by_torch_and_queried_with_onnx(
    tmp_path: Path, onnx_minilm: OnnxMiniLMEmbedder, minilm
) -> None:
    root = tmp_path / "idx"
    build_index(iter(DOCS), root, onnx_minilm, CHUNKER)
    recorded = IndexDir(root).manifest().embedder
    assert (recorded["backend"], recorded["quantization"], recorded["fingerprint"]) == (
        "onnx",
        "int8",
        onnx_minilm.fingerprint,
    )
    with pytest.raises(IndexMismatch, match=r"onnx backend \(quantization int8\).*torch backend"):
        IndexDir(root).load(minilm)
    with pytest.raises(IndexMismatch, match="onnx backend"):
        update_index([], root, minilm)
    engine = Engine(root)  # the engine opens the backend the manifest names
    assert (engine.embedder.backend, engine.embedder.fingerprint) == ("onnx", onnx_minilm.fingerprint)
    assert engine.retriever().search("Where was Marie Curie born?", k=1)[0].doc_id == "curie.txt"

    torch_root = tmp_path / "torch-idx"
    build_index(iter(DOCS), torch_root, minilm, CHUNKER)
    with pytest.raises(IndexMismatch, match=r"torch backend \(quantization none\).*onnx backend"):
        IndexDir(torch_root).load(onnx_minilm)
    assert Engine(torch_root).embedder.backend == "torch"
    # An index from before backends records none: torch made it, so torch embeds its questions.
    manifest = IndexDir(torch_root).current() / MANIFEST_FILE
    data = json.loads(manifest.read_text(encoding="utf-8"))
    del data["embedder"]["backend"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    assert Engine(torch_root).embedder.backend == "torch"


def _searches(root: Path, embedder: OnnxMiniLMEmbedder) -> list[list[tuple]]:
    retriever = Retriever(IndexDir(root).load(embedder), embedder)
    queries = ["volcano lava", "glacier ice melting", "ocean tides moon"]
    return [
        [(h.doc_id, h.start, h.end, round(h.score, 5)) for h in retriever.search(q, k=5, mode=mode)]
        for q in queries
        for mode in ("hybrid", "dense")
    ]


@pytest.mark.slow
def test_update_equals_rebuild_with_the_onnx_backend(tmp_path: Path, onnx_minilm: OnnxMiniLMEmbedder) -> None:
    rng = random.Random(17)
    docs = tmp_path / "docs"
    write(docs, {f"d{i}.txt": text(rng, rng.randint(2, 8)) for i in range(6)})
    root = tmp_path / "idx"
    update_index([docs], root, onnx_minilm, CHUNKER)
    for step in range(2):  # each step deletes one file, edits another and adds one
        names = sorted(p.name for p in docs.iterdir())
        (docs / names[step]).unlink()
        edited = docs / names[-1 - step]
        edited.write_text(text(rng, 1) + " " + edited.read_text())
        write(docs, {f"new{step}.txt": text(rng, 3)})
        report = update_index([docs], root, onnx_minilm, prune=True)
        assert (report.added, report.changed, report.removed) == (1, 1, 1) and report.chunks_reused > 0

    fresh = tmp_path / "fresh"
    build_index(iter_sources([docs]), fresh, onnx_minilm, CHUNKER)
    assert _searches(root, onnx_minilm) == _searches(fresh, onnx_minilm)
    updated, rebuilt = IndexDir(root).load(onnx_minilm), IndexDir(fresh).load(onnx_minilm)
    columns = ["doc", "start", "end", "tokens"]
    assert updated.chunks[columns].tolist() == rebuilt.chunks[columns].tolist()
    # One text per run: a chunk's int8 vector does not depend on the chunks embedded beside it.
    vectors = [stored.dense.vectors(stored.chunks["id"]) for stored in (updated, rebuilt)]
    np.testing.assert_array_equal(*vectors)
    np.testing.assert_array_equal(np.asarray(updated.sentence_vectors), np.asarray(rebuilt.sentence_vectors))


@pytest.mark.slow
def test_cli_builds_with_onnx_and_updates_with_the_index_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, onnx_minilm: OnnxMiniLMEmbedder, onnx_cache: Path, capsys
) -> None:
    monkeypatch.setenv("QA_CACHE", str(onnx_cache))  # the model exported above, not a new export
    docs = tmp_path / "docs"
    write(docs, {"curie.txt": DOCS[0].text, "rivers.txt": DOCS[1].text})
    index = str(tmp_path / "idx")
    assert main(["index", "build", str(docs), "--index", index, "--backend", "onnx"]) == 0
    (docs / "tides.txt").write_text("Tides follow the moon over the ocean.")
    assert main(["index", "update", str(docs), "--index", index, "--json"]) == 0
    capsys.readouterr()
    assert main(["index", "info", "--index", index, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["embedder"]["backend"], info["counts"]["documents"]) == ("onnx", 3)
    assert main(["index", "update", str(docs), "--index", index, "--backend", "torch"]) == 1
    assert "--rebuild --backend torch" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_onnx_update_leaves_the_previous_index_served(
    tmp_path: Path, onnx_minilm: OnnxMiniLMEmbedder, onnx_cache: Path
) -> None:
    """kill -9 in the middle of a real onnx update (the default backend's parallel runs): the
    previous generation stays current, whole and answerable with its own backend."""
    docs = tmp_path / "docs"
    write(docs, {"curie.txt": DOCS[0].text, "rivers.txt": DOCS[1].text})
    root = tmp_path / "idx"
    update_index([docs], root, onnx_minilm, CHUNKER)
    before = IndexDir(root).current()
    corpus = Path(__file__).parents[1] / "data" / "scifact" / "corpus.jsonl"
    write(docs, {f"{d.doc_id}.txt": d.text for d in iter_beir_documents(corpus)})  # ~900 chunks: tens of seconds
    command = [sys.executable, "-m", "qa.cli", "index", "update", str(docs), "--index", str(root)]
    env = {**os.environ, "QA_CACHE": str(onnx_cache)}
    process = subprocess.Popen(command, cwd=Path(__file__).parents[2], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((root / "generations").glob("*.tmp")):  # the new generation is being written
        assert process.poll() is None and time.monotonic() < deadline, "the update never started writing"
        time.sleep(0.05)
    time.sleep(2)  # into the embedding
    assert process.poll() is None, "the update finished before it could be killed"
    process.kill()
    process.wait(timeout=60)
    assert IndexDir(root).current() == before
    engine = Engine(root)
    assert engine.embedder.backend == "onnx"
    assert engine.retriever().search("Where was Marie Curie born?", k=1)[0].doc_id == "curie.txt"
