#!/usr/bin/env bash
# Run a cross-layer subset of the tests on a second CPython (CI: the newest one here).
#   scripts/second_python.sh /path/to/python3.13 [pytest args]
# A copy of this checkout goes to $SECOND_PYTHON_HOME/src (default /var/cache/cafebot-ci/<version>) with its
# virtual environment beside it, kept between runs: scripts/bootstrap.sh reinstalls it only when a lock changes.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$1"; shift
version=$("$python" -c 'import sys; print("py%d%d" % sys.version_info[:2])')
home="${SECOND_PYTHON_HOME:-/var/cache/cafebot-ci/$version}"
mkdir -p "$home/venv"
rm -rf "$home/src"
mkdir -p "$home/src"
tar --exclude=./.venv -cf - . | tar -xf - -C "$home/src"  # this checkout as it is
ln -s "$home/venv" "$home/src/.venv"
cd "$home/src"
[ -x .venv/bin/python ] || "$python" -m venv "$home/venv"
PYTHON="$python" scripts/bootstrap.sh dev
echo "tests on $(.venv/bin/python -V)" >&2
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 exec .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_config.py tests/test_install.py tests/test_models_check.py tests/test_knowledge.py tests/test_text.py \
  tests/test_orders_unit.py tests/test_agent_service.py tests/test_semantic_rules.py tests/test_semantic_cache.py \
  tests/test_voice_transcriber.py tests/test_foundation_e2e.py tests/test_voice_e2e.py tests/test_orders_e2e.py \
  tests/test_outbox_e2e.py tests/test_cache_e2e.py tests/test_layering.py "$@"
