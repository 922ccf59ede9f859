"""The spaCy pipeline loads without torch (thinc would import it for nothing: ~0.9 s and ~200 MB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_pipeline_loads_without_torch_and_torch_still_imports_afterwards() -> None:
    code = """
import sys
from qa.answer.short.nlp import parse
doc = parse(["Marie Curie was born in Warsaw in 1867."])[0]
assert {e.text for e in doc.ents} >= {"Marie Curie", "Warsaw"}, doc.ents
assert "torch" not in sys.modules, "spaCy's load imported torch"
import torch
assert torch.ones(1).item() == 1.0
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
