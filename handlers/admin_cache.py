"""Admin cache commands: /cache, /warmup, /warmup_menu, /cache_clear <prefix>, and
/cache_find <words>, /cache_forget <id> | all <words> to remove a bad cached answer at once.

The admin router is filtered by IsAdmin as a whole; a sibling router answers the
same commands from anyone else with a short refusal, so they never reach the
chat handler as ordinary text.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.cache import CRITICAL, MENU, Cache, CachedAnswers
from bot.cache.answers import query_words
from bot.cache.keys import clear_prefix_refusal
from bot.cache.report import format_forgotten, format_found, format_stats, format_warmup
from bot.telegram.filters import IsAdmin, IsNotAdmin
from bot.text import escape, split_message

COMMANDS = ("cache", "warmup", "warmup_menu", "cache_clear", "cache_find", "cache_forget")
REFUSAL = "Sorry, that command is for the cafe's admins."
USAGE = "Usage: /cache_clear &lt;prefix&gt;, for example <code>/cache_clear user:profile:</code>"
FIND_USAGE = "Usage: /cache_find &lt;words&gt;, for example <code>/cache_find lentil</code>"
FORGET_USAGE = ("Usage: /cache_forget &lt;id&gt; (an id from /cache_find, e.g. <code>e-3fa9c01b2e</code>) "
                "or <code>/cache_forget all &lt;words&gt;</code> for every answer /cache_find lists")
SHOWN = 10  # entries listed in one chat message


async def on_cache(message: Message, cache: Cache) -> None:
    await cache.refresh_key_count()
    for part in split_message(format_stats(cache.stats())):
        await message.answer(part)


async def on_warmup(message: Message, cache: Cache) -> None:
    await message.answer(format_warmup(await cache.warmup(CRITICAL)))


async def on_warmup_menu(message: Message, cache: Cache) -> None:
    await message.answer(format_warmup(await cache.warmup(MENU)))


async def on_cache_clear(message: Message, command: CommandObject, cache: Cache) -> None:
    prefix = (command.args or "").strip()
    if not prefix:
        await message.answer(USAGE)
        return
    refusal = clear_prefix_refusal(prefix, cache.key_prefix)
    if refusal is not None:
        await message.answer(f"Not cleared: {escape(refusal)}.")
        return
    removed = await cache.clear_prefix(prefix)
    await message.answer(f"Removed {removed} cache keys under <code>{escape(prefix)}</code> ({cache.backend}).")


async def on_cache_find(message: Message, command: CommandObject, cached_answers: CachedAnswers) -> None:
    query = (command.args or "").strip()
    if not query_words(query):
        await message.answer(FIND_USAGE)
        return
    for part in split_message(format_found(query, await cached_answers.find(query), SHOWN)):
        await message.answer(part)


async def on_cache_forget(message: Message, command: CommandObject, cached_answers: CachedAnswers) -> None:
    args = (command.args or "").strip()
    first, _, rest = args.partition(" ")
    if first.lower() == "all":
        if not query_words(rest):
            await message.answer(FORGET_USAGE)
            return
        forgotten = await cached_answers.forget_matching(rest)
        what = f"matching “{escape(rest.strip())}”"
    else:
        if not args or rest:
            await message.answer(FORGET_USAGE)
            return
        try:
            forgotten = await cached_answers.forget_id(args)
        except ValueError:
            await message.answer(f"<code>{escape(args)}</code> is not an answer id.\n{FORGET_USAGE}")
            return
        what = f"with the id <code>{escape(args)}</code>"
    await message.answer(format_forgotten(forgotten, what, SHOWN))


async def on_refuse(message: Message) -> None:
    await message.answer(REFUSAL)


def create_router() -> Router:
    router = Router(name=__name__)
    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.message.register(on_cache, Command("cache"))
    admin.message.register(on_warmup, Command("warmup"))
    admin.message.register(on_warmup_menu, Command("warmup_menu"))
    admin.message.register(on_cache_clear, Command("cache_clear"))
    admin.message.register(on_cache_find, Command("cache_find"))
    admin.message.register(on_cache_forget, Command("cache_forget"))
    others = Router(name=f"{__name__}.refusal")
    others.message.filter(IsNotAdmin())
    others.message.register(on_refuse, Command(*COMMANDS))
    router.include_routers(admin, others)
    return router
