# The bot and its side server, as a non-root user; works with a plain `docker run` (the
# database goes to the volume /app/var) and with docker-compose.yml (which also mounts the
# menu, cafe and FAQ files so /reload_menu sees edits).
#   docker build -t cafe-bot .
#   docker run --env-file .env -p 127.0.0.1:8080:8080 -v cafe-bot-data:/app/var cafe-bot
FROM python:3.11-slim-bookworm
# A mirror of PyTorch's CPU wheels, where download.pytorch.org is not reachable.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# MALLOC_ARENA_MAX=2: fewer glibc malloc arenas for the bot's threads, ~20 MB less resident memory idle
# (docs/BENCHMARKS.md "Memory").
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MALLOC_ARENA_MAX=2 \
    DATABASE_PATH=/app/var/bot.db
WORKDIR /app
COPY requirements.lock ./
# Every package pinned and hash-checked (scripts/lock.sh); torch's CPU build from PyTorch's
# CPU wheels (PyPI's torch is the CUDA build, gigabytes of NVIDIA libraries for nothing).
RUN pip install --require-hashes --find-links "${TORCH_INDEX_URL}/torch/" -r requirements.lock \
 && pip check
COPY . .
# Code and models stay root's and read-only to the bot; only /app/var (database) is its own.
# The embedding model converted for CTranslate2 at build time (bot/semantic/ct2.py: no torch in the bot).
RUN python -m compileall -q bot handlers storage main.py \
 && python -m bot.semantic.convert prepare \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin bot \
 && mkdir -p /app/var \
 && chown bot:bot /app/var
USER bot
VOLUME ["/app/var"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["python", "main.py", "run"]
