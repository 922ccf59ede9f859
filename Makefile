# The two commands a newcomer needs (README): `make demo` and `make test`.
.PHONY: setup demo test lint bench bench-update

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/qa demo

test: setup
	@.venv/bin/python -m pytest -q

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: setup
	@.venv/bin/python -m eval.bench_retrieval

bench-update: setup
	@.venv/bin/python -m eval.bench_update
