"""Where things live by default, and the environment variables that move them."""

from __future__ import annotations

import os
from pathlib import Path

INDEX_ENV = "QA_INDEX"
CACHE_ENV = "QA_CACHE"
STORE_ENV = "QA_STORE"  # a postgresql:// URL: the store every command uses when no --index is given
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_CORPUS = PROJECT_ROOT / "docs" / "guide"


def default_index_dir() -> Path:
    """``$QA_INDEX``, else ``$XDG_DATA_HOME/qa/index``, else ``~/.local/share/qa/index``."""
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "qa" / "index"


def demo_index_dir() -> Path:
    """The demo corpus's own index, kept apart from the user's."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "qa" / "demo-index"


def default_cache_dir() -> Path:
    """Files the project derives and can always make again (the onnx backend's exported model):
    ``$QA_CACHE``, else ``$XDG_CACHE_HOME/qa``, else ``~/.cache/qa``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "qa"
