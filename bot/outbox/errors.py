"""What a failed delivery means for an outbox row: retry, wait, resend or give up.

The verdicts are the outbox's own; which messenger error earns which verdict is decided
where the messenger's calls are made (for Telegram: `classify` in bot/telegram/gateway.py),
and handed back in a `DeliveryError`. Only errors that no retry can fix are permanent (the
chat does not exist, the bot was blocked or removed, the text is malformed); everything else
keeps the message pending, so nothing is lost while Telegram or the configuration is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    DELIVERED = "delivered"  # e.g. "message is not modified": the chat already shows this
    RETRY = "retry"  # transient: back off and try again
    WAIT = "wait"  # flood control: try again after exactly `delay` seconds
    RESEND = "resend"  # the message to edit is gone: send a fresh one instead
    FAILED = "failed"  # permanent: log it, count it, stop trying


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    delay: float | None = None


class DeliveryError(Exception):
    """A send that did not go through, with what it means for the row (raised by a Sender)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def unexpected(exc: BaseException) -> Outcome:
    """An error the sender did not classify: retried with backoff, never dropped."""
    return Outcome(Verdict.RETRY, short(exc))


def short(exc: BaseException) -> str:
    """The error as one line for the row and the log: its type and the first line of its message."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    first = str(message).splitlines()[0]
    return f"{type(exc).__name__}: {first}"[:300]
