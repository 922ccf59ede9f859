"""``qa eval``: ask a gold set against an index and write a run folder; ``score`` and ``compare`` runs.

    qa eval GOLD [--index DIR] [--out DIR] [--limit N] [--articles A,B] [--baseline RUN --tolerance X]
    qa eval score GOLD PREDICTIONS.json
    qa eval compare RUN_A RUN_B

``qa eval`` takes its first word as a gold path unless it is ``score`` or ``compare``; one parser
holds the options of all three forms (argparse cannot make a sub-command optional). Exit codes:
those of ``qa`` (0, 1 error, 2 usage) and 4 when ``--baseline`` finds a metric worse than its
tolerance (docs/eval.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from qa.commands.common import index_location
from qa.commands.llm_args import add_llm_args, llm_backend
from qa.core.errors import GoldFormatError

if TYPE_CHECKING:  # the eval modules are imported when a command runs, to keep `qa --help` quick
    from eval.goldset import GoldSet
    from eval.run_folder import Comparison
    from eval.scoring import QuestionResult
    from index.postgres.reader import PgStore

EXIT_REGRESSION = 4
ACTIONS = ("score", "compare")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "eval",
        help="score answers against gold questions; compare runs; score a predictions file",
        description="qa eval GOLD: ask a gold set against an index and write a run folder (docs/eval.md). "
        "qa eval score GOLD PREDICTIONS.json: official SQuAD EM/F1 of a predictions file. "
        "qa eval compare RUN_A RUN_B: metric deltas and the questions that flipped.",
    )
    p.add_argument(
        "words",
        nargs="+",
        metavar="GOLD | score GOLD PREDICTIONS | compare RUN_A RUN_B",
        help="GOLD is a SQuAD .json, a BEIR folder or a gold .jsonl",
    )
    p.add_argument(
        "--index",
        type=Path,
        help="index to ask (built there from the gold corpus if empty); default: a temporary index of the gold corpus",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        help="a PostgreSQL store to ask instead (built there from the gold corpus if empty; docs/scaling.md)",
    )
    p.add_argument("--out", type=Path, help="run folder to write (default runs/<gold>-<UTC time>)")
    p.add_argument("--limit", type=int, help="ask only the first N questions (the corpus stays whole)")
    p.add_argument("--articles", help="SQuAD only: comma-separated article titles to keep (questions and corpus)")
    p.add_argument("--per-article", type=int, help="with --articles: only the first N questions of each article")
    p.add_argument("--split", default="train", help="BEIR qrels split (default train)")
    p.add_argument("--embedder", default="all-MiniLM-L6-v2", help="embedder for an index built from the gold set")
    p.add_argument(
        "--backend", choices=("onnx", "torch"), default="onnx", help="what runs it there: onnx (default) or torch"
    )
    p.add_argument("--baseline", type=Path, help="run folder to gate against (exit 4 on a regression)")
    p.add_argument("--tolerance", type=float, default=0.0, help="allowed drop of a quality metric (0-1 scale)")
    p.add_argument(
        "--latency-tolerance",
        type=float,
        help="allowed latency growth as a ratio (0.5 = 50%% slower); default: ungated",
    )
    p.add_argument("--json", action="store_true", help="compare: deltas and flips as one JSON object")
    add_llm_args(p)
    p.set_defaults(run=_dispatch, usage_error=p.error)


def _dispatch(args: argparse.Namespace) -> int:
    words = args.words
    if words[0] in ACTIONS:
        if len(words) != 3:
            args.usage_error(f"qa eval {words[0]} takes two paths, got {len(words) - 1}")
        if words[0] == "score":
            return _score(Path(words[1]), Path(words[2]))
        return _compare(Path(words[1]), Path(words[2]), args.json)
    if len(words) != 1:
        args.usage_error(f"expected one GOLD path, got {words}")
    return _evaluate(Path(words[0]), args)


def _score(gold_path: Path, predictions_path: Path) -> int:
    from eval.goldset import load_gold
    from eval.squad import score_answers

    gold = load_gold(gold_path)
    if gold.kind == "beir":
        raise GoldFormatError(f"{gold_path}: a BEIR folder has no answer strings to score")
    predictions = _read_predictions(predictions_path)
    # Retrieval-only questions (answerable, no answer strings) cannot be scored for EM/F1.
    golds = {q.qid: list(q.answers) for q in gold.questions if q.answers or not q.answerable}
    print(json.dumps(score_answers(golds, predictions), indent=2))
    return 0


def _read_predictions(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise GoldFormatError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GoldFormatError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise GoldFormatError(f'{path}: expected a JSON object {{"question id": "answer text"}}')
    return data


def _compare(before: Path, after: Path, as_json: bool) -> int:
    from eval.run_folder import compare, format_comparison, load_run

    comparison = compare(load_run(before), load_run(after))
    if as_json:
        print(json.dumps(_comparison_json(comparison), ensure_ascii=False))
    else:
        print(format_comparison(comparison))
    return 0


def _comparison_json(comparison: Comparison) -> dict:
    return {
        "deltas": {d.metric: {"before": d.before, "after": d.after, "delta": d.change} for d in comparison.deltas},
        "flips": [dataclasses.asdict(f) for f in comparison.flips],
        "only_before": list(comparison.only_before),
        "only_after": list(comparison.only_after),
    }


def _evaluate(gold_path: Path, args: argparse.Namespace) -> int:
    from eval.goldset import load_gold
    from eval.run_folder import compare, format_comparison, load_run, regressions, write_run
    from eval.runner import git_state

    if args.per_article is not None and not args.articles:
        args.usage_error("--per-article needs --articles")
    gold = load_gold(gold_path, args.split)
    if args.articles:
        gold = gold.select_articles([t.strip() for t in args.articles.split(",") if t.strip()], args.per_article)
    if args.limit is not None:
        gold = gold.first(args.limit)
    if not gold.questions:
        raise GoldFormatError(f"{gold_path}: no questions to ask")
    baseline = load_run(args.baseline) if args.baseline is not None else None  # fail before the slow part
    out = args.out or Path("runs") / f"{gold.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    began = time.perf_counter()
    git = git_state()  # now: the tree may change while a long run is going
    llm = llm_backend(args)  # LLMUnavailable before the slow part
    if args.index is not None or args.store:
        location = index_location(args)
        results, header = _evaluate_on(gold, location, (args.embedder, args.backend), str(location), llm)
    else:
        with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
            shown = "(temporary, built from the gold set)"
            results, header = _evaluate_on(gold, Path(tmp), (args.embedder, args.backend), shown, llm)
    header = {
        "gold": gold.describe(),
        **header,
        "git": git,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - began, 1),
    }
    run = write_run(out, header, results)
    _print_metrics(run.header)
    print(f"run folder: {out}")
    if baseline is None:
        return 0
    comparison = compare(baseline, run)
    print(f"\ncompared with baseline {args.baseline}:\n{format_comparison(comparison, max_flips=10)}")
    failed = regressions(comparison, args.tolerance, args.latency_tolerance)
    for delta, limit in failed:
        print(
            f"qa eval: regression: {delta.metric} {delta.before:.4f} -> {delta.after:.4f} (worse by "
            f"{delta.worse_by:.4f} > tolerance {limit})",
            file=sys.stderr,
        )
    return EXIT_REGRESSION if failed else 0


def _evaluate_on(
    gold: GoldSet, root: Path | PgStore, embedder: tuple[str, str], shown_path: str, llm=None
) -> tuple[list[QuestionResult], dict]:
    """Ask ``gold`` against the index at ``root``, building it there from the gold corpus if there is none
    (with ``embedder``: its name and backend).

    With ``llm`` (a backend) the questions are answered by the language model (qa eval --llm).
    """
    from tqdm import tqdm

    from eval.runner import ask_all, build_gold_index
    from index.embedding import embedder_by_name
    from index.store import IndexDir
    from qa.answer.extractive import WEIGHTS
    from qa.engine import Engine

    name, backend = embedder
    embedder = None
    if not (IndexDir(root).exists() if isinstance(root, Path) else root.exists()):
        embedder = embedder_by_name(name, backend)
        with tqdm(desc="indexing gold corpus", unit="doc", file=sys.stderr, disable=None) as bar:
            build_gold_index(gold, root, embedder, on_document=lambda *_: bar.update(1))
    engine = Engine(root, embedder, llm=llm)
    unknown = sorted({d for q in gold.questions for d in q.doc_ids if d not in engine.index.hashes})
    if unknown:
        # Usually ids written differently from the index's (paths relative to another folder).
        print(
            f"qa eval: warning: {len(unknown)} gold doc_ids are not in the index, e.g. {unknown[:3]}", file=sys.stderr
        )
    with tqdm(total=len(gold.questions), desc="asking", unit="q", file=sys.stderr, disable=None) as bar:
        results = ask_all(gold, engine, on_question=lambda n: bar.update(n - bar.n), llm=llm is not None)
    manifest = {k: v for k, v in engine.index.manifest.to_json().items() if k != "documents"}
    header = {
        "index": {"path": shown_path, **manifest},
        "answer_settings": dataclasses.asdict(engine.settings) | {"evidence_weights": dataclasses.asdict(WEIGHTS)},
    }
    if llm is not None:
        header["llm"] = {"backend": llm.describe(), "grounding": dataclasses.asdict(engine.grounding)}
    return results, header


def _print_metrics(header: dict) -> None:
    for name, value in header["metrics"].items():
        print(f"{name:<28} {value:>10.4f}   ({header['counts'][name]} questions)")
