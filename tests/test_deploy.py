"""Lint of the Dockerfile, .dockerignore and docker-compose.yml (no Docker engine needed).

What a `docker build` here would not catch anyway: secrets and state kept out of the image,
the locked hash-checked install, a non-root user that can write its database with a plain
`docker run`, the data files mounted so /reload_menu sees edits, Redis healthy before the
bot starts, the side server published on loopback only. `.ci/run` builds the image where a
Docker engine is available.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import PurePosixPath

import pytest
import yaml

from bot.config import DATA_DIR, PROJECT_ROOT, Settings
from testkit import ROOT

IMAGE_ROOT = PurePosixPath("/app")  # WORKDIR; the checkout is copied there


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends in a continuation"
    return out


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in steps:
        if keyword == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def test_dockerfile_base_image_is_a_pinned_slim_python() -> None:
    steps = instructions()
    assert steps[0][0] in ("FROM", "ARG")
    bases = [args for keyword, args in steps if keyword == "FROM"]
    assert len(bases) == 1
    image, _, tag = bases[0].partition(":")
    assert image == "python" and tag.startswith("3.11") and "latest" not in tag and "slim" in tag


def test_dockerfile_installs_the_lock_with_hashes_before_copying_the_code() -> None:
    steps = instructions()
    installs = [(i, args) for i, (keyword, args) in enumerate(steps) if keyword == "RUN" and "pip install" in args]
    assert len(installs) == 1, "one pip install, from the lock"
    index, command = installs[0]
    assert "--require-hashes" in command and "-r requirements.lock" in command
    assert "/whl/cpu" in command or "TORCH_INDEX_URL" in command, "torch's CPU build, not PyPI's CUDA build"
    copies = [(i, args) for i, (keyword, args) in enumerate(steps) if keyword == "COPY"]
    assert copies[0] == (copies[0][0], "requirements.lock ./") and copies[0][0] < index, "lock first: layer cache"
    assert any(args == ". ." and i > index for i, args in copies)
    assert not any(keyword == "ADD" for keyword, _ in steps)


def test_the_image_runs_as_a_non_root_user_that_owns_its_database_folder() -> None:
    steps = instructions()
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the last USER is not root"
    user = users[-1]
    database = PurePosixPath(env_of(steps)["DATABASE_PATH"])
    folder = str(database.parent)
    setup = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "useradd" in setup and re.search(rf"mkdir -p {re.escape(folder)}\b", setup)
    assert re.search(rf"chown {re.escape(user)}(:{re.escape(user)})? {re.escape(folder)}\b", setup)
    volumes = " ".join(args for keyword, args in steps if keyword == "VOLUME")
    assert folder in volumes, "the database folder is a volume: it survives a new container"


def test_the_image_checks_its_health_and_starts_in_exec_form() -> None:
    steps = instructions()
    health = [args for keyword, args in steps if keyword == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    cmd = [args for keyword, args in steps if keyword == "CMD"][-1]
    assert cmd.startswith("[") and "main.py" in cmd, "exec form: SIGTERM reaches the bot, not a shell"
    assert env_of(steps).get("HF_HUB_OFFLINE") == "1"
    port = Settings.model_fields["http_port"].default
    assert any(keyword == "EXPOSE" and args == str(port) for keyword, args in steps)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins, `!` re-includes; a folder's
    pattern covers everything inside it; `**/` matches any number of folders."""
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            tail = pattern[3:]
            matched = any(fnmatch.fnmatchcase(part, tail) for part in parts)
        else:
            matched = any(fnmatch.fnmatchcase(c, pattern) and c.count("/") == pattern.count("/")
                          for c in candidates)
        if matched:
            ignored = not negate
    return ignored


@pytest.mark.parametrize(("path", "ignored"), [
    (".env", True), (".env.production", True), (".env.example", False),
    (".git/config", True), (".venv/bin/python", True), ("data/bot.db", True), ("data/bot.db-wal", True),
    ("bot/__pycache__/app.cpython-311.pyc", True), ("tests/test_deploy.py", True), ("testkit/fakes/telegram.py", True),
    ("bench/results/x.md", True),
    ("data/menu.yaml", False), ("data/cafe.yaml", False), ("data/faq.yaml", False), ("bot/app.py", False),
    ("main.py", False), ("requirements.lock", False), ("storage/migrations/0001_core.sql", False),
    ("bot/model_sums.json", False), ("bot/semantic/lexicon.yaml", False),
])
def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image(path: str, ignored: bool) -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert _ignored(path, patterns) is ignored


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_publishes_the_side_server_on_loopback_only() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            spec = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
            assert spec.startswith("127.0.0.1:"), f"{name} publishes {spec} beyond this host"
    assert "ports" not in services["redis"], "Redis is reached over the compose network only"


