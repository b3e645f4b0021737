#!/usr/bin/env bash
# Refresh the lock files after editing requirements.in or requirements-dev.in:
#   scripts/lock.sh                       keep every pin that still fits, add what is new
#   scripts/lock.sh --upgrade             move every package to its newest release
#   scripts/lock.sh --upgrade-package X   move only X
# Writes, every package pinned with the SHA-256 of each of its files:
#   requirements.lock      runtime, torch's CPU build (what run.sh, test.sh, CI and the Dockerfile install)
#   requirements-gpu.lock  runtime, torch as PyPI has it (the CUDA build on Linux): TORCH_BUILD=gpu
#   requirements-dev.lock  test tools, on the versions of requirements.lock
# Locks resolve for every platform and every Python >= 3.11 (uv's universal mode). uv, pinned
# below, runs from a throw-away venv: nothing is installed into .venv.
# torch's CPU wheels come from PyTorch's index (TORCH_INDEX_URL) and from the folders in
# TORCH_FIND_LINKS (space-separated, e.g. a machine's local wheel cache); the hashes of both
# go into requirements.lock, so either source installs.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
tools="${TMPDIR:-/tmp}/cafebot-lock-uv-$UV_VERSION"
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv="$tools/bin/uv"
index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(--generate-hashes --universal --python-version 3.11 --quiet --custom-compile-command scripts/lock.sh)

links=()
if python3 scripts/reachable.py "$index/torch/"; then
  links+=(--find-links "$index/torch/")
else
  echo "warning: $index is unreachable: torch's CPU hashes come only from TORCH_FIND_LINKS" >&2
fi
for dir in ${TORCH_FIND_LINKS:-}; do links+=(--find-links "$dir"); done
if [ ${#links[@]} -eq 0 ]; then
  echo "error: no source of torch's CPU build (PyTorch's index unreachable, TORCH_FIND_LINKS unset)" >&2
  exit 1
fi

torch_pin=$(grep -m1 -E '^torch==' requirements.in | cut -d' ' -f1)
echo "${torch_pin}+cpu" > "$work/torch-cpu-build.txt"
"$uv" pip compile requirements.in -c "$work/torch-cpu-build.txt" "${links[@]}" "${common[@]}" "$@" -o requirements.lock
# uv keeps the hashes of the first source that has a file; add local copies that differ.
python3 scripts/lock_local_hashes.py requirements.lock ${TORCH_FIND_LINKS:-}

# The GPU lock: the same versions of everything but torch (and what PyPI's torch adds).
grep -E '^[A-Za-z]' requirements.lock | grep -v -E '^torch==' | sed 's/ \\$//' > "$work/pins-of-requirements.lock.txt"
"$uv" pip compile requirements.in -c "$work/pins-of-requirements.lock.txt" "${common[@]}" "$@" -o requirements-gpu.lock
"$uv" pip compile requirements-dev.in -c "$work/pins-of-requirements.lock.txt" "${common[@]}" "$@" -o requirements-dev.lock
# The constraint files live in a temporary folder: name them, not the folder, in the annotations.
sed -i "s#$work/##" requirements.lock requirements-gpu.lock requirements-dev.lock
echo "locked: $(grep -c -E '^[A-Za-z]' requirements.lock) runtime packages (CPU torch)," \
     "$(grep -c -E '^[A-Za-z]' requirements-gpu.lock) with PyPI's torch," \
     "$(grep -c -E '^[A-Za-z]' requirements-dev.lock) for the tests" >&2
