#!/usr/bin/env bash
# Make benchmarks/.venv-infinity: infinity-emb 0.0.78, the peer server that
# benchmarks/serve_peers.py measures phalanx against. Its own virtual environment, so
# infinity's pins (transformers < 5, numpy < 2, ...) never touch the project's.
#
#   bash benchmarks/peers/setup_infinity.sh            # idempotent; prints the versions
#   PYTHON=python3.11 bash benchmarks/peers/setup_infinity.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${INFINITY_VENV:-$here/../.venv-infinity}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# torch first, alone and pinned: left to the resolver, infinity's "torch>=2.2.1" can pull
# a CUDA build (gigabytes); the CPU wheel of the version the project uses is enough here.
"$venv/bin/pip" install --quiet "torch==2.13.0"
# Then infinity with torch pinned on the same command line, so nothing replaces it.
"$venv/bin/pip" install --quiet -r "$here/requirements-infinity.txt"
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("infinity-emb", "torch", "transformers", "sentence-transformers", "fastapi"):
    print(f"{name} {md.version(name)}")
PY
echo "infinity: $venv/bin/infinity_emb"