def test_compose_mounts_the_data_files_so_reload_menu_sees_edits() -> None:
    bot = compose()["services"]["bot"]
    mounts = [m.split(":") for m in bot["volumes"]]
    data = [m for m in mounts if m[1] == str(IMAGE_ROOT / "data")]
    assert data and data[0][0] == "./data", "the host's data/ (menu, cafe, FAQ) at the path Settings reads"
    for field in ("menu_path", "cafe_path", "faq_path"):  # the defaults resolve inside that mount in the image
        assert Settings.model_fields[field].default.parent == DATA_DIR
    assert DATA_DIR.relative_to(PROJECT_ROOT) == PurePosixPath("data")
    assert mounts[mounts.index(data[0])][-1] == "ro", "the bot reads them, never writes"
    database = PurePosixPath(bot["environment"]["DATABASE_PATH"])
    assert any(m[1] == str(database.parent) and not m[0].startswith(".") for m in mounts), "database on a volume"
    assert not str(database).startswith(str(IMAGE_ROOT / "data")), "the data mount is read-only"


def test_compose_starts_the_bot_once_redis_is_healthy() -> None:
    services = compose()["services"]
    check = services["redis"]["healthcheck"]
    assert check["test"][:2] == ["CMD", "redis-cli"] and "ping" in check["test"]
    assert services["bot"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["bot"]["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert services["bot"]["env_file"] == ".env"
    assert services["bot"].get("stop_grace_period"), "SIGTERM has time to finish in-flight handlers"


# --- docker-compose.scale.yml: three replicas behind a proxy, on PostgreSQL and Redis ------------------
REPLICAS = ("bot-1", "bot-2", "bot-3")


def scale() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text(encoding="utf-8"))


def caddy_upstreams() -> tuple[list[str], dict[str, list[str]]]:
    """The paths the Caddyfile proxies to the bots, and the upstreams and options of its reverse_proxy."""
    text = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    paths = [line.split()[1] for line in lines if line.startswith("handle /")]
    [proxy] = [line for line in lines if line.startswith("reverse_proxy ")]
    options = {line.split()[0]: line.split()[1:] for line in lines[lines.index(proxy) + 1:] if line and line != "}"}
    return paths, {"upstreams": proxy.removesuffix("{").split()[1:], **options}


def test_scale_compose_has_postgres_redis_a_proxy_and_three_bot_replicas() -> None:
    services = scale()["services"]
    assert set(services) == {*REPLICAS, "proxy", "postgres", "redis"}
    for name in REPLICAS:
        bot = services[name]
        assert bot["build"] == ".", name
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
        assert bot.get("stop_grace_period") and bot["env_file"] == ".env"
        assert any(m.split(":")[:2] == ["./data", str(IMAGE_ROOT / "data")] and m.endswith(":ro")
                   for m in bot["volumes"])
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]


def test_scale_replicas_share_one_postgres_one_redis_and_one_webhook_secret_under_their_own_names() -> None:
    services = scale()["services"]
    envs = {name: services[name]["environment"] for name in REPLICAS}
    assert [envs[name]["REPLICA_NAME"] for name in REPLICAS] == list(REPLICAS)  # each its own, for /metrics, /api/slo
    for shared in ("DATABASE_URL", "REDIS_URL", "WEBHOOK_SECRET", "WEBHOOK_BASE_URL", "BOT_MODE"):
        assert len({env[shared] for env in envs.values()}) == 1, f"{shared} differs between replicas"
    env = envs["bot-1"]
    assert env["BOT_MODE"] == "webhook"
    assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["WEBHOOK_SECRET"].startswith("${WEBHOOK_SECRET"), "the secret comes from the environment, not the file"
    assert "${POSTGRES_PASSWORD" in env["DATABASE_URL"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")
    assert env["WEBHOOK_BASE_URL"].startswith("https://${DOMAIN")
    assert str(env["HTTP_PORT"]) == str(Settings.model_fields["http_port"].default)


def test_scale_publishes_only_the_proxy_beyond_this_host() -> None:
    services = scale()["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            if name == "proxy":
                assert port in ("80:80", "443:443")
            else:
                assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


def test_the_proxy_spreads_the_webhook_round_robin_over_the_three_ready_replicas() -> None:
    from bot.telegram.health import WEBHOOK_PATH

    proxy = scale()["services"]["proxy"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    paths, options = caddy_upstreams()
    assert paths == [WEBHOOK_PATH], "only the webhook is public"
    port = Settings.model_fields["http_port"].default
    assert sorted(options["upstreams"]) == [f"{name}:{port}" for name in REPLICAS]
    assert options["lb_policy"] == ["round_robin"]
    assert options["health_uri"] == ["/readyz"]
