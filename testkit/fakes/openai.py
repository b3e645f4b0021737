"""A fake OpenAI-compatible server that speaks the real HTTP protocol.

The real agent (the official `openai` client) talks to it through `OPENAI_BASE_URL`:
`POST /v1/chat/completions` (JSON or server-sent-event streaming, tool calls included) and
`GET /v1/models`, with OpenAI's error shapes (429 with `Retry-After`, 500, 401) and a mode
that hangs past any client timeout.

What a request gets is decided in this order: the queue of steps (`script(...)` answers and
`fail(...)`/`hang(...)` failures, first in first out), else the `responder` (by default a
deterministic answer built from the system prompt's menu lines that match the question).
`latency` delays every answer (the first token, when streamed), `chunk_delay` every streamed
chunk after it (a model writing slowly); `requests` keeps every request body; `max_inflight` tells
whether calls overlapped. `spans` keeps each request's body with the API key it came with (give
each client a key of its own with `accept_key` to tell them apart) and when it started and ended,
so a test can tell which calls overlapped, and whose.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from testkit.fakes.waiting import wait_until

DEFAULT_KEY = "sk-test-fake-openai"
STOPWORDS = {
    "what", "with", "your", "have", "does", "there", "about", "which", "would", "like", "much", "many", "anything",
    "something", "please", "could", "should", "when", "where", "this", "that", "they", "them", "from", "some",
    "want", "tell", "open", "today", "free",
}


@dataclass
class FakeReply:
    """One scripted answer or failure."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name": ..., "arguments": {...}}]
    status: int = 200
    retry_after: float | None = None
    error_code: str | None = None
    message: str | None = None
    hang: bool = False  # never answer (until the server stops)
    delay: float = 0.0
    chunk_delay: float | None = None  # streaming: pause before each text chunk (None: the server's chunk_delay)


Responder = Callable[[dict[str, Any]], "FakeReply | str"]


@dataclass
class Span:
    """One chat completion request: whose key, what it asked, when it started and ended (time.monotonic())."""

    key: str
    body: dict[str, Any]
    start: float
    end: float | None = None  # None while it runs


