"""The agent: one customer question in, one grounded answer out, whatever fails.

Order of answering: a shared cached answer (exact, then semantic) when the sharing policy
lets this question have one; the model, with the canonical prompt, the user's recent
history and any registered tools; when the model fails or is not configured, the offline
answerer, then a short apology. Never an exception, never silence. Every turn is
recorded in the dialog history and as one `agent_events` row.

A model answer is stored for everyone only when the model wrote it from the system prompt
and the question alone (`bot.semantic.sharing`): a shareable question asked inside a dialog is
answered for this customer, with their history, and not stored.

The agent knows nothing about Telegram: the Telegram conversation, the side server's
`POST /api/agent/chat` and the console `python main.py chat` all call `answer()`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bot.agent.breaker import BreakerState, CircuitBreaker
from bot.agent.budget import TokenBudget
from bot.agent.caching import CacheContext
from bot.agent.limits import AgentLimits, LimitsService
from bot.agent.llm import STOPPED, ChatModel, ModelError, TextObserver
from bot.agent.offline import OfflineAnswerer
from bot.agent.pipeline import AnswerPipeline
from bot.agent.tools import ToolRegistry
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.i18n import N_, _, current_locale
from bot.knowledge import KnowledgeBase
from bot.logging_setup import kv
from bot.metrics import Metrics
from bot.prompts import build_system_prompt, clock_message, prompt_version
from bot.semantic.sharing import Provenance, SharingPolicy
from storage.agent_events import AgentEvent, AgentEventRepository
from storage.dialogs import DialogMessage, DialogRepository

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 4
# Tool calls one model reply (round) and one customer turn may run; calls beyond are answered to the
# model with TOO_MANY_TOOL_CALLS instead of being run, and once the turn's cap is reached the next
# request forbids tools (tool_choice "none"). A model talked into "add 50 times" stays bounded, while
# a family's order of eight different items still fits in one round.
MAX_TOOL_CALLS_PER_ROUND = 8
MAX_TOOL_CALLS_PER_TURN = 12
TOO_MANY_TOOL_CALLS = json.dumps({"error": "too many tool calls: this call was not run. Answer the customer "
                                           "with what you have, or ask them to go one step at a time."})
OFFLINE_MODEL = "offline"
LIMITED_MODE_NOTE = N_("ℹ️ I'm running in limited mode right now: I answer from the cafe's menu and facts only, "
                     "so I may not understand every question.")
OUTAGE_NOTE = N_("(My AI helper is unavailable for a moment, so this answer comes straight from our menu and "
                 "facts.)")
BUDGET_NOTE = N_("(You've asked me a lot today, so for the rest of the day my answers come straight from our menu "
               "and facts.)")
BUDGET_APOLOGY = N_("You've asked me a lot today, so for the rest of the day I can only answer from our menu and "
                  "facts: prices, vegan, vegetarian and gluten-free options, allergens, opening hours, Wi-Fi and "
                  "where to find us. Ordering with /menu works as always.")
APOLOGY = N_("Sorry, I can't answer that right now. I can tell you about our menu and prices, vegan, vegetarian and "
           "gluten-free options, allergens, opening hours, Wi-Fi and where to find us — or please try again in "
           "a minute.")


@dataclass(frozen=True, slots=True)
class AgentReply:
    answer: str
    source: str  # llm | cache | semantic | offline
    latency_ms: float
    model: str
    prompt_version: str
    tokens_in: int = 0
    tokens_out: int = 0
    error_class: str | None = None
    tool_calls: int = 0

    def event(self, user_id: int, kind: str) -> AgentEvent:
        """The row `agent_events` keeps of this reply: everything but the answer's text."""
        return AgentEvent(
            user_id=user_id, kind=kind, latency_ms=self.latency_ms, source=self.source, model=self.model,
            prompt_version=self.prompt_version, tokens_in=self.tokens_in, tokens_out=self.tokens_out,
            error_class=self.error_class, tool_calls=self.tool_calls,
        )


@dataclass
class _Turn:
    """What one model turn produced, also when it failed half-way (tools may have run)."""

    tokens_in: int = 0
    tokens_out: int = 0
    tool_calls: int = 0
    model: str = ""
    text: str = ""
    tools_used: list[str] = field(default_factory=list)
    stopped: bool = False  # the customer stopped the streamed answer: it ends with the words written so far


