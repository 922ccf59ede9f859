"""The import rules of docs/architecture.md, read from the code: layers only import downwards.

Every ``import``/``from ... import`` of every module counts, including the lazy ones inside
functions, because a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qa", "index", "ui", "eval", "api")

# Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("qa.core",),
    ("index",),
    ("qa.search",),
    ("qa.answer",),
    ("qa.llm",),
    ("qa.engine",),
    ("ui", "eval", "api"),  # siblings: none imports another (below)
    ("qa.commands", "qa.cli"),
    ("eval.bench", "eval.train"),  # research scripts: only they import each other (below)
)
SIBLINGS = (("ui", "eval"), ("ui", "api"), ("api", "eval"))
NOBODY_IMPORTS = ("eval.bench", "eval.train")

# Each heavy dependency is imported in exactly one module.
HEAVY = {
    "faiss": "index/dense.py",
    "sentence_transformers": "index/embedding.py",
    "torch": "index/embedding.py",
    "onnxruntime": "index/onnx_embedding.py",
    "tiktoken": "index/tokens.py",
    "bm25s": "index/sparse.py",
    "Stemmer": "index/sparse.py",
    "nupunkt": "index/sentences.py",
    "gradio": "ui/app.py",
    "mcp": "api/mcp.py",
    "spacy": "qa/answer/short/nlp.py",
    "llama_cpp": "qa/llm/local.py",
    "pypdfium2": "index/formats/pdfium.py",
    "pptx": "index/formats/pptx.py",
    "openpyxl": "index/formats/xlsx.py",
    "watchfiles": "index/watch.py",
    "psycopg": "index/postgres/connection.py",
    "pgvector": "index/postgres/connection.py",
    "ray": "index/ray_ingest.py",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _nodes(tree: ast.AST, runtime_only: bool):
    for node in ast.iter_child_nodes(tree):
        type_checking = isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        if runtime_only and type_checking:
            continue  # names for type hints only: no dependency when the program runs
        yield node
        yield from _nodes(node, runtime_only)


def imports(path: Path, runtime_only: bool = False) -> set[str]:
    """Absolute module names ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in _nodes(ast.parse(path.read_text(encoding="utf-8")), runtime_only):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer(module: str) -> int | None:
    """The layer of a project module (the longest matching prefix), None outside the project."""
    best: tuple[int, int] | None = None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if _within(module, prefix) and (best is None or len(prefix) > best[1]):
                best = (level, len(prefix))
    return None if best is None else best[0]


def violations(edges: list[tuple[str, str]]) -> list[str]:
    """The broken rules among ``(importer, imported)`` module pairs, one line each."""
    broken = []
    for importer, imported in edges:
        low, high = layer(importer), layer(imported)
        if low is None or high is None:
            continue
        if high > low:
            broken.append(f"{importer} imports {imported}: a higher layer")
        for a, b in SIBLINGS:
            if (_within(importer, a) and _within(imported, b)) or (_within(importer, b) and _within(imported, a)):
                broken.append(f"{importer} imports {imported}: {a} and {b} never import each other")
        for prefix in NOBODY_IMPORTS:
            research = any(_within(importer, p) for p in NOBODY_IMPORTS)
            if _within(imported, prefix) and not research:
                broken.append(f"{importer} imports {imported}: nothing imports {prefix}")
    return broken


def project_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_layers_only_import_downwards() -> None:
    edges = [(module_name(path), imported) for path in project_files() for imported in imports(path)]
    assert len(edges) > 200  # the walk really read the code
    assert violations(edges) == []


def test_tests_never_import_the_research_scripts() -> None:
    tests = [p for p in (ROOT / "tests").rglob("*.py") if "data" not in p.relative_to(ROOT / "tests").parts]
    edges = [("tests", imported) for path in tests for imported in imports(path)]
    assert [e for e in edges if any(_within(e[1], p) for p in NOBODY_IMPORTS)] == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("index.store", "qa.search.retrieval"),  # index imports only qa.core
        ("index.writer", "qa.engine"),
        ("qa.core.types", "index.store"),
        ("qa.answer.extractive", "qa.llm.answerer"),
        ("qa.engine", "ui.app"),  # only qa.commands imports ui, eval and api
        ("qa.engine", "api.mcp"),
        ("ui.handlers", "api.mcp"),
        ("api.mcp", "ui.render"),
        ("api.mcp", "eval.runner"),
        ("qa.answer.chat", "eval.runner"),
        ("ui.session", "eval.scoring"),
        ("eval.runner", "ui.render"),
        ("eval.scoring", "eval.bench.common"),  # nothing imports the benches
        ("qa.commands.eval_cmd", "eval.train.short_answer"),
    ],
)
def test_a_violating_import_is_caught(importer: str, imported: str) -> None:
    assert violations([(importer, imported)])


def test_allowed_imports_pass() -> None:
    allowed = [
        ("index.store", "qa.core.types"),
        ("qa.search.retrieval", "index.store"),
        ("qa.commands.serve", "ui.app"),
        ("qa.commands.serve", "api.mcp"),
        ("qa.commands.mcp", "api.mcp"),
        ("api.mcp", "qa.engine"),
        ("qa.commands.eval_cmd", "eval.runner"),
        ("eval.bench.answers", "eval.metrics"),
        ("ui.app", "qa.engine"),
    ]
    assert violations(allowed) == []


def test_each_heavy_dependency_is_imported_in_one_module() -> None:
    where: dict[str, set[str]] = {name: set() for name in HEAVY}
    for path in project_files():
        if _within(module_name(path), "eval.bench") or _within(module_name(path), "eval.train"):
            continue  # research scripts may time a library directly
        for imported in imports(path, runtime_only=True):
            top = imported.split(".")[0]
            if top in where:
                where[top].add(str(path.relative_to(ROOT)))
    assert {name: sorted(files) for name, files in where.items() if files - {HEAVY[name]}} == {}


def test_the_single_machine_path_imports_neither_ray_nor_the_database_driver(tmp_path: Path) -> None:
    """Build, update, search and answer over a folder index: Ray and psycopg stay unloaded
    (they are optional extras, and loading them costs seconds)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Tides\n\nThe moon pulls the sea, which makes the tides.\n")
    script = f"""
import sys
from pathlib import Path
from index.build import build_index
from index.embedding import HashingEmbedder
from index.loaders import iter_sources
from index.update import update_index
from index.store import IndexDir
from qa.answer.extractive import AnswerSettings, ExtractiveAnswerer
from qa.search.retrieval import Retriever
docs, root = Path({str(tmp_path / "docs")!r}), Path({str(tmp_path / "index")!r})
embedder = HashingEmbedder(dim=32)
build_index(iter_sources([docs]), root, embedder)
update_index([docs], root, embedder)
# No short-answer finder: spaCy has nothing to do with this, and its loader thread would outlive the script.
retriever = Retriever(IndexDir(root).load(), embedder)
ExtractiveAnswerer(retriever, embedder, AnswerSettings(), None).answer("What makes the tides?")
loaded = sorted(m for m in ("ray", "psycopg", "pgvector") if m in sys.modules)
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
