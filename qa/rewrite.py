"""Rewriting a chat follow-up into a standalone retrieval query, without a language model."""

from __future__ import annotations

from collections.abc import Sequence


def rewrite_followup(question: str, turns: Sequence) -> str:
    """The query to search for ``question`` given the earlier ``turns`` (placeholder: unchanged)."""
    return question
