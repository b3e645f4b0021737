"""Text helpers for Telegram's HTML parse mode and its 4096-character limit."""

from __future__ import annotations

import html
import re

TELEGRAM_MAX_CHARS = 4096


def escape(text: str) -> str:
    """Escape user or model text for HTML parse mode (no 'can't parse entities')."""
    return html.escape(text, quote=False)


def split_message(text: str, limit: int = TELEGRAM_MAX_CHARS) -> list[str]:
    """Split at paragraph, then line, then sentence, then word boundaries; never mid-entity.

    The input is plain text (escape after splitting, or pass an escaped text and a
    limit with headroom), so the pieces are each at most `limit` characters.
    """
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = _best_cut(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return [p for p in parts if p]


def _best_cut(window: str) -> int:
    floor = len(window) // 3  # don't make tiny pieces just to hit a boundary
    for pattern in (r"\n\s*\n", r"\n", r"(?<=[.!?…])\s", r"\s"):
        cuts = [m.end() for m in re.finditer(pattern, window) if m.end() > floor]
        if cuts:
            return cuts[-1]
    return len(window)
