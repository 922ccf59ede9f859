"""Crash safety and the writer lock, with real processes killed by SIGKILL.

A writer is a real ``python`` subprocess; it is killed either at a named step (``$QA_KILL_AT``
makes it SIGKILL itself there) or after random delays spread over a whole run. Each time, the
previous generation must still be current, complete and searchable, the lock must be free, and
the next run must clean up what the dead one left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.embedding import HashingEmbedder
from index.layout import LOCK_FILE
from index.store import KILL_ENV, IndexDir
from index.update import update_index
from qa.core.errors import IndexLocked
from qa.search.retrieval import Retriever

WORKTREE = Path(__file__).resolve().parents[2]
EMBEDDER = HashingEmbedder(dim=64)

# A writer whose embedder is slow and whose batches are small, so that a run lasts long enough
# to be killed in the middle of embedding, and is spread over many batches.
WRITER = """
import sys, time
from pathlib import Path
import index.writer
from index.build import build_index
from index.embedding import HashingEmbedder
from index.loaders import iter_sources
from index.update import update_index

class Slow(HashingEmbedder):
    def embed(self, texts, progress=False):
        time.sleep(float(sys.argv[4]))
        return super().embed(texts, progress)

index.writer.EMBED_BATCH = 4
command, docs, root = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if command == "build":
    build_index(iter_sources([docs]), root, Slow(64))
else:
    update_index([docs], root, Slow(64), prune=True)
"""


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKTREE), os.environ.get("PYTHONPATH", "")]), **extra}


def writer(tmp_path: Path, command: str, docs: Path, root: Path, delay: float, **extra: str) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    args = [sys.executable, str(script), command, str(docs), str(root), str(delay)]
    return subprocess.Popen(args, env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def corpus(folder: Path, n: int, topic: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{topic}-{i:02d}.txt").write_text(f"Notes on {topic} number {i}. " * 6)
    return folder


def assert_intact(root: Path, generation: Path, documents: int) -> None:
    """``generation`` is still the current one, whole, and answers a search."""
    index_dir = IndexDir(root)
    assert index_dir.current() == generation
    stored = index_dir.load(EMBEDDER)
    assert stored.manifest.counts["documents"] == documents
    assert len(stored.chunks) == len(stored.dense) == len(stored.sparse) > 0
    assert Retriever(stored, EMBEDDER).search("notes on glaciers", k=3)


def leftovers(root: Path) -> list[str]:
    """Unfinished generations, pointer temp files, and generations beyond current + previous."""
    index_dir = IndexDir(root)
    names = sorted(p.name for p in (root / "generations").iterdir())
    found = [n for n in names if n.endswith(".tmp")] + [p.name for p in root.glob("CURRENT.*.tmp")]
    current = index_dir.current().name
    newer = [n for n in names if not n.endswith(".tmp") and n > current]
    return found + newer + (["too many generations"] if len(names) > 2 else [])


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An index of 4 glacier notes, and a folder of 12 more documents to write next."""
    root = tmp_path / "idx"
    update_index([corpus(tmp_path / "v1", 4, "glaciers")], root, EMBEDDER)
    docs = corpus(corpus(tmp_path / "v2", 4, "glaciers"), 12, "volcanoes")
    return root, IndexDir(root).current(), docs


@pytest.mark.parametrize("command", ["update", pytest.param("build", marks=pytest.mark.slow)])
@pytest.mark.parametrize("step", ["embedded", "written", "renamed", "pointer-written", "published"])
def test_kill_at_each_step_keeps_a_whole_generation(
    tmp_path: Path, indexed: tuple[Path, Path, Path], command: str, step: str
) -> None:
    root, before, docs = indexed
    process = writer(tmp_path, command, docs, root, 0.0, **{KILL_ENV: step})
    assert process.wait(timeout=120) == -signal.SIGKILL, process.stderr.read()
    if step == "published":  # killed after the pointer swap: the new generation is the one readers see
        assert IndexDir(root).current() != before
        assert IndexDir(root).load(EMBEDDER).manifest.counts["documents"] == 16
    else:
        assert_intact(root, before, 4)
        assert leftovers(root)  # the dead writer did leave something behind at every earlier step
    # The next run gets the lock at once (the kernel dropped the dead one's) and tidies up.
    report = update_index([docs], root, EMBEDDER)
    assert report.published or step == "published"
    assert leftovers(root) == []
    assert IndexDir(root).load(EMBEDDER).manifest.counts["documents"] == 16


@pytest.mark.slow  # ~40 s each: a dozen interpreter start-ups
@pytest.mark.parametrize("command", ["build", "update"])
def test_kill_at_random_moments(tmp_path: Path, indexed: tuple[Path, Path, Path], command: str) -> None:
    root, before, docs = indexed
    began = time.monotonic()
    assert writer(tmp_path, command, docs, root, 0.4).wait(timeout=300) == 0
    whole_run = time.monotonic() - began
    published = IndexDir(root).current()
    rng = random.Random(command)
    for fraction in sorted(rng.uniform(0.3, 0.97) for _ in range(5)):
        corpus(docs, 13, "volcanoes")  # one more document each time, so every run has work to publish
        (docs / "volcanoes-12.txt").write_text(f"Changed {fraction}.")
        process = writer(tmp_path, command, docs, root, 0.4)
        time.sleep(fraction * whole_run)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        # Either the kill came before the swap (the last published generation is current) or after it
        # (the new one is); either way the current generation is whole and searchable.
        current = IndexDir(root).current()
        assert current == published or current.name > published.name
        published = current
        assert_intact(root, published, IndexDir(root).manifest().counts["documents"])
    update_index([docs], root, EMBEDDER, prune=True)
    assert leftovers(root) == []
    assert before.name not in [p.name for p in (root / "generations").iterdir()]


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path, indexed: tuple[Path, Path, Path]) -> None:
    root, before, docs = indexed
    holder = writer(tmp_path, "update", docs, root, 30.0)  # sits in its first embedding batch
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = (root / LOCK_FILE).read_text()
            if f'"pid": {holder.pid}' in record:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the writer never took the lock: {holder.stderr.read() if holder.poll() else ''}")
        with pytest.raises(IndexLocked, match=rf"pid {holder.pid} on host \S+, running update \(.*writer.py"):
            update_index([docs], root, EMBEDDER)
        cli = subprocess.run(
            [sys.executable, "-m", "qa.cli", "index", "build", str(docs), f"--index={root}", "--embedder=hashing:64"],
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 1
        assert f"is being written by pid {holder.pid}" in cli.stderr and "since 20" in cli.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    # A dead holder blocks nobody: its flock went with it; its stale record is replaced.
    assert_intact(root, before, 4)
    assert update_index([docs], root, EMBEDDER).added == 12
    assert json.loads((root / LOCK_FILE).read_text())["pid"] == os.getpid()
