"""The model seam: chat completions through the official `openai` async client.

`OPENAI_BASE_URL` points it at any OpenAI-compatible server (Ollama, vLLM, llama.cpp
server, the tests' fake); tests may also hand in their own client through
`Seams.openai_client`. The client's own retries are off: this module retries itself so
that it can honour `Retry-After`, add jitter, give up early when the wait would be
longer than a customer should wait, and feed the circuit breaker.

Every failure leaves as a `ModelError` whose `error_class` is a short, stable label
recorded on the agent event (timeout, rate_limit, quota, server_error, auth, ...).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from bot.agent.breaker import CircuitBreaker
from bot.config import Settings

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
RequestObserver = Callable[[str | None, float], None]  # (error class or None for success, seconds)
TextObserver = Callable[[str], Awaitable[None]]  # a streamed answer's text so far

# Errors that say nothing about the model server's health do not trip the breaker.
_NOT_COUNTED = frozenset({"bad_request"})


class ModelError(Exception):
    """A failed model call, classified."""

    def __init__(self, error_class: str, message: str = "", *, retryable: bool = False,
                 retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message or error_class)
        self.error_class = error_class
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class StopGeneration(Exception):
    """Raised by a streamed answer's `on_text` when the customer asked to stop: the stream ends there,
    and the completion holds the text written so far (finish reason STOPPED)."""


STOPPED = "stopped"  # the finish reason of a streamed answer the customer stopped


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text as the model wrote it


@dataclass(slots=True)
class Completion:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    model: str = ""
    finish_reason: str | None = None

    def assistant_message(self) -> dict[str, Any]:
        """The message to append to the conversation before the tool results."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.5  # first backoff, doubled per attempt
    max_delay: float = 8.0  # cap of one backoff
    max_wait: float = 10.0  # a Retry-After longer than this is not waited for: fall back instead

    def backoff(self, attempt: int, retry_after: float | None, rng: Callable[[], float] = random.random
                ) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None to stop retrying.

        Exponential with "equal jitter" (half fixed, half random) so that many clients
        failing together do not retry in lockstep; a server's Retry-After is a floor.
        """
        if attempt >= self.max_retries:
            return None
        delay = min(self.max_delay, self.base_delay * (2 ** attempt))
        delay = delay / 2 + rng() * delay / 2
        if retry_after is not None:
            if retry_after > self.max_wait:
                return None
            delay = max(delay, retry_after + rng() * 0.1 * max(retry_after, 0.1))
        return delay


def retry_after_seconds(headers: Any) -> float | None:
    """`retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def classify(exc: BaseException) -> ModelError:
    """Map any exception of a model call to a ModelError with a stable label."""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return ModelError("timeout", "the model server did not answer in time", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ModelError("connection", "cannot reach the model server", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code = _error_code(exc)
        retry_after = retry_after_seconds(exc.response.headers)
        if status == 429 and code == "insufficient_quota":
            return ModelError("quota", "model quota exhausted", status=status)
        if status == 429:
            return ModelError("rate_limit", "rate limited by the model server", retryable=True,
                              retry_after=retry_after, status=status)
        if status in (401, 403):
            return ModelError("auth", "the model server refused the API key", status=status)
        if status == 404:
            return ModelError("not_found", "model or endpoint not found", status=status)
        if status in (408, 409) or status >= 500:
            return ModelError("server_error", f"model server error {status}", retryable=True,
                              retry_after=retry_after, status=status)
        return ModelError("bad_request", f"model server rejected the request ({status})", status=status)
    if isinstance(exc, openai.OpenAIError):
        return ModelError("bad_response", type(exc).__name__)
    return ModelError("internal", type(exc).__name__)


def _error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
    return getattr(exc, "code", None)


class ChatModel:
    """One model behind retries, timeouts and a circuit breaker."""

    def __init__(
        self, client: Any, model: str, *, timeout: float, retry: RetryPolicy, breaker: CircuitBreaker,
        sleep: Sleep = asyncio.sleep, rng: Callable[[], float] = random.random,
        on_request: RequestObserver | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self._sleep = sleep
        self._rng = rng
        self._on_request = on_request  # metrics: every HTTP request, retries included

    async def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int,
        tools: list[dict[str, Any]] | None = None, tool_choice: str | None = None,
    ) -> Completion:
        """The whole answer in one response."""
        kwargs = self._request(messages, max_tokens, tools, tool_choice)

        async def once(_: _Progress) -> Completion:
            # The client has its own timeout; this outer one guards against a server that
            # trickles bytes forever.
            response = await asyncio.wait_for(
                self.client.chat.completions.create(**kwargs, timeout=self.timeout), self.timeout + 2
            )
            return _parse(response, self.model)

        return await self._with_retries(once)

    async def stream(
        self, messages: list[dict[str, Any]], *, max_tokens: int, on_text: TextObserver,
        tools: list[dict[str, Any]] | None = None, tool_choice: str | None = None,
    ) -> Completion:
        """The answer streamed (`stream=True`): `on_text` sees the text so far as it grows.

        Same request, retries, breaker and result as `complete` (tool calls assembled from
        their deltas, usage from the last chunk through `stream_options.include_usage`), with
        two differences: once the customer has seen words, a failure is not retried (the answer
        would start over under their eyes); it raises like any final failure, and the agent's
        fallbacks answer. And `on_text` may raise `StopGeneration` (the customer's stop button):
        the stream is closed and the text so far comes back with finish reason STOPPED.
        """
        kwargs = self._request(messages, max_tokens, tools, tool_choice)
        kwargs.update(stream=True, stream_options={"include_usage": True})

        async def once(progress: _Progress) -> Completion:
            chunks = await asyncio.wait_for(
                self.client.chat.completions.create(**kwargs, timeout=self.timeout), self.timeout + 2
            )
            assembly = _StreamAssembly(self.model)
            iterator = chunks.__aiter__()
            try:
                while True:
                    try:  # every chunk within the timeout: a stalled stream is a timeout, not a hang
                        chunk = await asyncio.wait_for(iterator.__anext__(), self.timeout + 2)
                    except StopAsyncIteration:
                        break
                    if assembly.add(chunk):
                        progress.shown = True
                        await on_text(assembly.text)
            except StopGeneration:
                assembly.stop()
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    await close()
            return assembly.completion()

        return await self._with_retries(once)

    def _request(self, messages: list[dict[str, Any]], max_tokens: int,
                 tools: list[dict[str, Any]] | None, tool_choice: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens}
        if tools:
            kwargs["tools"] = tools
            if tool_choice:
                kwargs["tool_choice"] = tool_choice
        return kwargs

    async def _with_retries(self, once: Callable[[_Progress], Awaitable[Completion]]) -> Completion:
        """One call through the breaker, retried with backoff while nothing was shown to the customer."""
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise ModelError("circuit_open", "circuit breaker open: not calling the model server")
            started = time.perf_counter()
            progress = _Progress()
            try:
                completion = await once(progress)
            except asyncio.CancelledError:
                self.breaker.release()
                raise
            except Exception as exc:
                error = classify(exc)
                self._observe(error.error_class, started)
                if error.error_class in _NOT_COUNTED:
                    self.breaker.release()
                else:
                    self.breaker.record_failure()
                retryable = error.retryable and not progress.shown
                wait = self.retry.backoff(attempt, error.retry_after, self._rng) if retryable else None
                log.warning("model call failed: %s (attempt %d)%s%s", error.error_class, attempt + 1,
                            f", retrying in {wait:.2f}s" if wait is not None else "",
                            " after the first words were shown" if progress.shown else "")
                if wait is None:
                    raise error from None
                attempt += 1
                await self._sleep(wait)
                continue
            self._observe(None, started)
            self.breaker.record_success()
            return completion

    def _observe(self, error_class: str | None, started: float) -> None:
        if self._on_request is not None:
            self._on_request(error_class, time.perf_counter() - started)

    async def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            await close()


def _parse(response: Any, default_model: str) -> Completion:
    if not getattr(response, "choices", None):
        raise ModelError("bad_response", "no choices in the model's answer")
    choice = response.choices[0]
    message = choice.message
    calls = [
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
        for c in (message.tool_calls or [])
        if getattr(c, "function", None) is not None
    ]
    usage = getattr(response, "usage", None)
    return Completion(
        text=(message.content or "").strip(),
        tool_calls=calls,
        tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
        tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
        model=getattr(response, "model", None) or default_model,
        finish_reason=choice.finish_reason,
    )


@dataclass(slots=True)
class _Progress:
    """What one attempt has already done that cannot be taken back."""

    shown: bool = False  # the customer has seen some of this attempt's words


class _StreamAssembly:
    """A streamed answer put back together: text, tool calls (by index), usage, model, finish reason."""

    def __init__(self, default_model: str) -> None:
        self._parts: list[str] = []
        self.text = ""
        self._calls: dict[int, dict[str, str]] = {}
        self._usage: Any = None
        self._model = default_model
        self._finish: str | None = None
        self._choices = False

    def add(self, chunk: Any) -> bool:
        """Take one chunk; True when it added visible text."""
        self._model = getattr(chunk, "model", None) or self._model
        if getattr(chunk, "usage", None) is not None:
            self._usage = chunk.usage
        grew = False
        for choice in getattr(chunk, "choices", None) or []:
            self._choices = True
            self._finish = choice.finish_reason or self._finish
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                self._parts.append(delta.content)
                text = "".join(self._parts).strip()
                grew = bool(text) and text != self.text
                self.text = text
            for call in delta.tool_calls or []:
                slot = self._calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                function = getattr(call, "function", None)
                if function is not None:
                    slot["name"] = function.name or slot["name"]
                    slot["arguments"] += function.arguments or ""
        return grew

    def stop(self) -> None:
        self._finish = STOPPED

    def completion(self) -> Completion:
        if not self._choices:
            raise ModelError("bad_response", "no choices in the model's streamed answer")
        calls = [ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"] or "{}")
                 for _, c in sorted(self._calls.items()) if c["name"]]
        return Completion(
            text="".join(self._parts).strip(), tool_calls=calls,
            tokens_in=int(getattr(self._usage, "prompt_tokens", 0) or 0),
            tokens_out=int(getattr(self._usage, "completion_tokens", 0) or 0),
            model=self._model, finish_reason=self._finish,
        )


def build_openai_client(settings: Settings) -> Any:
    """The real client, or None when no API key is configured (limited mode)."""
    if settings.openai_api_key is None:
        return None
    return openai.AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout,
        max_retries=0,
    )
