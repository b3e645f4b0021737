#!/usr/bin/env bash
# Create .venv on first use and (re)install requirements when they change.
# Usage: scripts/bootstrap.sh [requirements file]   (default: requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "creating virtual environment in .venv" >&2
  "$python" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip >&2
fi
stamp=".venv/.installed-$(basename "$req")"
digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "installing $req into .venv (first run takes a few minutes)" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$req" >&2
  echo "$digest" > "$stamp"
fi
