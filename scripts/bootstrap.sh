#!/usr/bin/env bash
# Create .venv on first use and install the locked requirements, hash-checked, whenever a lock
# file changes. Usage: scripts/bootstrap.sh [runtime|dev]   (dev adds requirements-dev.lock)
#
# torch comes as its CPU build (requirements.lock): from PyTorch's CPU index when it answers
# (TORCH_INDEX_URL, default https://download.pytorch.org/whl/cpu), or from wherever pip is
# configured to find wheels (pip.conf's find-links, a mirror). TORCH_BUILD chooses:
#   auto (default)  the CPU build; where no CPU build can be found (only PyPI reachable), PyPI's
#                   torch instead, with a warning: on Linux that is the CUDA build (~4 GB more)
#   cpu             the CPU build or stop with an error
#   gpu             PyPI's torch (requirements-gpu.lock): the CUDA build on Linux, for an NVIDIA GPU
# PYTHON picks the interpreter that creates .venv (default python3; 3.11 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-runtime}"
python="${PYTHON:-python3}"
build="${TORCH_BUILD:-auto}"
index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
case "$kind" in runtime|dev) ;; *) echo "usage: scripts/bootstrap.sh [runtime|dev]" >&2; exit 2 ;; esac
case "$build" in auto|cpu|gpu) ;; *) echo "TORCH_BUILD must be auto, cpu or gpu (not '$build')" >&2; exit 2 ;; esac

if [ ! -x .venv/bin/python ]; then
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed; '$python' is $("$python" -V 2>&1 || echo missing)." \
         "Set PYTHON, e.g. PYTHON=python3.12 ./run.sh" >&2
    exit 1
  fi
  echo "creating virtual environment in .venv ($("$python" -V 2>&1))" >&2
  "$python" -m venv .venv
fi

# The embedding model converted for CTranslate2 once, beside the installed packages (bot/semantic/ct2.py): the
# bot then runs it without torch. Quick when already done; if it fails here the bot converts at first load.
prepare_models() {
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python -m bot.semantic.convert prepare >/dev/null \
    || echo "warning: the embedding model was not converted now; the bot converts it when it first loads it" >&2
}

extras=(); [ "$kind" = dev ] && extras=(-r requirements-dev.lock)
digest=$(cat requirements*.lock | sha256sum | cut -d' ' -f1)
stamp=".venv/.installed-$kind"
installed=$(cat .venv/.torch-build 2>/dev/null || true)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && { [ "$build" = auto ] || [ "$build" = "$installed" ]; }; then
  prepare_models
  exit 0
fi

pip=(.venv/bin/python -m pip --disable-pip-version-check)
links=()
if [ "$build" != gpu ]; then
  if .venv/bin/python scripts/reachable.py "$index/torch/"; then
    links=(--find-links "$index/torch/")
  else
    echo "PyTorch's CPU index ($index) is unreachable from here; looking for torch's CPU build" \
         "where pip finds wheels" >&2
  fi
  torch_pin=$(grep -m1 -E '^torch==' requirements.lock | cut -d' ' -f1)
  # torch's entry of the lock with its hashes: a CPU wheel counts only if the lock knows its hash
  # (a machine whose Python or CPU has a wheel that the lock lacks falls back instead of failing).
  probe=$(mktemp)
  trap 'rm -f "$probe"' EXIT
  awk '/^torch==/{found=1} found && /^    #/{exit} found' requirements.lock > "$probe"
  if "${pip[@]}" install --quiet --dry-run --no-deps --require-hashes "${links[@]}" -r "$probe" >/dev/null 2>&1; then
    chosen=cpu
  elif [ "$build" = cpu ]; then
    echo "error: no CPU build of torch ($torch_pin) with a hash in requirements.lock found for this Python" \
         "and CPU. Set TORCH_INDEX_URL to a mirror of $index, refresh the lock where it is reachable" \
         "(scripts/lock.sh), or set TORCH_BUILD=gpu for PyPI's torch." >&2
    exit 1
  else
    echo "warning: no CPU build of torch ($torch_pin) with a hash in requirements.lock found: installing" \
         "PyPI's torch instead (requirements-gpu.lock). On Linux that is the CUDA build with NVIDIA's" \
         "libraries, about 4 GB more on disk. Set TORCH_INDEX_URL to a mirror of $index to avoid it." >&2
    chosen=gpu
  fi
else
  chosen=gpu
fi
if [ -n "$installed" ] && [ "$installed" != "$chosen" ]; then
  # pip counts torch 2.13.0+cpu as satisfying torch==2.13.0 and would keep it; start over.
  if [ -L .venv ]; then
    echo "error: .venv holds torch's $installed build and is a shared link; remove it by hand to switch" >&2
    exit 1
  fi
  echo "switching torch from its $installed build to its $chosen build: recreating .venv" >&2
  rm -rf .venv
  rm -f "${probe:-}"
  exec "$0" "$@"
fi
lock=requirements.lock; [ "$chosen" = gpu ] && lock=requirements-gpu.lock
what=$lock; [ "$kind" = dev ] && what="$lock and requirements-dev.lock"
echo "installing $what into .venv (hash-checked; the first run takes a few minutes)" >&2
"${pip[@]}" install --quiet --require-hashes "${links[@]}" -r "$lock" "${extras[@]}" >&2
if ! problems=$("${pip[@]}" check); then
  echo "$problems" >&2
  exit 1
fi
echo "$chosen" > .venv/.torch-build
echo "$digest" > "$stamp"
prepare_models
