"""The MiniLM on OpenVINO's CPU plugin: a research-only backend for eval/bench/embedding.py (issue 17).

Nothing in index/, qa/ or ui/ imports this module, and ``openvino`` (and ``nncf`` for the int8
variant) are not project dependencies: ``pip install openvino nncf`` into the venv to run it.

It runs the very graph the onnx backend runs (index/onnx_embedding.py): the fp32 or int8 ONNX
model kept in ``<cache>/onnx/<key>/`` (exported and quantised there on first use by
``index.onnx_embedding.ensure_model``), one text per inference request, the same tokenizer
settings, and pooling outside the graph (index/pooling.py), so it yields the same text, span and
query vectors as the other backends. Variants (``VARIANTS``):

- ``fp32``: the fp32 ONNX, executed in f32 (``INFERENCE_PRECISION_HINT=f32``). On a CPU with
  AMX or AVX-512 BF16 the plugin's default precision is bf16, so f32 must be asked for.
- ``bf16``: the fp32 ONNX at the plugin's default precision on such CPUs (bf16 matmuls).
- ``int8``: the fp32 ONNX with its weights compressed to int8 by NNCF (``compress_weights``,
  ``INT8_ASYM``, per output channel), activations in f32: weight-only compression.
- ``int8-bf16``: the same int8 weights with bf16 activations.
- ``onnx-int8``: the onnx backend's own int8 model (``quantize_dynamic``: DynamicQuantizeLinear
  and MatMulInteger), read as it is.

Measured on the project's 2-core machine (a Xeon with AMX; ``python -m eval.bench.embedding
--openvino``): bf16 embeds as many chunks per CPU second as the onnx int8 backend (within ±10%)
and is near exact (chunk cosine to torch 0.99998), but embeds a question in twice the time
(3.0 against 1.5 ms p50); fp32 runs as ONNX Runtime's fp32; int8 weights make 0.6-0.7x the onnx
int8 backend's chunks per CPU second; the ``onnx-int8`` graph, read by OpenVINO, runs at about a
quarter of ONNX Runtime's speed on it. Not clearly faster: it stays here.

Parallelism follows the onnx backend: ``workers`` streams of one thread each (``threads`` to
change), one request in flight per stream, texts longest first; a few texts (a query) run on one
request alone. Pinning is off: other jobs share the machine's cores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np

from index.embedding import MINILM_NAME, model_dir, weights_digest
from index.onnx_embedding import RECIPE, OnnxMiniLMEmbedder, ensure_model, minilm_tokenizer
from index.pooling import LatePooling
from qa.core.errors import ModelUnavailable

VARIANTS = ("fp32", "bf16", "int8", "int8-bf16", "onnx-int8")
_FEW_TEXTS = 32  # as in index/onnx_embedding.py: one request at a time, leaving the other core alone
_WINDOW = 64  # texts in flight at once: bounds the token states held in memory


def available() -> str | None:
    """OpenVINO's version, or None when it is not installed."""
    try:
        import openvino
    except ImportError:
        return None
    return openvino.__version__.split("-")[0]  # "2026.4.1", without the build and branch


class OpenVinoMiniLMEmbedder(LatePooling):
    """all-MiniLM-L6-v2 on OpenVINO (CPU); ``variant`` one of ``VARIANTS``; ``workers`` streams (default:
    one per core) of ``threads`` threads each."""

    name = MINILM_NAME
    dim = 384
    backend = "openvino"

    def __init__(
        self, variant: str = "fp32", workers: int | None = None, threads: int = 1, cache: Path | None = None
    ) -> None:
        if variant not in VARIANTS:
            raise ModelUnavailable(f"unknown openvino variant {variant!r}; known: {', '.join(VARIANTS)}")
        self.variant = variant
        self.quantization = "int8" if "int8" in variant else "none"
        self.workers = workers or len(os.sched_getaffinity(0))
        self.threads = threads
        self._path = model_dir()
        self._cache = cache

    @cached_property
    def fingerprint(self) -> str:
        version = available() or "missing"
        return f"{self.name}:sha256:{weights_digest(self._path)}:openvino-{version}-{self.variant}-r{RECIPE}"

    @cached_property
    def _compiled(self):
        try:
            import openvino as ov
        except ImportError as exc:
            raise ModelUnavailable("the openvino variants need openvino: `pip install openvino`") from exc
        source = "int8" if self.variant == "onnx-int8" else "none"
        onnx = OnnxMiniLMEmbedder(source, cache=self._cache)
        core = ov.Core()
        model = core.read_model(str(ensure_model(self._path, onnx.folder, source)))
        model.reshape({port.get_any_name(): ov.PartialShape([1, -1]) for port in model.inputs})  # one text a run
        if self.variant.startswith("int8"):
            model = _compress_weights(model)
        precision = "bf16" if self.variant.endswith("bf16") else "f32"
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "NUM_STREAMS": str(self.workers),
            "INFERENCE_NUM_THREADS": str(self.workers * self.threads),  # split evenly over the streams
            "ENABLE_CPU_PINNING": "NO",  # other jobs share the cores: pinned threads would queue behind them
            "PERFORMANCE_HINT": "THROUGHPUT",  # streams and threads are given explicitly above
        }
        return core.compile_model(model, "CPU", config)

    @cached_property
    def _request(self):
        return self._compiled.create_infer_request()

    @cached_property
    def _queue(self):
        import openvino as ov

        return ov.AsyncInferQueue(self._compiled, self.workers)

    @cached_property
    def _tokenizer(self):
        return minilm_tokenizer(self._path)

    def settings(self) -> dict[str, str]:
        """The compiled model's stream, thread and precision settings, as the plugin reports them."""
        keys = ("INFERENCE_PRECISION_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "ENABLE_CPU_PINNING")
        return {key: str(self._compiled.get_property(key)) for key in keys}

    def _forward(self, texts: list[str]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        tokenizer = self._tokenizer
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # longest first, as onnx
        few = len(texts) <= _FEW_TEXTS or self.workers == 1
        for first in range(0, len(order), _WINDOW):
            window = order[first : first + _WINDOW]
            encodings = [tokenizer.encode(texts[i]) for i in window]
            feeds = [_feed(np.array([e.ids], dtype=np.int64)) for e in encodings]
            states = self._run_one(feeds) if few else self._run_parallel(feeds)
            for i, encoding, hidden in zip(window, encodings, states, strict=True):
                offsets = np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2)
                real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
                yield i, hidden.mean(axis=0), hidden[real], offsets[real]

    def _run_one(self, feeds: list[dict]) -> list[np.ndarray]:
        request = self._request
        return [request.infer(feed)[0][0].copy() for feed in feeds]

    def _run_parallel(self, feeds: list[dict]) -> list[np.ndarray]:
        queue = self._queue
        out: list[np.ndarray | None] = [None] * len(feeds)

        def done(request, j: int) -> None:
            out[j] = request.get_output_tensor(0).data[0].copy()  # the request's buffer is reused

        queue.set_callback(done)
        for j, feed in enumerate(feeds):
            queue.start_async(feed, j)
        queue.wait_all()
        return out  # type: ignore[return-value]


def _feed(ids: np.ndarray) -> dict[str, np.ndarray]:
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def _compress_weights(model):
    """int8 weights (asymmetric, per output channel) for the model's MatMuls: NNCF's weight-only mode."""
    try:
        import nncf
    except ImportError as exc:
        raise ModelUnavailable("the openvino int8 variants need nncf: `pip install nncf`") from exc
    nncf.set_log_level(logging.ERROR)  # its tables and progress bars would clutter the benchmark's output
    return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
