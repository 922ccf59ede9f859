"""Cold start and answer latency on the demo corpus, with each embedding backend.

    python -m eval.bench.startup [--runs 5] [--port 7931]

Needs no shared data: the corpus is the user guide (docs/guide). It builds the guide's index once
with each backend (torch, onnx) in a temporary folder, then, alternating the backends so that a
busy machine slows both alike, prints the medians of:
- ``qa ask --index DIR QUESTION``: a whole one-shot process, from spawn to exit;
- ``qa serve --index DIR``: from spawn to the page answering HTTP, and to the line saying it is
  ready (the model loaded and one question answered through every stage);
- ``qa serve`` on the demo corpus (what ``make demo`` runs; its index built beforehand in a
  temporary ``XDG_DATA_HOME``): spawn to ready;
- ``ask`` in one process (Engine.ask over the 75 questions of eval/goldsets/guide.jsonl, each
  asked with both backends back to back): p50/p95 in ms;
and the onnx/torch ratios. "Cold" is a new process; the files it reads are in the page cache, as
they are on any second start. The onnx backend's one-time export of the model (first use on a
machine, before any of this) is timed separately into a fresh cache folder.

Servers listen on 127.0.0.1, are started here and stopped by their PID.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from eval.goldset import load_gold
from eval.metrics import percentile
from index.build import build_index
from index.embedding import MINILM_NAME, embedder_by_name, model_dir
from index.loaders import iter_sources
from index.onnx_embedding import OnnxMiniLMEmbedder, ensure_model
from qa.core.paths import DEMO_CORPUS
from qa.engine import Engine

REPO = Path(__file__).resolve().parents[2]
QA = [sys.executable, "-m", "qa.cli"]
BACKENDS = ("torch", "onnx")
QUESTION = "How do I rebuild the index?"
GUIDE_GOLD = REPO / "eval" / "goldsets" / "guide.jsonl"
READY_LINE = "qa: serving "  # qa/commands/serve.py prints it once a question can be answered
TIMEOUT_S = 180.0


def time_ask(index: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run([*QA, "ask", "--index", str(index), QUESTION], env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def time_serve(args: list[str], port: int, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawning ``qa serve ARGS`` to the page answering HTTP, and to its ready line."""
    command = [*QA, "serve", *args, "--port", str(port)]
    began = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    page = ready = None
    try:
        assert server.stdout is not None
        lines = []
        while ready is None:
            elapsed = time.perf_counter() - began
            if elapsed > TIMEOUT_S or server.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} did not become ready:\n{''.join(lines)}")
            if page is None and _page_up(port):
                page = time.perf_counter() - began
            readable, _, _ = select.select([server.stdout], [], [], 0.05)
            if readable:
                line = server.stdout.readline()
                lines.append(line)
                if line.startswith(READY_LINE):
                    ready = time.perf_counter() - began
        return (page if page is not None else ready), ready
    finally:
        server.terminate()  # by PID: this process started it
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _page_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.2) as response:
            return response.status == 200
    except OSError:
        return False


def export_seconds() -> float:
    """The onnx backend's first use on a machine: export and quantise into an empty cache."""
    with tempfile.TemporaryDirectory(prefix="bench-onnx-cache-") as cache:
        folder = OnnxMiniLMEmbedder(cache=Path(cache)).folder
        began = time.perf_counter()
        ensure_model(model_dir(), folder, "int8")
        return time.perf_counter() - began


def ask_latency(indexes: dict[str, Path]) -> dict[str, list[float]]:
    """Engine.ask over the guide gold questions, each asked with every backend in turn, in ms."""
    questions = [q.question for q in load_gold(GUIDE_GOLD).questions]
    engines = {backend: Engine(root) for backend, root in indexes.items()}
    for engine in engines.values():
        engine.ask(questions[0])  # the model, spaCy and caches load outside the measure
    times: dict[str, list[float]] = {backend: [] for backend in engines}
    for question in questions:
        for backend, engine in engines.items():
            began = time.perf_counter()
            engine.ask(question)
            times[backend].append((time.perf_counter() - began) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="starts of each kind per backend (default 5)")
    parser.add_argument("--port", type=int, default=7931, help="port for the servers started (default 7931)")
    args = parser.parse_args(argv)

    print(f"onnx model export (first use on a machine): {export_seconds():.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "PYTHONPATH": str(REPO)}
        indexes = {}
        for backend in BACKENDS:
            indexes[backend] = work / backend
            report = build_index(iter_sources([DEMO_CORPUS]), indexes[backend], embedder_by_name(MINILM_NAME, backend))
            print(f"{backend}: guide index {report.chunks} chunks in {report.seconds:.1f} s", flush=True)
        # The demo path builds its own index on its first start; done here, so the runs time a start.
        time_serve([], args.port, env)

        figures: dict[str, dict[str, list[float]]] = {b: {"ask": [], "page": [], "ready": []} for b in BACKENDS}
        demo_ready: list[float] = []
        for run in range(args.runs):
            for backend in BACKENDS:
                figures[backend]["ask"].append(time_ask(indexes[backend], env))
                page, ready = time_serve(["--index", str(indexes[backend])], args.port, env)
                figures[backend]["page"].append(page)
                figures[backend]["ready"].append(ready)
            demo_ready.append(time_serve([], args.port, env)[1])
            print(f"run {run + 1}/{args.runs} done (load average {os.getloadavg()[0]:.1f})", flush=True)
        latency = ask_latency(indexes)

    print(f"\n== cold start, median of {args.runs} (seconds)")
    print("| | torch | onnx | onnx / torch |\n|---|---|---|---|")
    rows = {
        "`qa ask` one-shot (spawn to exit)": "ask",
        "`qa serve --index`: spawn to page served": "page",
        "`qa serve --index`: spawn to ready": "ready",
    }
    for label, key in rows.items():
        torch_s, onnx_s = (statistics.median(figures[b][key]) for b in BACKENDS)
        print(f"| {label} | {torch_s:.2f} | {onnx_s:.2f} | {onnx_s / torch_s:.2f} |")
    print(f"`qa serve` on the demo corpus (default backend), spawn to ready: {statistics.median(demo_ready):.2f} s")
    print(f"\n== ask in one process, {len(latency['torch'])} guide questions (ms)")
    print("| | torch | onnx | onnx / torch |\n|---|---|---|---|")
    for p in (50, 95):
        torch_ms, onnx_ms = (percentile(latency[b], p) for b in BACKENDS)
        print(f"| p{p} | {torch_ms:.1f} | {onnx_ms:.1f} | {onnx_ms / torch_ms:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
