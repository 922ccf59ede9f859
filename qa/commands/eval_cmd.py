"""``qa eval``: ask a gold set against an index and write a run folder; ``score`` and ``compare`` runs.

    qa eval GOLD [--index DIR] [--out DIR] [--limit N] [--articles A,B] [--baseline RUN --tolerance X]
    qa eval score GOLD PREDICTIONS.json
    qa eval compare RUN_A RUN_B

``qa eval`` takes its first word as a gold path unless it is ``score`` or ``compare``, so the
three forms get their own parsers here. Exit codes: those of ``qa`` (0, 1 error, 2 usage) and
4 when ``--baseline`` finds a metric worse than its tolerance (docs/eval.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from qa.commands.common import add_index_arg
from qa.errors import GoldFormatError

EXIT_REGRESSION = 4
ACTIONS = ("score", "compare")


def register(commands: argparse._SubParsersAction) -> None:
    ev = commands.add_parser(
        "eval",
        help="evaluate against gold questions; `qa eval score|compare ...`",
        add_help=False,
        usage="qa eval GOLD [options] | qa eval score GOLD PREDICTIONS | qa eval compare RUN_A RUN_B",
    )
    ev.add_argument("words", nargs=argparse.REMAINDER)
    ev.set_defaults(run=_dispatch)


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa eval", description="Ask a gold set against an index and write a run folder.")
    p.add_argument("gold", type=Path, help="SQuAD .json, BEIR folder or gold .jsonl (docs/eval.md)")
    add_index_arg(p)
    p.set_defaults(index=None)  # unlike other commands, no --index means: index the gold set's own corpus
    p.add_argument("--out", type=Path, help="run folder to write (default runs/<gold>-<UTC time>)")
    p.add_argument("--limit", type=int, help="ask only the first N questions (the corpus stays whole)")
    p.add_argument("--articles", help="SQuAD only: comma-separated article titles to keep (questions and corpus)")
    p.add_argument("--per-article", type=int, help="with --articles: only the first N questions of each article")
    p.add_argument("--split", default="train", help="BEIR qrels split (default train)")
    p.add_argument("--embedder", default="all-MiniLM-L6-v2", help="embedder for an index built from the gold set")
    p.add_argument("--baseline", type=Path, help="run folder to gate against (exit 4 on a regression)")
    p.add_argument("--tolerance", type=float, default=0.0, help="allowed drop of a quality metric (0-1 scale)")
    p.add_argument(
        "--latency-tolerance",
        type=float,
        help="allowed latency growth as a ratio (0.5 = 50%% slower); default: ungated",
    )
    return p


def _score_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa eval score", description="Official SQuAD EM/F1 of a predictions file.")
    p.add_argument("gold", type=Path, help="SQuAD .json (v1.1 or v2.0) or gold .jsonl")
    p.add_argument("predictions", type=Path, help='JSON object {"question id": "answer text", ...}; "" = no answer')
    return p


def _compare_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa eval compare", description="Metric deltas and flipped questions of two runs.")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--json", action="store_true", help="deltas and flips as one JSON object")
    return p


def _dispatch(args: argparse.Namespace) -> int:
    words = args.words
    if not words or words[0] in ("-h", "--help"):
        _run_parser().print_help()
        print("\nalso: qa eval score GOLD PREDICTIONS.json | qa eval compare RUN_A RUN_B")
        return 0
    if words[0] == "score":
        return _score(_score_parser().parse_args(words[1:]))
    if words[0] == "compare":
        return _compare(_compare_parser().parse_args(words[1:]))
    return _evaluate(_run_parser().parse_args(words))


def _score(args: argparse.Namespace) -> int:
    from eval.goldset import load_gold
    from eval.squad import score_answers

    gold = load_gold(args.gold)
    if gold.kind == "beir":
        raise GoldFormatError(f"{args.gold}: a BEIR folder has no answer strings to score")
    predictions = _read_predictions(args.predictions)
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


def _compare(args: argparse.Namespace) -> int:
    from eval.runs import compare, format_comparison, load_run

    comparison = compare(load_run(args.before), load_run(args.after))
    if args.json:
        print(json.dumps(_comparison_json(comparison), ensure_ascii=False))
    else:
        print(format_comparison(comparison))
    return 0


def _comparison_json(comparison) -> dict:
    return {
        "deltas": {d.metric: {"before": d.before, "after": d.after, "delta": d.change} for d in comparison.deltas},
        "flips": [dataclasses.asdict(f) for f in comparison.flips],
        "only_before": list(comparison.only_before),
        "only_after": list(comparison.only_after),
    }


def _evaluate(args: argparse.Namespace) -> int:
    from eval.goldset import load_gold
    from eval.runner import git_state
    from eval.runs import compare, format_comparison, load_run, regressions, write_run

    gold = load_gold(args.gold, args.split)
    if args.articles:
        gold = gold.select_articles([t.strip() for t in args.articles.split(",") if t.strip()], args.per_article)
    elif args.per_article is not None:
        raise GoldFormatError("--per-article needs --articles")
    if args.limit is not None:
        gold = gold.first(args.limit)
    if not gold.questions:
        raise GoldFormatError(f"{args.gold}: no questions to ask")
    baseline = load_run(args.baseline) if args.baseline is not None else None  # fail before the slow part
    out = args.out or Path("runs") / f"{gold.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    began = time.perf_counter()
    if args.index is not None:
        results, header = _evaluate_on(gold, args.index, args.embedder, str(args.index))
    else:
        with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
            results, header = _evaluate_on(gold, Path(tmp), args.embedder, "(temporary, built from the gold set)")
    header = {
        "gold": gold.describe(),
        **header,
        "git": git_state(),
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


def _evaluate_on(gold, root: Path, embedder_name: str, shown_path: str) -> tuple[list, dict]:
    """Ask ``gold`` against the index at ``root``, building it there from the gold corpus if there is none."""
    from tqdm import tqdm

    from eval.runner import ask_all, build_gold_index
    from index.embedding import embedder_by_name
    from index.store import IndexDir
    from qa.engine import Engine

    embedder = None
    if not IndexDir(root).exists():
        embedder = embedder_by_name(embedder_name)
        with tqdm(desc="indexing gold corpus", unit="doc", file=sys.stderr, disable=None) as bar:
            build_gold_index(gold, root, embedder, on_document=lambda *_: bar.update(1))
    engine = Engine(root, embedder)
    with tqdm(total=len(gold.questions), desc="asking", unit="q", file=sys.stderr, disable=None) as bar:
        results = ask_all(gold, engine, on_question=lambda n: bar.update(n - bar.n))
    manifest = {k: v for k, v in engine.index.manifest.to_json().items() if k != "documents"}
    header = {"index": {"path": shown_path, **manifest}, "answer_settings": dataclasses.asdict(engine.settings)}
    return results, header


def _print_metrics(header: dict) -> None:
    for name, value in header["metrics"].items():
        print(f"{name:<28} {value:>10.4f}   ({header['counts'][name]} questions)")