class Agent:
    def __init__(
        self, settings: Settings, knowledge: KnowledgeBase, dialogs: DialogRepository,
        events: AgentEventRepository, limits: LimitsService, model: ChatModel | None,
        metrics: Metrics | None = None, clock: Clock | None = None, *, budget: TokenBudget | None = None,
        answers: AnswerPipeline | None = None, tools: ToolRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()  # "now" for the offline hours answers and the model's clock line
        self.knowledge = knowledge
        self.dialogs = dialogs
        self.events = events
        self.limits = limits
        self.model = model
        self.metrics = metrics
        self.budget = budget  # daily token budgets (None: unlimited)
        self.offline = OfflineAnswerer(lambda: knowledge.menu, lambda: knowledge.cafe)
        self.sharing = SharingPolicy(lambda: knowledge.menu)
        self.tools = tools if tools is not None else ToolRegistry()  # the order tools, when ordering is wired
        self.answers = answers if answers is not None else AnswerPipeline()  # the shared answers, in order
        self._prompt_key: tuple[str, str, str, str] | None = None
        self._prompt = ""

    @property
    def limited(self) -> bool:
        """No model configured (no OPENAI_API_KEY): answers come from caches and data only."""
        return self.model is None

    @property
    def breaker(self) -> CircuitBreaker | None:
        return self.model.breaker if self.model is not None else None

    @property
    def prompt_version(self) -> str:
        return prompt_version(self.settings)

    async def start(self) -> None:
        mode = "limited (no OPENAI_API_KEY)" if self.limited else f"model {self.settings.openai_model}"
        log.info("agent ready: %s, prompt %s, tools %s", mode, self.prompt_version, self.tools.names() or "none")

    async def stop(self) -> None:
        if self.model is not None:
            try:
                await self.model.close()
            except Exception:
                log.warning("closing the model client failed", exc_info=True)

    def system_prompt(self) -> str:
        """The static system prompt for the current prompt version, menu and cafe facts (memoised)."""
        key = (self.prompt_version, self.knowledge.menu.version, self.knowledge.menu.overrides,
               self.knowledge.cafe.version)
        if key != self._prompt_key:
            self._prompt = build_system_prompt(self.knowledge.menu, self.knowledge.cafe)
            self._prompt_key = key
        return self._prompt

    def status(self) -> dict[str, Any]:
        breaker = self.breaker.snapshot() if self.breaker is not None else None
        if self.limited:
            state = "limited"
        elif breaker is not None and breaker.state is not BreakerState.CLOSED:
            state = "degraded"
        else:
            state = "ok"
        return {
            "status": state,
            "model": self.settings.openai_model,
            "base_url": self.settings.openai_base_url or "https://api.openai.com/v1",
            "api_key": "set" if self.settings.openai_api_key else "unset",
            "prompt_version": self.prompt_version,
            "menu_version": self.knowledge.menu.version,
            "circuit_breaker": None if breaker is None else {
                "state": str(breaker.state), "consecutive_failures": breaker.consecutive_failures,
                "retry_in_s": breaker.retry_in_s, "trips": breaker.trips,
            },
            "caches": self.answers.names(),
            "tools": self.tools.names(),
        }

    # --- answering ------------------------------------------------------------------
    async def answer(self, user_id: int, text: str, kind: str = "text", *,
                     on_text: TextObserver | None = None) -> AgentReply:
        """The turn's answer. With `on_text` a model answer is streamed: it is called with the text so
        far as the model writes it (the Telegram handler shows it as a draft); cached, offline and
        apology answers come back at once without it. The returned answer is always the complete one."""
        started = time.perf_counter()
        question = text.strip()
        idle_seconds = self.settings.dialog_idle_minutes * 60
        limits = await self.limits.current()
        dialog_id = await self.dialogs.active_id(user_id, idle_seconds)
        new_dialog = dialog_id is None
        history = [] if new_dialog else await self.dialogs.history(user_id, idle_seconds, limits.history_max_messages,
                                                                   dialog_id=dialog_id)
        history = trim_history(history, limits.history_token_budget)
        ctx = self.cache_context(user_id, question, kind, has_history=not new_dialog)
        turn = _Turn()
        answer: str | None = None
        source, model_name, error_class = "offline", OFFLINE_MODEL, None

        hit = await self.answers.lookup(question, ctx)
        if hit is not None:
            answer, source, model_name = hit.answer, hit.source, hit.model or ctx.model
        elif self.model is None:
            error_class = "no_api_key"
        elif self.budget is not None and await self.budget.refusal(user_id) is not None:
            error_class = "budget"  # [token budget 1/2] spent today: no model call; the fallback below answers
        else:
            try:
                await self._model_turn(user_id, question, history, limits, turn, on_text)
                answer, source, model_name = turn.text, "llm", turn.model or ctx.model
                error_class = STOPPED if turn.stopped else None
            except ModelError as exc:
                error_class = exc.error_class
            except Exception:  # a bug must still end in an answer
                log.exception("agent model turn failed unexpectedly")
                error_class = "internal"

        if answer is None:
            offline = self.offline.answer(question, now=self.clock.now())
            over_budget = error_class == "budget"
            answer = offline or _(BUDGET_APOLOGY if over_budget else APOLOGY)
            if self.model is None and new_dialog:
                answer = f"{_(LIMITED_MODE_NOTE)}\n\n{answer}"
            elif self.model is not None and offline:
                answer = f"{answer}\n\n{_(BUDGET_NOTE if over_budget else OUTAGE_NOTE)}"
        elif source == "llm" and not turn.stopped:  # a stopped answer is half an answer: never shared
            made = Provenance(history_sent=bool(history), tools_used=tuple(turn.tools_used))
            await self.answers.store(question, answer, replace(ctx, provenance=made))

        if self.budget is not None:  # [token budget 2/2] what this turn cost the model (0 for caches, offline)
            self.budget.spend(user_id, turn.tokens_in + turn.tokens_out)
        reply = AgentReply(
            answer=answer, source=source, latency_ms=round((time.perf_counter() - started) * 1000, 1),
            model=model_name, prompt_version=ctx.prompt_version, tokens_in=turn.tokens_in, tokens_out=turn.tokens_out,
            error_class=error_class, tool_calls=turn.tool_calls,
        )
        await self._record(user_id, kind, question, reply, idle_seconds, dialog_id)
        return reply

    async def _model_turn(
        self, user_id: int, question: str, history: list[DialogMessage], limits: AgentLimits, turn: _Turn,
        on_text: TextObserver | None = None,
    ) -> None:
        assert self.model is not None
        system = f"{self.system_prompt()}\n{clock_message(self.knowledge.cafe, self.clock.now())}"
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        messages += [{"role": m.role, "content": m.content} for m in history]
        messages.append({"role": "user", "content": question})
        tools = self.tools.specs() or None
        rounds = 0
        while True:
            last_round = rounds >= MAX_TOOL_ROUNDS or turn.tool_calls >= MAX_TOOL_CALLS_PER_TURN
            choice = "none" if last_round else None
            if on_text is None:
                completion = await self.model.complete(messages, max_tokens=limits.max_tokens, tools=tools,
                                                       tool_choice=choice)
            else:
                completion = await self.model.stream(messages, max_tokens=limits.max_tokens, tools=tools,
                                                     tool_choice=choice, on_text=on_text)
            turn.tokens_in += completion.tokens_in
            turn.tokens_out += completion.tokens_out
            turn.model = completion.model
            if completion.finish_reason == STOPPED:
                turn.text, turn.stopped = completion.text, True
                return
            if completion.tool_calls and tools and not last_round:
                messages.append(completion.assistant_message())
                refused = 0
                for index, call in enumerate(completion.tool_calls):
                    if index >= MAX_TOOL_CALLS_PER_ROUND or turn.tool_calls >= MAX_TOOL_CALLS_PER_TURN:
                        result = TOO_MANY_TOOL_CALLS  # every call id still needs its result message
                        refused += 1
                    else:
                        result = await self.tools.call(call.name, user_id, call.arguments)
                        turn.tool_calls += 1
                        turn.tools_used.append(call.name)
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
                if refused:
                    log.warning("model asked user %s's turn for %d tool calls in one round; %d beyond the caps "
                                "(%d a round, %d a turn) were not run", user_id, len(completion.tool_calls),
                                refused, MAX_TOOL_CALLS_PER_ROUND, MAX_TOOL_CALLS_PER_TURN)
                rounds += 1
                continue
            if not completion.text:
                raise ModelError("empty_answer", "the model returned no text")
            turn.text = completion.text
            return

    def cache_context(self, user_id: int, question: str, kind: str = "text", *,
                      has_history: bool = False) -> CacheContext:
        """The turn's context for the answer caches: versions, the customer's language, what the question is."""
        language = current_locale()
        return CacheContext(
            user_id=user_id, prompt_version=self.prompt_version, menu_version=self.knowledge.answers_version,
            model=self.settings.openai_model, kind=kind, language=language,
            share=self.sharing.assess(question, has_history=has_history, reader=language),
        )

    async def _record(self, user_id: int, kind: str, question: str, reply: AgentReply, idle_seconds: float,
                      dialog_id: int | None) -> None:
        """History and the event row in one transaction; a storage failure is logged (and the event tried on its
        own), the customer still gets the answer."""
        event = reply.event(user_id, kind)
        try:
            await self.dialogs.append_turn(user_id, idle_seconds, question, reply.answer, known=(dialog_id,),
                                           event=event)
        except Exception:
            log.exception("could not record the dialog turn")
            try:
                await self.events.record(event)
            except Exception:
                log.exception("could not record the agent event")
        if self.metrics is not None:
            self.metrics.record_turn(kind, reply.source, reply.latency_ms / 1000, reply.error_class)
        fields = {k: v for k, v in asdict(event).items() if k not in ("id", "created_at")}
        log.info("agent turn %s", kv(user=user_id, kind=kind, source=reply.source, latency_ms=reply.latency_ms,
                                      prompt_version=reply.prompt_version, tokens_in=reply.tokens_in,
                                      tokens_out=reply.tokens_out, error=reply.error_class or "-",
                                      tools=reply.tool_calls),
                 extra={"fields": {"event": "agent_turn", **fields}})


def estimate_tokens(text: str) -> int:
    """About four characters per token for English; good enough to bound history."""
    return len(text) // 4 + 1


def trim_history(history: list[DialogMessage], token_budget: int) -> list[DialogMessage]:
    """Keep the newest messages that fit the budget, starting with a user message."""
    kept: list[DialogMessage] = []
    used = 0
    for message in reversed(history):
        used += estimate_tokens(message.content)
        if used > token_budget:
            break
        kept.append(message)
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept
