"""Where things live by default, and the environment variables that move them."""

from __future__ import annotations

import os
from pathlib import Path

INDEX_ENV = "QA_INDEX"
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
