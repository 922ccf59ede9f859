# The two commands a newcomer needs (README): `make demo` and `make test`.
.PHONY: setup demo test lint bench bench-update

setup:
	@bash scripts/setup.sh

# The browser chat on the built-in user guide (its index is built on first use); SERVE_ARGS="--port 8000" moves it.
demo: setup
	@.venv/bin/qa serve $(SERVE_ARGS)

test: setup
	@.venv/bin/python -m pytest -q

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: setup
	@.venv/bin/python -m eval.bench_retrieval

bench-update: setup
	@.venv/bin/python -m eval.bench_update
