"""Cache statistics and warmup reports as short Telegram messages (HTML parse mode)."""

from __future__ import annotations

from typing import Any

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