class FakeOpenAI:
    def __init__(self, api_key: str = DEFAULT_KEY, models: tuple[str, ...] = ("gpt-4o-mini",)) -> None:
        self.api_key = api_key
        self.models = models
        self.port = 0
        self.latency = 0.0
        self.chunk_delay = 0.0  # streaming: pause before each text chunk (a model writing slowly)
        self.chunk_chars = 40  # streaming: characters per text chunk
        self.responder: Responder = default_responder
        self.requests: list[dict[str, Any]] = []
        self.spans: list[Span] = []
        self.accepted_keys = {api_key}
        self.inflight = 0
        self.max_inflight = 0
        self._steps: list[FakeReply] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self._changed = asyncio.Condition()

    # --- server ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL to give OPENAI_BASE_URL (includes /v1, like api.openai.com/v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self, port: int = 0) -> None:
        """Listen on `port` (0: any free one); a test can bring the server up late, where the bot already points."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- controlling it ------------------------------------------------------------------
    def script(self, *replies: FakeReply | str) -> None:
        """Answer the next requests with these, in order (a str is a plain text answer)."""
        self._steps += [FakeReply(content=r) if isinstance(r, str) else r for r in replies]

    def fail(self, status: int = 500, *, times: int = 1, retry_after: float | None = None,
             code: str | None = None, message: str | None = None) -> None:
        """The next `times` requests fail like OpenAI fails (429 carries Retry-After if given)."""
        self._steps += [FakeReply(status=status, retry_after=retry_after, error_code=code, message=message)
                        for _ in range(times)]

    def hang(self, times: int = 1) -> None:
        """The next `times` requests never get an answer (the client's timeout must fire)."""
        self._steps += [FakeReply(hang=True) for _ in range(times)]

    def accept_key(self, key: str) -> None:
        """Accept another API key too (one per client, to tell their requests apart in `spans`)."""
        self.accepted_keys.add(key)

    def clear(self) -> None:
        self._steps.clear()

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def pending_steps(self) -> int:
        return len(self._steps)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (re-checked on every request start and end); returns its value."""
        return await wait_until(self._changed, predicate, timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- HTTP ---------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.accepted_keys

    @staticmethod
    def _error(status: int, message: str, *, type_: str, code: str | None = None,
               retry_after: float | None = None) -> web.Response:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        return web.json_response(body, status=status, headers=headers)

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "Incorrect API key provided.", type_="invalid_request_error",
                               code="invalid_api_key")
        data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._error(400, "We could not parse the JSON body of your request.", type_="invalid_request_error")
        self.requests.append(body)
        span = Span(request.headers.get("Authorization", "").removeprefix("Bearer "), body, time.monotonic())
        self.spans.append(span)
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        await self._notify()
        try:
            if not self._authorised(request):
                return self._error(401, "Incorrect API key provided.", type_="invalid_request_error",
                                   code="invalid_api_key")
            if not isinstance(body.get("messages"), list) or not body.get("model"):
                return self._error(400, "'messages' and 'model' are required.", type_="invalid_request_error")
            step = self._steps.pop(0) if self._steps else None
            if step is None:
                produced = self.responder(body)
                step = FakeReply(content=produced) if isinstance(produced, str) else produced
            if step.tool_calls and (not body.get("tools") or body.get("tool_choice") == "none"):
                # like OpenAI: no tools offered (or tool_choice "none") means no tool calls
                step = FakeReply(content=step.content or "I can't do that step right now.")
            if self.latency or step.delay:
                await asyncio.sleep(self.latency + step.delay)
            if step.hang:
                await self._release.wait()
                return web.Response(status=499)
            if step.status != 200:
                return self._failure(step)
            if body.get("stream"):
                return await self._stream(request, body, step)
            writing = self._pause(step) * len(self._pieces(step.content or ""))
            if writing:  # the same model answering whole: the complete answer once all of it is written
                await asyncio.sleep(writing)
            return web.json_response(self._completion(body, step))
        finally:
            span.end = time.monotonic()
            self.inflight -= 1
            await self._notify()

    def _failure(self, step: FakeReply) -> web.Response:
        status = step.status
        if status == 429:
            code = step.error_code or "rate_limit_exceeded"
            default = ("You exceeded your current quota, please check your plan and billing details."
                       if code == "insufficient_quota" else "Rate limit reached for requests.")
            return self._error(429, step.message or default, type_="requests" if code != "insufficient_quota"
                               else "insufficient_quota", code=code, retry_after=step.retry_after)
        if status == 401:
            return self._error(401, step.message or "Incorrect API key provided.", type_="invalid_request_error",
                               code=step.error_code or "invalid_api_key")
        return self._error(status, step.message or "The server had an error while processing your request.",
                           type_="server_error" if status >= 500 else "invalid_request_error",
                           code=step.error_code, retry_after=step.retry_after)

    def _tool_calls(self, step: FakeReply) -> list[dict[str, Any]]:
        calls = []
        for call in step.tool_calls:
            args = call.get("arguments", {})
            calls.append({"id": call.get("id") or f"call_{next(self._ids)}", "type": "function",
                          "function": {"name": call["name"],
                                       "arguments": args if isinstance(args, str) else json.dumps(args)}})
        return calls

    @staticmethod
    def _usage(body: dict[str, Any], content: str) -> dict[str, int]:
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4 + 1
        completion = len(content) // 4 + 1
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, body: dict[str, Any], step: FakeReply) -> dict[str, Any]:
        calls = self._tool_calls(step)
        message: dict[str, Any] = {"role": "assistant", "content": step.content, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        return {
            "id": f"chatcmpl-fake{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": self._usage(body, step.content or ""),
        }

    def _pause(self, step: FakeReply) -> float:
        return self.chunk_delay if step.chunk_delay is None else step.chunk_delay

    def _pieces(self, content: str) -> list[str]:
        return re.findall(f".{{1,{self.chunk_chars}}}", content, flags=re.S)

    async def _stream(self, request: web.Request, body: dict[str, Any], step: FakeReply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        cid, created = f"chatcmpl-fake{next(self._ids)}", int(time.time())

        async def send(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> None:
            chunk: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created,
                                     "model": body["model"],
                                     "choices": [] if usage else [{"index": 0, "delta": delta,
                                                                   "finish_reason": finish}]}
            if usage:
                chunk["usage"] = usage
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        content = step.content or ""
        pause = self._pause(step)
        for piece in self._pieces(content):
            if pause:
                await asyncio.sleep(pause)
            await send({"content": piece})
        for index, call in enumerate(self._tool_calls(step)):
            await send({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                        "function": {"name": call["function"]["name"],
                                                     "arguments": call["function"]["arguments"]}}]})
        await send({}, finish="tool_calls" if step.tool_calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({}, usage=self._usage(body, content))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def default_responder(body: dict[str, Any]) -> FakeReply:
    """A deterministic answer from the request: tool results are echoed, otherwise menu lines
    of the system prompt that share a word with the question are quoted."""
    messages = body.get("messages", [])
    if messages and messages[-1].get("role") == "tool":
        return FakeReply(content=f"Done: {messages[-1].get('content')}")
    system = next((str(m.get("content") or "") for m in messages if m.get("role") == "system"), "")
    question = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
    words = {w.removesuffix("s") for w in re.findall(r"[a-z]{4,}", question.lower()) if w not in STOPWORDS}
    lines = [line[2:] for line in system.splitlines() if line.startswith("- ")]
    def words_of(text: str) -> set[str]:
        return {w.removesuffix("s") for w in re.findall(r"[a-z]{4,}", text.lower())}

    hits = [line for line in lines if words & words_of(line.split(" — ")[0])]
    if not hits:  # no item named: lines mentioning the words anywhere (hours, policies)
        hits = [line for line in lines if words & words_of(line)]
    hits = hits[:3]
    if hits:
        return FakeReply(content="From our menu: " + " | ".join(hits))
    return FakeReply(content=f"Happy to help! You asked: {question.strip()[:200]}")
