#!/usr/bin/env bash
# Create .venv and install the project with its test tools. Idempotent: a second run
# with an unchanged pyproject.toml does nothing. `scripts/setup.sh test` (make test) also
# installs what the tests drive: Debian's Chromium for the browser tests, and Tesseract for the
# OCR of scanned PDFs (a user without it gets scanned pages skipped, with this install as reason).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = test ]; then
  # Playwright cannot download a browser of its own here; the tests drive Debian's.
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium chromium-driver)
  command -v tesseract >/dev/null || missing+=(tesseract-ocr tesseract-ocr-eng)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    else
      echo "setup: the tests need Chromium and Tesseract; run: sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
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
# llama.cpp is built for any x86-64 with AVX2 and without the AMX kernels a native build adds on
# newer Xeons: those crashed (SIGSEGV in decode) on this project's machines (docs/llm.md). pip's
# cache is bypassed so a native build cached earlier is never taken instead; one build per venv.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
for extra in ${extras//,/ }; do
  extra_stamp=.venv/.installed-$extra-$hash
  llama_stamp=.venv/.llama-$(echo "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)
  if [ "$extra" = llm ] && [ ! -f "$llama_stamp" ]; then
    llama=$(grep -o '"llama-cpp-python[^"]*"' pyproject.toml | tr -d '"')
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/python -m pip install --quiet --no-cache-dir --force-reinstall --no-deps "$llama"
    touch "$llama_stamp"
  fi
  if [ ! -f "$extra_stamp" ]; then
    .venv/bin/python -m pip install --quiet -e ".[dev,$extra]"
    touch "$extra_stamp"
  fi
done
