#!/usr/bin/env bash
# Create .venv and install the project with its test tools. Idempotent: a second run
# with an unchanged pyproject.toml does nothing. `scripts/setup.sh test` (make test) also
# installs what the tests drive: Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = test ] && [ ! -x /usr/bin/chromium ]; then
  # Playwright cannot download a browser of its own here; the tests drive Debian's.
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
  else
    echo "setup: the browser tests need Chromium; run: sudo apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
hash=$(sha256sum pyproject.toml | cut -c1-16)
stamp=.venv/.installed-$hash
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # The CPU wheel first: anything asking for torch later finds it satisfied and never
  # reaches for the multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# Optional extras, comma-separated in QA_EXTRAS (CI sets QA_EXTRAS=llm): "llm" compiles llama.cpp,
# about 6 minutes, so the default set-up never installs it. Each extra has its own stamp.
extras=${QA_EXTRAS:-}
for extra in ${extras//,/ }; do
  extra_stamp=.venv/.installed-$extra-$hash
  if [ ! -f "$extra_stamp" ]; then
    .venv/bin/python -m pip install --quiet -e ".[dev,$extra]"
    touch "$extra_stamp"
  fi
done
