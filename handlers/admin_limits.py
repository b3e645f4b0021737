"""/limits: admins lower (or restore) the agent's history and token limits without a restart.

`/limits` shows the limits in force, `/limits history=4 tokens=300` changes them from the
next request on, `/limits reset` returns to the configured defaults. Non-admins are told
the command is for admins.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.agent import Agent, AgentLimits, LimitsError
from bot.telegram.filters import IsAdmin, IsNotAdmin
from bot.text import escape


def describe(limits: AgentLimits) -> str:
    def mark(name: str) -> str:
        return " (override)" if name in limits.overridden else " (default)"

    return (f"history = {limits.history_max_messages} messages{mark('history')}\n"
            f"tokens = {limits.max_tokens} per reply{mark('tokens')}, history budget ≈ "
            f"{limits.history_token_budget} tokens")


async def on_limits(message: Message, command: CommandObject, agent: Agent) -> None:
    args = (command.args or "").strip()
    if not args:
        limits = await agent.limits.current()
        await message.answer(f"<b>Agent limits</b>\n{escape(describe(limits))}\n\n"
                             "Change: /limits history=4 tokens=300 · restore: /limits reset")
        return
    try:
        limits = await agent.limits.apply(args, message.from_user.id if message.from_user else None)
    except LimitsError as exc:
        await message.answer(f"⚠️ {escape(str(exc))}\nExample: /limits history=4 tokens=300")
        return
    await message.answer(f"✅ From the next request:\n{escape(describe(limits))}")


async def on_limits_refused(message: Message) -> None:
    await message.answer("Sorry, /limits is for the cafe's admins only.")


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_limits, Command("limits"), IsAdmin())
    router.message.register(on_limits_refused, Command("limits"), IsNotAdmin())
    return router
