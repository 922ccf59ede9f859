"""Regenerate the small test-data cuts in tests/data/ from the shared development data.

    .venv/bin/python tests/data/make_cuts.py [SHARED] [--out DIR] [--chat-gold FILE]

SHARED defaults to the ``shared`` folder beside the repository (``../shared`` from the project
root). The cuts are deterministic (fixed rules, fixed random seed), so running this again on the
same inputs rewrites byte-identical files. What is cut and why is in tests/data/README.md.

After writing the cuts the script recomputes the official SQuAD figures (EM/F1, and for v2.0 the
HasAns/NoAns breakdown) of each cut prediction file with a faithful reimplementation of the
official ``evaluate-v1.1.py`` and ``evaluate-v2.0.py`` scripts (below). That reimplementation is
deliberately independent of the project's own scorer (eval/squad.py), so the two can be checked
against each other; it is first checked against the published figures on the FULL files.

Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import string
import sys
from collections import Counter, OrderedDict
from pathlib import Path

HERE = Path(__file__).resolve().parent  # tests/data
REPO = HERE.parents[1]
DEFAULT_SHARED = REPO.parent / "shared"
# The conversational gold set has moved once; the first existing path wins.
CHAT_GOLD_CANDIDATES = (REPO / "eval" / "goldsets" / "chat.jsonl", REPO / "eval" / "gold" / "chat.jsonl")

SEED = 20180208
SEED_FILE = "000_e0905da38116da84.txt"
MIN_PARAGRAPHS = 4  # keep at least paragraphs 0..3 of every article
V2_WHOLE_ARTICLES = ("Normans", "1973_oil_crisis")  # the eval gate's articles: kept whole
SCIFACT_QUERIES = 150
SCIFACT_DOCS = 400
SIZE_LIMIT = 2_000_000  # bytes for everything in tests/data (README and this script included)
PREDICTIONS = (  # prediction file -> the gold file it is scored against
    ("v1.1-bert-ensemble.json", "dev-v1.1.json"),
    ("v1.1-match-lstm.json", "dev-v1.1.json"),
    ("v2.0-bert-single.json", "dev-v2.0.json"),
)
# Published figures of the official scorer on the full files (shared/data/README.md).
FULL_FILE_FIGURES = {
    "v1.1-bert-ensemble.json": {"exact": 86.508, "f1": 92.505},
    "v1.1-match-lstm.json": {"exact": 69.940, "f1": 78.365},
    "v2.0-bert-single.json": {"exact": 76.281, "f1": 79.109, "HasAns_exact": 76.682, "NoAns_exact": 75.852},
}


# ---------------------------------------------------------------------------------------------
# Official SQuAD v1.1 evaluation (evaluate-v1.1.py), reimplemented function for function.
# ---------------------------------------------------------------------------------------------


def v11_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def v11_f1_score(prediction, ground_truth):
    prediction_tokens = v11_normalize_answer(prediction).split()
    ground_truth_tokens = v11_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def v11_exact_match_score(prediction, ground_truth):
    return v11_normalize_answer(prediction) == v11_normalize_answer(ground_truth)


def v11_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def v11_evaluate(dataset, predictions):
    """``dataset`` is the file's ``data`` list, as in the official script."""
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    message = "Unanswered question " + qa["id"] + " will receive score 0."
                    print(message, file=sys.stderr)
                    continue
                ground_truths = list(map(lambda x: x["text"], qa["answers"]))
                prediction = predictions[qa["id"]]
                exact_match += v11_metric_max_over_ground_truths(v11_exact_match_score, prediction, ground_truths)
                f1 += v11_metric_max_over_ground_truths(v11_f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total

    return {"exact_match": exact_match, "f1": f1}


# ---------------------------------------------------------------------------------------------
# Official SQuAD v2.0 evaluation (evaluate-v2.0.py), reimplemented function for function.
# No no-answer probability file: every na_prob is 0.0 and the threshold 1.0 changes nothing.
# ---------------------------------------------------------------------------------------------


def v20_make_qid_to_has_ans(dataset):
    qid_to_has_ans = {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid_to_has_ans[qa["id"]] = bool(qa["answers"])
    return qid_to_has_ans


def v20_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def v20_get_tokens(s):
    if not s:
        return []
    return v20_normalize_answer(s).split()


def v20_compute_exact(a_gold, a_pred):
    return int(v20_normalize_answer(a_gold) == v20_normalize_answer(a_pred))


def v20_compute_f1(a_gold, a_pred):
    gold_toks = v20_get_tokens(a_gold)
    pred_toks = v20_get_tokens(a_pred)
    common = Counter(gold_toks) & Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        # If either is no-answer, then F1 is 1 if they agree, 0 otherwise
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def v20_get_raw_scores(dataset, preds):
    exact_scores = {}
    f1_scores = {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid = qa["id"]
                gold_answers = [a["text"] for a in qa["answers"] if v20_normalize_answer(a["text"])]
                if not gold_answers:
                    # For unanswerable questions, only correct answer is empty string
                    gold_answers = [""]
                if qid not in preds:
                    print(f"Missing prediction for {qid}", file=sys.stderr)
                    continue
                a_pred = preds[qid]
                # Take max over all gold answers
                exact_scores[qid] = max(v20_compute_exact(a, a_pred) for a in gold_answers)
                f1_scores[qid] = max(v20_compute_f1(a, a_pred) for a in gold_answers)
    return exact_scores, f1_scores


def v20_apply_no_ans_threshold(scores, na_probs, qid_to_has_ans, na_prob_thresh):
    new_scores = {}
    for qid, s in scores.items():
        pred_na = na_probs[qid] > na_prob_thresh
        if pred_na:
            new_scores[qid] = float(not qid_to_has_ans[qid])
        else:
            new_scores[qid] = s
    return new_scores


def v20_make_eval_dict(exact_scores, f1_scores, qid_list=None):
    if not qid_list:
        total = len(exact_scores)
        return OrderedDict(
            [
                ("exact", 100.0 * sum(exact_scores.values()) / total),
                ("f1", 100.0 * sum(f1_scores.values()) / total),
                ("total", total),
            ]
        )
    else:
        total = len(qid_list)
        return OrderedDict(
            [
                ("exact", 100.0 * sum(exact_scores[k] for k in qid_list) / total),
                ("f1", 100.0 * sum(f1_scores[k] for k in qid_list) / total),
                ("total", total),
            ]
        )


def v20_merge_eval(main_eval, new_eval, prefix):
    for k in new_eval:
        main_eval[f"{prefix}_{k}"] = new_eval[k]


def v20_evaluate(dataset_json, preds, na_prob_thresh=1.0):
    """The official script's ``main`` without a na_prob file or plots; returns its out_eval."""
    dataset = dataset_json["data"]
    na_probs = {k: 0.0 for k in preds}
    qid_to_has_ans = v20_make_qid_to_has_ans(dataset)  # maps qid to True/False
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = v20_get_raw_scores(dataset, preds)
    exact_thresh = v20_apply_no_ans_threshold(exact_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    f1_thresh = v20_apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    out_eval = v20_make_eval_dict(exact_thresh, f1_thresh)
    if has_ans_qids:
        has_ans_eval = v20_make_eval_dict(exact_thresh, f1_thresh, qid_list=has_ans_qids)
        v20_merge_eval(out_eval, has_ans_eval, "HasAns")
    if no_ans_qids:
        no_ans_eval = v20_make_eval_dict(exact_thresh, f1_thresh, qid_list=no_ans_qids)
        v20_merge_eval(out_eval, no_ans_eval, "NoAns")
    return out_eval


def official_figures(gold: dict, predictions: dict) -> dict:
    """The official script of the gold file's version: v1.1 -> evaluate-v1.1, else evaluate-v2.0.

    Returned with the v2.0 key names (``exact``, ``f1``, ``total``, ``HasAns_*``, ``NoAns_*``).
    """
    if str(gold["version"]) == "1.1":
        result = v11_evaluate(gold["data"], predictions)
        total = sum(len(p["qas"]) for a in gold["data"] for p in a["paragraphs"])
        return {"exact": result["exact_match"], "f1": result["f1"], "total": total}
    return dict(v20_evaluate(gold, predictions))


# ---------------------------------------------------------------------------------------------
# The cuts
# ---------------------------------------------------------------------------------------------


def squad_json_bytes(data: dict) -> bytes:
    # Same serialisation as the shared files: one line, UTF-8 as is, no trailing newline.
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def predictions_json_bytes(data: dict) -> bytes:
    # Same serialisation as the shared prediction files: one line, ASCII escapes, no newline.
    return json.dumps(data).encode("utf-8")


def chat_gold_prefixes(chat_gold: Path) -> dict[str, int]:
    """Article title -> number of leading paragraphs to keep (largest referenced index + 1, >= 4)."""
    largest: dict[str, int] = {}
    for line in chat_gold.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        for doc_id in json.loads(line).get("doc_ids", []):
            title, sep, index = doc_id.rpartition("#")
            if sep and index.isdigit():  # SQuAD paragraph ids; other ids (the UN News seed) are files
                largest[title] = max(largest.get(title, 0), int(index))
    return {title: max(index + 1, MIN_PARAGRAPHS) for title, index in largest.items()}


def cut_articles(gold: dict, keep: dict[str, int | None]) -> dict:
    """A copy of a SQuAD file keeping, per article, its first ``keep[title]`` paragraphs
    (None: all); articles not in ``keep`` are dropped. Every other key is kept as it is."""
    data = []
    for article in gold["data"]:
        title = article["title"]
        if title not in keep:
            continue
        n = keep[title]
        data.append({**article, "paragraphs": article["paragraphs"] if n is None else article["paragraphs"][:n]})
    return {**gold, "data": data}


def question_ids(gold: dict) -> set[str]:
    return {qa["id"] for a in gold["data"] for p in a["paragraphs"] for qa in p["qas"]}


def cut_predictions(predictions: dict, gold: dict) -> dict:
    wanted = question_ids(gold)
    return {qid: answer for qid, answer in predictions.items() if qid in wanted}


def cut_scifact(folder: Path, rng: random.Random) -> dict[str, bytes]:
    """~150 train queries (seeded sample), their qrels, and a ~400-document corpus holding every
    judged document plus a seeded sample of the others. Lines are copied byte for byte, in the
    order of the original files."""
    qrels_lines = (folder / "qrels" / "train.tsv").read_bytes().decode("utf-8").splitlines(keepends=True)
    header, judgements = qrels_lines[0], qrels_lines[1:]
    rows = list(csv.reader(io.StringIO("".join(judgements)), delimiter="\t"))
    judged_queries = sorted({r[0] for r in rows}, key=lambda q: (len(q), q))
    chosen_queries = set(rng.sample(judged_queries, min(SCIFACT_QUERIES, len(judged_queries))))

    query_lines = (folder / "queries.jsonl").read_bytes().decode("utf-8").splitlines(keepends=True)
    queries_out = [line for line in query_lines if line.strip() and json.loads(line)["_id"] in chosen_queries]
    qrels_out = [line for line, row in zip(judgements, rows) if row[0] in chosen_queries]
    judged_docs = {row[1] for row in rows if row[0] in chosen_queries}

    corpus_lines = (folder / "corpus.jsonl").read_bytes().decode("utf-8").splitlines(keepends=True)
    corpus_ids = [json.loads(line)["_id"] if line.strip() else None for line in corpus_lines]
    missing = judged_docs - set(corpus_ids)
    if missing:
        raise SystemExit(f"scifact: qrels name documents missing from corpus.jsonl: {sorted(missing)[:5]}")
    others = [doc for doc in corpus_ids if doc is not None and doc not in judged_docs]
    extra = set(rng.sample(others, max(0, SCIFACT_DOCS - len(judged_docs))))
    keep_docs = judged_docs | extra
    corpus_out = [line for line, doc in zip(corpus_lines, corpus_ids) if doc in keep_docs]
    return {
        "scifact/queries.jsonl": "".join(queries_out).encode("utf-8"),
        "scifact/qrels/train.tsv": (header + "".join(qrels_out)).encode("utf-8"),
        "scifact/corpus.jsonl": "".join(corpus_out).encode("utf-8"),
    }


def build(shared: Path, chat_gold: Path) -> tuple[dict[str, bytes], dict[str, dict], dict]:
    """Every output file (relative path -> bytes), the cut gold files parsed, and a few notes."""
    squad = shared / "data" / "squad"
    full = {name: json.loads((squad / name).read_text(encoding="utf-8")) for name in ("dev-v1.1.json", "dev-v2.0.json")}
    prefixes = chat_gold_prefixes(chat_gold)
    titles_v1 = [a["title"] for a in full["dev-v1.1.json"]["data"]]
    unknown = sorted(set(prefixes) - set(titles_v1))
    if unknown:
        raise SystemExit(f"{chat_gold}: doc_ids name articles not in dev-v1.1.json: {unknown}")
    keep_v1 = {title: prefixes.get(title, MIN_PARAGRAPHS) for title in titles_v1}
    cuts = {"dev-v1.1.json": cut_articles(full["dev-v1.1.json"], keep_v1)}

    whole_only = {title: None for title in V2_WHOLE_ARTICLES}
    with_prefixes = {**keep_v1, **whole_only}

    files: dict[str, bytes] = {f"seeds/{SEED_FILE}": (shared / "seeds" / SEED_FILE).read_bytes()}
    files.update(cut_scifact(shared / "data" / "scifact", random.Random(SEED)))
    files["squad/dev-v1.1.json"] = squad_json_bytes(cuts["dev-v1.1.json"])

    notes = {"v2_prefixes": True}
    for keep, prefixed in ((with_prefixes, True), (whole_only, False)):
        cuts["dev-v2.0.json"] = cut_articles(full["dev-v2.0.json"], keep)
        files["squad/dev-v2.0.json"] = squad_json_bytes(cuts["dev-v2.0.json"])
        for pred_name, gold_name in PREDICTIONS:
            predictions = json.loads((squad / "predictions" / pred_name).read_text(encoding="utf-8"))
            files[f"squad/predictions/{pred_name}"] = predictions_json_bytes(
                cut_predictions(predictions, cuts[gold_name])
            )
        notes["v2_prefixes"] = prefixed
        notes.setdefault("sizes", []).append(sum(map(len, files.values())))
        if notes["sizes"][-1] + 40_000 <= SIZE_LIMIT:  # room for README.md and this script
            break
    notes["keep_v1"] = keep_v1
    return files, cuts, notes


def counts(gold: dict) -> tuple[int, int, int, int]:
    questions = [qa for a in gold["data"] for p in a["paragraphs"] for qa in p["qas"]]
    return (
        len(gold["data"]),
        sum(len(a["paragraphs"]) for a in gold["data"]),
        len(questions),
        sum(bool(qa.get("is_impossible")) for qa in questions),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", nargs="?", type=Path, default=DEFAULT_SHARED, help=f"default {DEFAULT_SHARED}")
    parser.add_argument("--out", type=Path, default=HERE, help=f"folder to write (default {HERE})")
    parser.add_argument(
        "--chat-gold",
        type=Path,
        help="conversational gold JSONL (default eval/goldsets/chat.jsonl, else eval/gold/chat.jsonl)",
    )
    args = parser.parse_args(argv)

    shared = args.shared.resolve()
    if not (shared / "data" / "squad").is_dir():
        parser.error(f"no shared data at {shared} (expected {shared}/data/squad)")
    chat_gold = args.chat_gold or next((p for p in CHAT_GOLD_CANDIDATES if p.exists()), None)
    if chat_gold is None:
        parser.error("conversational gold set not found; give --chat-gold")

    # 1. The reference scorer must reproduce the published figures on the full files.
    squad = shared / "data" / "squad"
    full_gold = {
        name: json.loads((squad / name).read_text(encoding="utf-8")) for name in ("dev-v1.1.json", "dev-v2.0.json")
    }
    print("official figures on the FULL files (checked against shared/data/README.md):")
    for pred_name, gold_name in PREDICTIONS:
        predictions = json.loads((squad / "predictions" / pred_name).read_text(encoding="utf-8"))
        figures = official_figures(full_gold[gold_name], predictions)
        print(f"  {pred_name:26} {format_figures(figures)}")
        for key, published in FULL_FILE_FIGURES[pred_name].items():
            if round(figures[key], 3) != published:
                raise SystemExit(
                    f"reference scorer disagrees with the published {key} of {pred_name}: "
                    f"{figures[key]:.3f} != {published}"
                )

    # 2. The cuts.
    files, cuts, notes = build(shared, chat_gold)
    out = args.out.resolve()
    for rel, data in sorted(files.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"\nwrote {len(files)} files under {out} ({sum(map(len, files.values())):,} bytes; chat gold {chat_gold})")
    for rel, data in sorted(files.items()):
        print(f"  {rel:42} {len(data):>9,} bytes")
    if notes["v2_prefixes"]:
        v2_rule = "v2.0: the same prefixes"
    else:
        v2_rule = (
            f"v2.0: other articles left out, with their prefixes the cuts would take {notes['sizes'][0]:,} bytes"
            f" (limit {SIZE_LIMIT:,} with README and script)"
        )
    print(f"\nparagraphs kept per article (v1.1 prefix; {v2_rule}; v2.0 whole: {', '.join(V2_WHOLE_ARTICLES)}):")
    for title, n in notes["keep_v1"].items():
        print(f"  {title:34} {n}")
    for name, gold in cuts.items():
        a, p, q, impossible = counts(gold)
        print(f"{name}: {a} articles, {p} paragraphs, {q} questions ({impossible} unanswerable)")
    lines = {rel: data.count(b"\n") for rel, data in files.items() if rel.startswith("scifact/")}
    print(
        f"scifact: {lines['scifact/queries.jsonl']} queries, {lines['scifact/qrels/train.tsv'] - 1} judgements, "
        f"{lines['scifact/corpus.jsonl']} documents"
    )

    # 3. Official figures of each cut prediction file against its cut gold file.
    print("\nofficial figures on the CUTS (faithful reimplementation of evaluate-v1.1.py / evaluate-v2.0.py):")
    print("| prediction file | gold file | questions | EM | F1 | HasAns EM | HasAns F1 | NoAns EM |")
    print("|---|---|---|---|---|---|---|---|")
    for pred_name, gold_name in PREDICTIONS:
        predictions = json.loads(files[f"squad/predictions/{pred_name}"])
        f = official_figures(cuts[gold_name], predictions)
        extra = [f.get("HasAns_exact"), f.get("HasAns_f1"), f.get("NoAns_exact")]
        extra_text = " | ".join("-" if v is None else f"{v:.3f}" for v in extra)
        print(
            f"| `squad/predictions/{pred_name}` | `squad/{gold_name}` | {f['total']} | {f['exact']:.3f} | "
            f"{f['f1']:.3f} | {extra_text} |"
        )
    return 0


def format_figures(f: dict) -> str:
    text = f"EM {f['exact']:.3f} F1 {f['f1']:.3f} (n={f['total']})"
    if "HasAns_exact" in f:
        text += f" HasAns EM {f['HasAns_exact']:.3f} F1 {f['HasAns_f1']:.3f} (n={f['HasAns_total']})"
    if "NoAns_exact" in f:
        text += f" NoAns EM {f['NoAns_exact']:.3f} (n={f['NoAns_total']})"
    return text


if __name__ == "__main__":
    sys.exit(main())
