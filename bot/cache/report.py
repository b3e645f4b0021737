"""Cache statistics, warmup reports and found/forgotten answers as short Telegram messages (HTML parse mode)."""

from __future__ import annotations

from typing import Any

from bot.cache.answers import EXACT, SEMANTIC, Forgotten, Found, FoundAnswer
from bot.cache.service import RESERVED_STATS
from bot.text import escape


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} ms"


def _tier_line(name: str, tier: dict[str, Any]) -> str:
    latency = tier["latency_ms"]
    keys = tier.get("keys")
    parts = [f"<b>{name}</b>:"]
    if keys is not None:
        parts.append(f"{keys} keys ·")
    parts.append(f"hits {tier['hits']} · misses {tier['misses']} · hit rate {_pct(tier['hit_rate'])}")
    parts.append(f"· errors {tier['errors']} · p50 {_ms(latency['p50'])} · p95 {_ms(latency['p95'])}")
    return " ".join(parts)


def format_stats(stats: dict[str, Any]) -> str:
    fallback = stats["fallback"]
    if stats["backend"] == "redis":
        head = "🟢 <b>Cache</b>: Redis"
    elif fallback["active"]:
        head = (f"🟠 <b>Cache</b>: memory (Redis unavailable since {fallback['since']}, "
                f"{fallback['seconds']:.0f} s)\nReason: {escape(fallback['reason'] or '?')}")
    else:
        head = "⚪ <b>Cache</b>: memory only (REDIS_URL not set)"
    tiers = stats["tiers"]
    lines = [
        head,
        _tier_line("Redis", tiers["redis"]),
        _tier_line("Memory", tiers["memory"]),
        f"<b>Database</b>: loads {tiers['database']['loads']} · errors {tiers['database']['errors']} · "
        f"p95 {_ms(tiers['database']['latency_ms']['p95'])}",
        f"Fallbacks: {fallback['activations']} · served without Redis: "
        + (", ".join(f"{op} {n}" for op, n in sorted(fallback["served"].items())) or "none"),
    ]
    slo = stats["slo"]
    if slo["redis_hit_rate"] is not None:
        verdict = "met" if slo["met"] else "NOT met"
        lines.append(f"SLO Redis hit rate > {slo['redis_hit_rate_target'] * 100:.0f}%: {verdict}")
    for group, report in sorted(stats["warmup"].items()):
        lines.append(f"Last warmup {group}: {report['keys']} keys in {report['took_ms']:.0f} ms")
    for name, block in stats.items():
        if name not in RESERVED_STATS and isinstance(block, dict):
            summary = ", ".join(f"{k} {v}" for k, v in block.items() if not isinstance(v, (dict, list)))
            lines.append(f"<b>{escape(name.capitalize())}</b>: {escape(summary)}")
    return "\n".join(lines)


def format_warmup(report: dict[str, Any]) -> str:
    head = f"Warmup <b>{escape(report['group'])}</b>: {report['keys']} keys in {report['took_ms']:.0f} ms " \
           f"on {report['backend']}"
    if not report["warmers"]:
        return head + "\n(no warmers registered for this group)"
    lines = [head]
    for name, item in report["warmers"].items():
        line = f"• {escape(name)}: {item['keys']} keys, {item['took_ms']:.0f} ms"
        if "error" in item:
            line += f" — failed: {escape(item['error'])}"
        lines.append(line)
    return "\n".join(lines)


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _clip(text: str, limit: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _entry(answer: FoundAnswer) -> str:
    return (f"<code>{answer.id}</code> · {answer.cache} · {_age(answer.age_seconds)} old\n"
            f"Q: {escape(_clip(answer.question))}\nA: {escape(answer.preview)}")


def format_found(query: str, found: Found, shown: int) -> str:
    """The answers /cache_find lists (newest first, at most `shown`), with how many more there are."""
    quoted = f"“{escape(_clip(query, 100))}”"
    if not found.answers:
        text = f"No cached answer matches {quoted}."
    else:
        total = len(found.answers)
        head = f"🔎 <b>{total} cached answer{'s' if total != 1 else ''}</b> match {quoted}:"
        lines = [head, *(_entry(a) for a in found.answers[:shown])]
        if total > shown:
            lines.append(f"…and {total - shown} more (the newest {shown} are shown).")
        lines.append(f"Forget one: /cache_forget &lt;id&gt; · every match: "
                     f"<code>/cache_forget all {escape(_clip(query, 100))}</code>")
        text = "\n\n".join(lines)
    if found.truncated:
        text += "\n(Only the first answers of the exact cache were searched: it holds more.)"
    return text


def format_forgotten(forgotten: Forgotten, what: str, shown: int) -> str:
    """What /cache_forget did; `what` names the id or the search, already HTML-escaped."""
    if forgotten.ambiguous:
        ids = ", ".join(f"<code>{a.id}</code>" for a in forgotten.ambiguous)
        return f"That id names {len(forgotten.ambiguous)} cached answers ({ids}): give the whole id. Nothing forgotten."
    if not forgotten.answers:
        return f"Nothing forgotten: no cached answer {what}. Find ids with /cache_find &lt;words&gt;."
    total = len(forgotten.answers)
    counts = ", ".join(f"{cache} {n}" for cache in (EXACT, SEMANTIC) if (n := forgotten.count(cache)))
    lines = [f"🗑 Forgot {total} cached answer{'s' if total != 1 else ''} ({counts}) {what}:"]
    lines += [f"<code>{a.id}</code> · {escape(_clip(a.question, 100))}" for a in forgotten.answers[:shown]]
    if total > shown:
        lines.append(f"…and {total - shown} more.")
    if forgotten.everywhere:
        lines.append("Removed from every tier; every bot process stops serving it within about a second.")
    else:
        lines.append("Redis is unavailable: removed in this process now; the other processes drop it "
                     "when Redis is back.")
    if forgotten.truncated:
        lines.append("(Only the first answers of the exact cache were searched: run it again for the rest.)")
    return "\n".join(lines)
