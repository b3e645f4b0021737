#!/usr/bin/env bash
# Set up (first run) and run the whole test suite: ./test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/mypy  # types of bot/, handlers/, storage/ (configured in pyproject.toml)
.venv/bin/vulture bot handlers storage scripts/vulture_whitelist.py --min-confidence 60  # dead code
exec .venv/bin/python -m pytest "$@"
