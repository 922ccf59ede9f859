"""Uploads: safe names, type and size limits with clear reasons, and documents searchable right after."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.core.errors import UploadRejected
from qa.core.types import Document
from qa.engine import Engine
from ui.uploads import UPLOAD_PREFIX, Uploads, check_upload, safe_name

BASE = [
    Document("guide.md", "Guide", "guide.md", "The guide explains how to install the tool and run the demo."),
    Document("faq.md", "FAQ", "faq.md", "Questions people ask often: the index lives in your home folder."),
]


@pytest.fixture
def engine(tmp_path: Path, fake_embedder: HashingEmbedder) -> Engine:
    build_index(iter(BASE), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=40, overlap_tokens=8))
    return Engine(tmp_path / "idx", fake_embedder)


def upload(tmp_path: Path, name: str, content: bytes) -> tuple[Path, str]:
    """A file as gradio hands it over: somewhere in its cache, with the name the browser sent."""
    cached = tmp_path / "cache" / f"{len(list(tmp_path.glob('cache/*')))}.bin"
    cached.parent.mkdir(exist_ok=True)
    cached.write_bytes(content)
    return cached, name


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("report.txt", "report.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\boot.md", "boot.md"),
        ("C:\\Users\\me\\notes.md", "notes.md"),
        ("weird <name>;rm -rf.md", "weird _name_rm -rf.md"),
        (".hidden.txt", "hidden.txt"),  # never a hidden file the loader would pass over
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_safe_name_keeps_the_file_in_the_folder(given: str, stored: str) -> None:
    assert safe_name(given) == stored


@pytest.mark.parametrize("given", ["", "..", "../", ".", "...", "dir/", " . "])
def test_unusable_names_are_rejected_with_the_name(given: str) -> None:
    with pytest.raises(UploadRejected, match="not a usable file name"):
        safe_name(given)


def test_type_size_and_empty_files_are_rejected_with_a_clear_reason(tmp_path: Path) -> None:
    path, _ = upload(tmp_path, "x", b"hello")
    with pytest.raises(UploadRejected, match=r"run\.exe: unsupported file type '\.exe'; upload \.txt"):
        check_upload(path, "run.exe", 100)
    with pytest.raises(UploadRejected, match="without an extension"):
        check_upload(path, "README", 100)
    with pytest.raises(UploadRejected, match=r"big\.txt: .*over the .* MB upload limit"):
        check_upload(path, "big.txt", 4)
    empty, _ = upload(tmp_path, "e", b"")
    with pytest.raises(UploadRejected, match=r"empty\.md: empty file"):
        check_upload(empty, "empty.md", 100)
    assert check_upload(path, "Fine.TXT", 100) == "Fine.TXT"


def test_uploaded_document_is_searchable_at_once_and_bad_files_are_reported(tmp_path: Path, engine: Engine) -> None:
    before = engine.index.manifest.counts["documents"]
    folder = tmp_path / "uploads-root"
    uploads = Uploads(engine, folder, max_bytes=1000)
    seen: list[tuple[int, int, str]] = []
    result = uploads.ingest(
        [
            upload(tmp_path, "../../zebra.txt", b"Zebras sleep standing up in the savanna at night."),
            upload(tmp_path, "tool.exe", b"MZ..."),
            upload(tmp_path, "huge.md", b"a" * 2000),
            upload(tmp_path, "broken.pdf", b"%PDF-1.4 not really a pdf"),
        ],
        progress=lambda done, total, what: seen.append((done, total, what)),
    )
    assert result.accepted == ["zebra.txt"]
    reasons = {r.name: r.reason for r in result.rejected}
    assert set(reasons) == {"tool.exe", "huge.md", "broken.pdf"}
    assert "unsupported file type" in reasons["tool.exe"] and "upload limit" in reasons["huge.md"]
    assert list((folder / "uploads").iterdir()) == [folder / "uploads" / "zebra.txt"]  # nothing outside, no junk
    assert not (tmp_path / "zebra.txt").exists()
    assert seen and seen[-1][0] == seen[-1][1]  # progress reached its end

    # The same Engine, no restart: the new generation is picked up by the next question.
    assert engine.index.manifest.counts["documents"] == before + 1
    answer = engine.ask("Where do zebras sleep standing up?")
    assert answer.citations[0].doc_id == f"{UPLOAD_PREFIX}zebra.txt"
    assert {d.doc_id for d in engine.index.documents} >= {"guide.md", "faq.md"}  # the corpus is kept


def test_uploading_the_same_name_again_replaces_that_document(tmp_path: Path, engine: Engine) -> None:
    uploads = Uploads(engine, tmp_path / "up")
    uploads.ingest([upload(tmp_path, "notes.txt", b"The meeting is on Monday in the blue room.")])
    uploads.ingest([upload(tmp_path, "notes.txt", b"The meeting moved to Friday in the red room.")])
    ids = [d.doc_id for d in engine.index.documents]
    assert ids.count("uploads/notes.txt") == 1
    assert "Friday" in engine.index.document("uploads/notes.txt").text
    assert len(ids) == len(BASE) + 1


def test_nothing_accepted_means_no_index_update(tmp_path: Path, engine: Engine) -> None:
    generation = engine.index_dir.current()
    result = Uploads(engine, tmp_path / "up").ingest([upload(tmp_path, "x.zip", b"PK")])
    assert result.accepted == [] and [r.name for r in result.rejected] == ["x.zip"]
    assert engine.index_dir.current() == generation


def test_uploads_go_through_update_index(tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's contract with ``index.update.update_index``: the uploads folder, this index, no pruning."""
    from index.loaders import Skipped

    calls: list[tuple] = []

    def fake_update(paths, root, embedder, chunker=None, *, prune=False, on_document=None, collection=None):
        calls.append((paths, root, embedder, chunker, prune))
        assert collection("uploads/good.md") == "default" and collection("uploads/red/a.md") == "red"
        assert collection("corpus/a.md") is None  # not an upload: it keeps its collection
        on_document(Skipped(str(paths[0] / "uploads" / "bad.md"), "binary file"), 0)

    monkeypatch.setattr("ui.uploads.update_index", fake_update)
    folder = tmp_path / "up"
    result = Uploads(engine, folder).ingest(
        [upload(tmp_path, "good.md", b"fine text"), upload(tmp_path, "bad.md", b"\x00\x01")]
    )
    [(paths, root, embedder, chunker, prune)] = calls
    assert paths == [folder] and root == engine.index_dir.root and embedder is engine.embedder and not prune
    assert chunker is None  # the index's own chunker settings
    assert result.accepted == ["good.md"]
    assert [(r.name, r.reason) for r in result.rejected] == [("bad.md", "binary file")]
    assert sorted(p.name for p in (folder / "uploads").iterdir()) == ["good.md"]  # the unreadable one is gone
