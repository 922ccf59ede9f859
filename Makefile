# The two commands a newcomer needs (README): `make demo` and `make test`.
.PHONY: setup demo test lint bench bench-update bench-scale bench-store baseline eval-gate

setup:
	@bash scripts/setup.sh

# The browser chat on the built-in user guide (its index is built on first use); SERVE_ARGS="--port 8000" moves it.
demo: setup
	@.venv/bin/qa serve $(SERVE_ARGS)

# Also installs Debian's Chromium for the browser tests when it is missing (scripts/setup.sh).
test:
	@bash scripts/setup.sh test
	@.venv/bin/python -m pytest -q

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

# Approximate against exact dense search on a synthetic index (CHUNKS=1000000 for the million-chunk run, ~20 min).
CHUNKS ?= 100000

# Every figure of docs/benchmarks.md's headline tables, each script printing ratios against its baseline in the
# same run: retrieval quality and speed (needs ../shared), embedding backends (../shared), cold start and ask
# latency (the guide), approximate search at $(CHUNKS) chunks. About an hour on 2 cores.
bench: setup
	@.venv/bin/python -m eval.bench.retrieval
	@.venv/bin/python -m eval.bench.embedding
	@.venv/bin/python -m eval.bench.startup
	@.venv/bin/python -m eval.bench.scale --chunks $(CHUNKS)

bench-update: setup
	@.venv/bin/python -m eval.bench.update

bench-scale: setup
	@.venv/bin/python -m eval.bench.scale --chunks $(CHUNKS)

# The PostgreSQL store and Ray ingest (docs/scaling.md): equivalence with the file index, search at 100k and
# 1M rows, ingest with 1 and 2 workers; starts its own PostgreSQL. About 35 minutes; needs the postgres and ray extras.
bench-store: setup
	@QA_EXTRAS=postgres,ray bash scripts/setup.sh
	@.venv/bin/python -m eval.bench.postgres --part all --sizes 100000,1000000 --budget 900

# The eval regression gate (docs/eval.md): a fixed SQuAD v2.0 subset of the committed cut (tests/data),
# asked with the real model and default settings, compared with the committed baseline run.
PY ?= .venv/bin/python
GATE_GOLD = tests/data/squad/dev-v2.0.json --articles Normans,1973_oil_crisis --per-article 60
BASELINE = eval/baselines/squad-small
GATE_TOLERANCE ?= 0.03

baseline: setup
	@rm -rf $(BASELINE) && $(PY) -m qa.cli eval $(GATE_GOLD) --out $(BASELINE)

eval-gate: setup
	@out=$$(mktemp -d) && $(PY) -m qa.cli eval $(GATE_GOLD) --out $$out/run \
		--baseline $(BASELINE) --tolerance $(GATE_TOLERANCE); code=$$?; rm -rf $$out; exit $$code
