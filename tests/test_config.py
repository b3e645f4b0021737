"""Configuration: names are a contract, bad values give one line and exit code 2."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings
from bot.logging_setup import RedactingFilter
from testkit import ROOT
from testkit.settings import subprocess_env


def run_main(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args], env=subprocess_env(**env), cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_RETRY_MAX_SECONDS": "0"}, "TELEGRAM_RETRY_MAX_SECONDS"),
        ({"TELEGRAM_UNREACHABLE_SECONDS": "soon"}, "TELEGRAM_UNREACHABLE_SECONDS"),
        ({"CLOCK_FROZEN_AT": "2026-06-07T15:45:00"}, "CLOCK_FROZEN_AT"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "HTTP_PORT": "eighty"}, "HTTP_PORT"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "HTTP_PORT": "70000"}, "HTTP_PORT"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "ADMIN_IDS": "12,bob"}, "ADMIN_IDS"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "BOT_MODE": "carrier-pigeon"}, "BOT_MODE"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "BOT_MODE": "webhook"}, "WEBHOOK_BASE_URL"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "BOT_MODE": "webhook", "WEBHOOK_BASE_URL": "https://x.example"},
         "WEBHOOK_SECRET"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "TELEGRAM_API_URL": "ftp://nope"}, "TELEGRAM_API_URL"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "REDIS_KEY_PREFIX": "cafe"}, "REDIS_KEY_PREFIX"),  # no ':' at the end
        ({"TELEGRAM_BOT_TOKEN": "1:abc", "REDIS_KEY_PREFIX": "user:"}, "REDIS_KEY_PREFIX"),  # a namespace of ours
    ],
)
def test_bad_configuration_prints_one_line_naming_the_variable_and_exits_2(env: dict[str, str], variable: str) -> None:
    result = run_main({"DATABASE_PATH": "/tmp/never-created/bot.db", **env})
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_secret_values_never_echoed_in_config_errors() -> None:
    result = run_main({"TELEGRAM_BOT_TOKEN": "1:abc", "ADMIN_API_TOKEN": "s3cret-admin", "HTTP_PORT": "x"})
    assert "s3cret-admin" not in result.stderr + result.stdout


def test_admin_ids_are_parsed_from_a_comma_separated_list() -> None:
    settings = load_settings(_env_file=None, admin_ids=" 1, 22 ,333 ")
    assert settings.admin_ids == frozenset({1, 22, 333})


def test_empty_optional_values_mean_unset() -> None:
    settings = load_settings(_env_file=None, openai_api_key="", staff_chat_id="", redis_url="")
    assert settings.openai_api_key is None
    assert settings.staff_chat_id is None
    assert settings.redis_url == ""


def test_defaults_match_the_documented_contract() -> None:
    settings = load_settings(_env_file=None)
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.http_port == 8080
    assert str(settings.database_path) == "data/bot.db"
    assert settings.bot_mode == "polling"
    assert settings.redis_key_prefix == "cafebot:"


def test_webhook_mode_requires_its_settings() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(_env_file=None, bot_mode="webhook", webhook_base_url="https://bot.example")


def test_redacting_filter_blanks_secrets_in_messages_and_tracebacks() -> None:
    f = RedactingFilter(["123456:TOKEN-abc", "pw-secret"])
    try:
        raise RuntimeError("GET https://api.telegram.org/bot123456:TOKEN-abc/getMe failed")
    except RuntimeError:
        import sys as _sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "redis %s down", ("redis://:pw-secret@h",),
                                   _sys.exc_info())
    f.filter(record)
    assert "pw-secret" not in record.getMessage()
    assert "123456:TOKEN-abc" not in (record.exc_text or "")
    assert "***" in record.getMessage()


def test_the_payment_provider_token_is_a_secret_and_empty_means_pay_at_pickup() -> None:
    token = "284685063:TEST:provider-secret-value"
    settings = load_settings(_env_file=None, payment_provider_token=token)
    assert settings.payments_enabled and token in settings.secret_values()  # blanked wherever it is logged
    assert token not in repr(settings) and token not in str(settings.model_dump())
    assert not load_settings(_env_file=None, payment_provider_token=" ").payments_enabled
    assert not load_settings(_env_file=None).payments_enabled
