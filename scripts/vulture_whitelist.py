"""Names that vulture cannot see being used, each with who uses it.

test.sh runs `vulture bot handlers storage scripts/vulture_whitelist.py --min-confidence 60`: this file
"uses" the names below, so that run reports only code that nothing calls. Vulture matches by name,
so an entry here is the attribute access it would otherwise miss. Add a name only with the caller
that vulture cannot see (a framework, a string table, a test seam); delete dead code instead.
Read by vulture only, never run: pydantic hides its validators and instance attributes are not on
the class, so some of these accesses would fail at run time.
"""

from logging import LogRecord

import av
from aiosqlite import Connection

from bot import telegram_checks
from bot.app import STOP_AFTER_DRAIN_SECONDS
from bot.cache.service import Cache
from bot.config import Settings
from bot.knowledge.models import CafeInfo, Category, Closure, MenuItem, OptionGroup, _Strict
from bot.metrics import _CallbackCollector
from bot.models_check import SumCache
from bot.ops import cli as ops_cli
from bot.ops.retention import RetentionJob
from bot.orders.expiry import PaymentExpiryJob
from bot.orders.models import StatusChange
from bot.semantic.cache import SemanticCache
from bot.semantic.guards import PAIR_REASONS
from bot.voice.transcriber import TranscriberStatus
from bot.voice.whisper import WhisperTranscriber
from storage.agent_events import AgentEventRepository
from storage.dialect import Row
from storage.outbox import OutboxRow
from storage.users import User

# pydantic: model configuration and validators, called through @field_validator / @model_validator.
Settings.model_config
Settings._split_ids
Settings._empty_is_unset
Settings._auto_is_detect
Settings._token_format
Settings._secret_format
Settings._redis_key_prefix
Settings._aware
Settings._http_url
Settings._database_url
Settings._webhook_needs
_Strict.model_config
MenuItem.model_config
MenuItem._id
MenuItem._price
MenuItem._sizes
MenuItem._one_price
MenuItem._options_fit
OptionGroup._default
OptionGroup._consistent
OptionGroup._required
Category._id
Category._unique_ids
CafeInfo._hours
CafeInfo._closures
Closure._hours
Closure._range

# prometheus_client: the registry calls collect() at every scrape.
_CallbackCollector.collect

# logging: the handlers format record.msg, which RedactingFilter.filter rewrites.
LogRecord.msg

# PyAV: the resampler reads frame.pts (cleared for broken files).
av.AudioFrame.pts

# aiosqlite/sqlite3: the connection builds rows with its row_factory.
Connection.row_factory

# storage.dialect.Row is a Protocol: sqlite3.Row and asyncpg.Record implement it, repositories index rows.
Row.__getitem__

# dataclasses.asdict: TranscriberStatus.as_dict() is GET /api/agent/whisper's body.
TranscriberStatus.device
TranscriberStatus.compute_type
TranscriberStatus.running
TranscriberStatus.workers
TranscriberStatus.cpu_threads
TranscriberStatus.queue_size
TranscriberStatus.reserved

# Row dataclasses built as `Cls(**row)` from `SELECT *`: every column needs its field.
OutboxRow.next_attempt_at
OutboxRow.lease_until
OutboxRow.delivered_at
User.last_seen_at
# The order history's audit column (who changed the status): tests/test_orders_e2e.py checks each step's.
StatusChange.changed_by

# bot/cli.py's COMMANDS table names these by "module:function" strings (imported on use).
ops_cli.configure_slo
ops_cli.run_slo
ops_cli.configure_purge
ops_cli.run_purge
ops_cli.configure_migrate
ops_cli.run_migrate
telegram_checks.configure_webhook_info
telegram_checks.webhook_info
telegram_checks.configure_notify_test
telegram_checks.notify_test

# The shutdown budget's second part: tests/test_shutdown.py holds Application.stop to it, and
# docker-compose's stop_grace_period must exceed SHUTDOWN_TIMEOUT_SECONDS plus it.
STOP_AFTER_DRAIN_SECONDS

# bench/semantic_bench.py: the threshold sweep and the rule ablations.
SemanticCache.explain
PAIR_REASONS

# Test seams: waiting for a background job, or observing what the bot recorded.
RetentionJob.wait_for_run  # tests/test_retention.py: the daily purge ran
PaymentExpiryJob.expired_total  # tests/test_payment_expiry_e2e.py: which replicas expired the order, summed
WhisperTranscriber.wait_loaded  # tests/test_voice_*.py, test_models_check.py: the model loaded in the background
SumCache.hashed_bytes  # tests/test_models_check.py: the checksum cache spares re-reading model files
AgentEventRepository.recent  # tests read the agent's recorded events (tokens, tools, errors)

# Only tests/test_cache.py (single-flight loads) calls it since ProfileCache.get, its one bot caller, went as dead
# code; the cache's "database" tier figures come from it. Keep or drop it with the rewrite of bot/cache/service.py.
Cache.get_or_load
