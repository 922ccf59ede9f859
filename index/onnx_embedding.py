"""The MiniLM on ONNX Runtime with int8 weights (the "onnx" backend). The only module that imports
onnxruntime.

Nothing is downloaded: on first use the packaged weights are exported to an ONNX graph
(``index.embedding.export_onnx``, token ids -> last hidden states), its MatMul weights quantised to
int8 per output channel with activations quantised at run time (``quantize_dynamic``: the u8 x s8
products run on AVX-512 VNNI), and the result is kept in ``<cache>/onnx/<key>/`` (``$QA_CACHE``,
else ``~/.cache/qa``; qa.core.paths). The folder is written under a temporary name and renamed
into place while holding a lock, so concurrent first uses export once and never see half a
model; a folder whose model does not hash to what its ``model.json`` records is made again.

Each text is run alone, longest first, on single-threaded runs spread over the cores. Measured on
the project's 2-core machine (docs/benchmarks.md), one text per run is twice as fast per CPU
second as batches of 32 (the activations of one text stay in the core's cache), and it keeps a
chunk's vector independent of the chunks beside it: int8 activation scales are taken over the
whole input, so in a batch they would depend on the neighbours (and an update could not
reproduce a rebuild). Pooling is done outside the graph (index/pooling.py), so the one forward
pass still yields the chunk vector, the sentence vectors and the token signs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from functools import cached_property
from pathlib import Path

import numpy as np

from index.embedding import MINILM_NAME, export_onnx, model_dir, weights_digest
from index.pooling import LatePooling
from qa.core.errors import ModelUnavailable
from qa.core.paths import default_cache_dir

RECIPE = 1  # raise when the export or the quantisation changes: fingerprints and cache folders follow
QUANTIZATIONS = ("int8", "none")
MODEL_FILE = "model.onnx"
META_FILE = "model.json"
_FEW_TEXTS = 32  # a query or an answer's sentences: one run at a time, leaving the other core alone
_WINDOW = 64  # texts handed to the workers at once: bounds the token states held in memory


class OnnxMiniLMEmbedder(LatePooling):
    """all-MiniLM-L6-v2 on ONNX Runtime; ``quantization`` "int8" (the backend) or "none" (fp32, for
    comparison); ``workers`` parallel single-threaded runs (default: one per core)."""

    name = MINILM_NAME
    dim = 384
    backend = "onnx"

    def __init__(self, quantization: str = "int8", workers: int | None = None, cache: Path | None = None) -> None:
        if quantization not in QUANTIZATIONS:
            raise ModelUnavailable(f"unknown quantization {quantization!r}; known: {', '.join(QUANTIZATIONS)}")
        self.quantization = quantization
        self.workers = workers or len(os.sched_getaffinity(0))
        self._path = model_dir()
        self._cache = cache

    @cached_property
    def fingerprint(self) -> str:
        return f"{self.name}:sha256:{weights_digest(self._path)}:onnx-{self.quantization}-r{RECIPE}"

    @property
    def folder(self) -> Path:
        """Where the exported model of these weights and this quantisation is kept."""
        key = f"{weights_digest(self._path)}-{self.quantization}-r{RECIPE}"
        return (self._cache or default_cache_dir()) / "onnx" / key

    @cached_property
    def _session(self):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelUnavailable("the onnx backend needs onnxruntime: `pip install qa-docs` installs it") from exc
        path = ensure_model(self._path, self.folder, self.quantization)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel runs instead of threads inside one run (module docstring)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its optimiser's notes would clutter every CLI call
        # Spinning workers burn a core waiting for work: a loss on a machine shared with other jobs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @cached_property
    def _tokenizer(self):
        return minilm_tokenizer(self._path)

    def _forward(self, texts: list[str]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        session, tokenizer = self._session, self._tokenizer
        # Longest first: the workers run out of texts at nearly the same time.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        workers = 1 if len(texts) <= _FEW_TEXTS else self.workers

        def states(ids: np.ndarray) -> np.ndarray:
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            return session.run(None, feed)[0][0]

        with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            run = pool.map if pool is not None else map  # a few texts gain nothing from a pool
            for first in range(0, len(order), _WINDOW):
                window = order[first : first + _WINDOW]
                encodings = [tokenizer.encode(texts[i]) for i in window]
                ids = [np.array([e.ids], dtype=np.int64) for e in encodings]
                for i, encoding, hidden in zip(window, encodings, run(states, ids), strict=True):
                    offsets = np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2)
                    real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
                    yield i, hidden.mean(axis=0), hidden[real], offsets[real]


def minilm_tokenizer(path: Path):
    """The packaged MiniLM's fast tokenizer as sentence-transformers runs it: the file pads and cuts
    at 128; sentence-transformers reads up to max_seq_length (256), unpadded."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    settings = json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))
    tokenizer.enable_truncation(int(settings["max_seq_length"]))
    tokenizer.no_padding()
    return tokenizer


def ensure_model(weights: Path, folder: Path, quantization: str) -> Path:
    """The model file in ``folder``, exported (and quantised) from ``weights`` first unless a
    complete one is there."""
    model = folder / MODEL_FILE
    if _intact(folder):
        return model
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.parent / f"{folder.name}.lock"):
        if not _intact(folder):  # another process may have made it while this one waited
            _export(weights, folder, quantization)
    return model


def _intact(folder: Path) -> bool:
    try:
        recorded = json.loads((folder / META_FILE).read_text(encoding="utf-8"))["sha256"]
        return recorded == _sha256(folder / MODEL_FILE)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock held for the block: concurrent first uses wait for one export."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _export(weights: Path, folder: Path, quantization: str) -> None:
    """Write ``folder`` whole under a temporary name, then rename it into place (callers hold the lock)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        exported = tmp / "fp32.onnx"
        export_onnx(weights, exported)
        if quantization == "int8":
            _quantize(exported, tmp / MODEL_FILE)
            exported.unlink()
        else:
            exported.rename(tmp / MODEL_FILE)
        meta = {"sha256": _sha256(tmp / MODEL_FILE), "weights": weights_digest(weights), "quantization": quantization}
        (tmp / META_FILE).write_text(json.dumps({**meta, "recipe": RECIPE}, indent=1), encoding="utf-8")
        if folder.exists():  # a damaged one: moved aside first, so the name is never half written
            damaged = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".tmp", dir=folder.parent))
            os.rename(folder, damaged / "old")
            shutil.rmtree(damaged, ignore_errors=True)
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _quantize(source: Path, target: Path) -> None:
    """int8 weights, per output channel: per-tensor scales measured a mean chunk cosine of 0.944
    with the fp32 vectors, per channel 0.995. Only MatMul: the embedding tables stay fp32 (they
    cost nothing to run and quantising them lowered the agreement)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # it reads and writes the model with the onnx package
        raise ModelUnavailable(
            f"quantising the onnx model needs {exc.name} (`pip install qa-docs` installs it)"
        ) from exc

    logging.disable(logging.WARNING)  # "consider pre-processing": that step only helps static quantisation
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    finally:
        logging.disable(logging.NOTSET)
