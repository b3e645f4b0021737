#!/usr/bin/env bash
# Set up (first run) and start the bot and its side server: ./run.sh [COMMAND ...]
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh runtime
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec .venv/bin/python main.py "$@"
