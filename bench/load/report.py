"""From what a run recorded to the figures: per scenario JSON, markdown, and the targets met or not.

Latency is the customer's: from the moment the update was queued at the fake Bot API to
the moment the bot's reply reached it (long polling included, as with real Telegram).
`chat` is every text message that goes to the agent (questions, follow-ups, orders in plain
words); its p95 is the runbook's "chat p95 with cache". Each chat or voice probe is matched
to the bot's own `agent_events` row (same user, recorded between question and reply) to
split latency and hit rates by answer path. The Redis hit rate is the bot's (`/api/cache`,
summed over process lives); memory is the bot process's resident set, sampled every second.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.load.customers import Probe
from bench.load.run import RunData
from bot.percentiles import percentile

CHAT_P95_TARGET_MS = 1500.0
ERROR_RATE_TARGET = 0.02
REDIS_HIT_TARGET = 0.80
SEMANTIC_HIT_TARGET = 0.25
WARMUP_SHARE = 0.2  # memory trend ignores the first fifth of each process life (models, caches filling)
FLAT_MB = 25.0  # growth over the run below this (or 5 % of the resident set) counts as flat


def latency(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    pick = percentile  # nearest rank, as the bot's own SLO window
    return {"n": len(ordered), "p50": _r(pick(ordered, 50)), "p95": _r(pick(ordered, 95)),
            "p99": _r(pick(ordered, 99)), "max": _r(ordered[-1] if ordered else None)}


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


MATCH_SLACK_S = 3.0  # a turn may be recorded a little after its first reply (an order summary comes mid-turn)


def match_sources(probes: list[Probe], events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each answered chat/voice probe → the agent_events row of its turn (by id(probe)).

    The row is the user's first one recorded after the probe was sent and before the user's
    next message (at most MATCH_SLACK_S after the reply): customers send one message at a time.
    """
    events_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        events_of[event["user_id"]].append(event)
    probes_of: dict[int, list[Probe]] = defaultdict(list)
    for probe in sorted(probes, key=lambda p: p.sent_wall):
        probes_of[probe.customer].append(probe)
    matched: dict[int, dict[str, Any]] = {}
    used: set[int] = set()
    for user, own in probes_of.items():
        for n, probe in enumerate(own):
            if probe.category not in ("chat", "voice") or probe.answer_ms is None:
                continue
            until = probe.sent_wall + probe.answer_ms / 1000 + MATCH_SLACK_S
            if n + 1 < len(own):
                until = min(until, own[n + 1].sent_wall)
            for event in events_of.get(user, []):
                if id(event) not in used and probe.sent_wall - 0.01 <= event["created_at"] <= until:
                    used.add(id(event))
                    matched[id(probe)] = event
                    break
    return matched


def path_of(event: dict[str, Any] | None) -> str:
    """The answer path of a turn: its source, with model turns that called tools apart (two completions)."""
    if event is None:
        return "no agent turn"
    return "llm with tools" if event["source"] == "llm" and event["tool_calls"] else event["source"]


def phase_of(probe: Probe, t0: float, marks: dict[str, float]) -> str:
    start, end = marks.get("fault_start"), marks.get("fault_end")
    if start is None:
        return "all"
    at = probe.sent - t0
    return "before" if at < start else ("during" if end is None or at < end else "after")


def memory(data: RunData) -> dict[str, Any]:
    lives: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for sample in data.samples:
        lives[sample.pid].append((sample.at, sample.rss_mb))
    out: list[dict[str, Any]] = []
    for pid, points in lives.items():
        steady = points[int(len(points) * WARMUP_SHARE):]
        slope = _slope(steady)  # MB per second
        span = (steady[-1][0] - steady[0][0]) if len(steady) > 1 else 0.0
        growth = slope * span if slope is not None else None
        start_rss = steady[0][1] if steady else None
        flat = growth is not None and start_rss is not None and growth < max(FLAT_MB, 0.05 * start_rss)
        out.append({"pid": pid, "samples": len(points), "start_mb": _r(points[0][1]), "after_warmup_mb": _r(start_rss),
                    "peak_mb": _r(max(p[1] for p in points)), "end_mb": _r(points[-1][1]),
                    "trend_mb_per_min": _r(slope * 60 if slope is not None else None, 2),
                    "growth_mb": _r(growth), "flat": flat})
    return {"peak_mb": max((life["peak_mb"] for life in out), default=None),
            "flat": all(life["flat"] for life in out) if out else None, "lives": out}


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t, mb)."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(p[0] for p in points) / n
    mean_v = sum(p[1] for p in points) / n
    var = sum((p[0] - mean_t) ** 2 for p in points)
    if var == 0:
        return None
    return sum((p[0] - mean_t) * (p[1] - mean_v) for p in points) / var


def redis_hits(data: RunData) -> dict[str, Any]:
    hits = misses = activations = 0
    by_namespace: dict[str, list[int]] = {}
    for life in data.lives:
        tiers = ((life["scrapes"].get("cache") or {}).get("stats") or {}).get("tiers") or {}
        redis = tiers.get("redis") or {}
        hits += int(redis.get("hits") or 0)
        misses += int(redis.get("misses") or 0)
        for name, counts in (redis.get("namespaces") or {}).items():
            totals = by_namespace.setdefault(name, [0, 0])
            totals[0] += int(counts.get("hits") or 0)
            totals[1] += int(counts.get("misses") or 0)
        fallback = ((life["scrapes"].get("cache") or {}).get("stats") or {}).get("fallback") or {}
        activations += int(fallback.get("activations") or 0)
    namespaces = {name: {"hits": h, "misses": m, "hit_rate": _rate(h, h + m)}
                  for name, (h, m) in sorted(by_namespace.items())}
    return {"hits": hits, "misses": misses, "hit_rate": _rate(hits, hits + misses),
            "fallback_activations": activations, "namespaces": namespaces}


def probe_rows(data: RunData) -> list[dict[str, Any]]:
    """Every probe with the bot's own record of its turn: the raw material behind the figures."""
    probes = data.recorder.probes
    t0 = min((p.sent for p in probes), default=0.0)
    matched = match_sources(probes, data.db.get("agent_events", []))
    rows = []
    for p in probes:
        event = matched.get(id(p))
        rows.append({"at_s": _r(p.sent - t0, 3), "customer": p.customer, "category": p.category, "kind": p.kind,
                     "first_reply_ms": _r(p.first_reply_ms), "answer_ms": _r(p.answer_ms), "refused": p.refused,
                     "reply": p.reply[:80], "source": path_of(event) if event else None,
                     "agent_ms": event["latency_ms"] if event else None,
                     "error_class": event["error_class"] if event else None})
    return rows


def figures(data: RunData) -> dict[str, Any]:
    rec = data.recorder
    probes = rec.probes
    t0 = min((p.sent for p in probes), default=0.0)
    matched = match_sources(probes, data.db.get("agent_events", []))

    sent = len(probes)
    unanswered = [p for p in probes if not p.answered]
    by_category: dict[str, dict[str, Any]] = {}
    for category in sorted({p.category for p in probes}):
        group = [p for p in probes if p.category == category]
        missing = sum(1 for p in group if not p.answered)
        by_category[category] = {"sent": len(group), "unanswered": missing, "error_rate": _rate(missing, len(group))}
    bad_kinds = Counter(p.kind for p in probes if p.category == "bad")
    bad_missing = Counter(p.kind for p in probes if p.category == "bad" and not p.answered)

    chat = [p for p in probes if p.category == "chat" and p.answer_ms is not None]
    by_source: dict[str, list[float]] = defaultdict(list)
    for p in chat:
        by_source[path_of(matched.get(id(p)))].append(p.answer_ms or 0.0)

    phases: dict[str, Any] = {}
    if "fault_start" in data.marks:
        for phase in ("before", "during", "after"):
            group = [p for p in probes if phase_of(p, t0, data.marks) == phase]
            chat_group = [p.answer_ms for p in group if p.category == "chat" and p.answer_ms is not None]
            missing = sum(1 for p in group if not p.answered)
            turns = [matched[id(p)] for p in group if id(p) in matched]
            degraded = sum(1 for e in turns if e["error_class"])
            phases[phase] = {"messages": len(group), "unanswered": missing, "error_rate": _rate(missing, len(group)),
                             "chat_latency_ms": latency(chat_group), "agent_turns": len(turns),
                             "degraded_turns": degraded, "degraded_rate": _rate(degraded, len(turns))}

    agent_probes = [p for p in probes if p.category in ("chat", "voice")]
    sources = Counter(matched[id(p)]["source"] for p in agent_probes if id(p) in matched)
    turns = sum(sources.values())
    error_classes = Counter(matched[id(p)]["error_class"] for p in agent_probes
                            if id(p) in matched and matched[id(p)]["error_class"])

    def hit_share(kind: str) -> dict[str, Any]:
        group = [matched[id(p)]["source"] for p in probes if p.kind == kind and id(p) in matched]
        counts = Counter(group)
        reached = len(group) - counts.get("cache", 0)
        return {"turns": len(group), "exact": _rate(counts.get("cache", 0), len(group)),
                "semantic": _rate(counts.get("semantic", 0), len(group)),
                "semantic_after_exact": _rate(counts.get("semantic", 0), reached)}

    frequent_kinds = [matched[id(p)]["source"] for p in probes if p.kind in ("frequent", "paraphrase")
                      and id(p) in matched]
    frequent_counts = Counter(frequent_kinds)
    frequent_reached = len(frequent_kinds) - frequent_counts.get("cache", 0)

    orders_db = data.db.get("orders", [])
    db_numbers = {f"#{o['day_seq']:03d}" for o in orders_db}
    placed = set(rec.placed)
    outbox = data.db.get("outbox", {})
    answered_count = sum(1 for p in probes if p.answered)
    run_s = data.duration_s or 1.0

    result: dict[str, Any] = {
        "scenario": data.scenario.name,
        "title": data.scenario.title,
        "customers": data.options.customers,
        "minutes": data.options.minutes,
        "seed": data.options.seed,
        "duration_s": data.duration_s,
        "load_average": list(data.load_average),
        "marks": data.marks,
        "messages": {"sent": sent, "answered": answered_count, "unanswered": len(unanswered),
                     "error_rate": _rate(len(unanswered), sent),
                     "refused_politely": sum(1 for p in probes if p.refused),
                     "throttled_flood": sum(1 for p in probes if p.throttled),
                     "by_category": by_category,
                     "bad_input": {k: {"sent": n, "unanswered": bad_missing.get(k, 0)} for k, n in bad_kinds.items()}},
        "latency_ms": {
            "chat": latency([p.answer_ms for p in chat if p.answer_ms is not None]),
            "chat_by_source": {s: latency(v) for s, v in sorted(by_source.items())},
            "voice_answer": latency([p.answer_ms for p in probes if p.category == "voice" and p.answer_ms is not None]),
            "voice_transcript": latency([p.first_reply_ms for p in probes if p.category == "voice"
                                         and p.first_reply_ms is not None]),
            "button": latency([p.answer_ms for p in probes if p.category == "button" and p.answer_ms is not None]),
            "bad_input_reply": latency([p.first_reply_ms for p in probes if p.category == "bad"
                                        and p.first_reply_ms is not None]),
            "command": latency([p.answer_ms for p in probes if p.category == "command" and p.answer_ms is not None]),
        },
        "phases": phases,
        "throughput": {"answered_per_s": _r(answered_count / run_s, 2), "agent_turns_per_s": _r(turns / run_s, 2),
                       "agent_turns": turns, "model_completions": data.model.get("completions")},
        "cache": {
            "sources": dict(sources),
            "exact_hit_rate": _rate(sources.get("cache", 0), turns),
            "semantic_hit_rate": _rate(sources.get("semantic", 0), turns),
            "semantic_hit_rate_after_exact": _rate(sources.get("semantic", 0), turns - sources.get("cache", 0)),
            "frequent_questions": {"turns": len(frequent_kinds),
                                   "exact": _rate(frequent_counts.get("cache", 0), len(frequent_kinds)),
                                   "semantic_after_exact": _rate(frequent_counts.get("semantic", 0),
                                                                 frequent_reached)},
            "usual_words": hit_share("frequent"),
            "paraphrases": hit_share("paraphrase"),
            "redis": redis_hits(data),
        },
        "model_errors": dict(error_classes),
        "memory_mb": memory(data),
        "orders": {
            "flows": dict(sorted(rec.flows.items())),
            "placed_told_customer": len(placed),
            "in_database": len(orders_db),
            "placed_missing_from_database": sorted(placed - db_numbers),
            "staff_cards_delivered": len(set(data.staff_cards) & db_numbers),
            "database_orders_without_staff_card": sorted(db_numbers - set(data.staff_cards)),
            "staff_card_delay_ms": latency([(data.staff_cards[n] - at) * 1000 for n, at in rec.placed.items()
                                            if n in data.staff_cards]),
            "per_minute": round(len(placed) / (data.duration_s / 60), 1) if data.duration_s else None,
            # Telegram lets a bot send ~20 messages a minute to one group (the outbox keeps to it):
            # the least time the staff chat's messages and edits of this run could take
            "staff_chat_calls": data.telegram.get("staff_messages", 0) + data.telegram.get("staff_edits", 0),
            "drain_after_run_s": data.drain_s,
            "outbox": outbox,
            "double_confirm_presses": rec.double_confirms,
            "staff_accept_presses": rec.staff_presses,
            "customer_accept_notices": data.customer_notices,
        },
        "bot": {"lives": [{k: v for k, v in life.items() if k != "scrapes"} for life in data.lives]},
        "model": data.model,
        "telegram": data.telegram,
        "harness": {"loop_lag_ms": latency(data.loop_lag_ms)},
        "unanswered_examples": [{"category": p.category, "kind": p.kind, "at_s": _r(p.sent - t0),
                                 "customer": p.customer} for p in unanswered[:15]],
    }
    result["targets"] = targets(result)
    return result


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    chat_p95 = r["latency_ms"]["chat"]["p95"]
    out = [
        _target("chat p95 < 1500 ms (with cache)", chat_p95, chat_p95 is not None and chat_p95 < CHAT_P95_TARGET_MS,
                "ms"),
        _target("error rate < 2 %", r["messages"]["error_rate"],
                r["messages"]["error_rate"] is not None and r["messages"]["error_rate"] < ERROR_RATE_TARGET, "%"),
    ]
    during = r["phases"].get("during")
    if during:
        p95 = during["chat_latency_ms"]["p95"]
        out.append(_target("during the fault: chat p95 < 1500 ms", p95, p95 is not None and p95 < CHAT_P95_TARGET_MS,
                           "ms"))
        out.append(_target("during the fault: error rate < 2 %", during["error_rate"],
                           during["error_rate"] is not None and during["error_rate"] < ERROR_RATE_TARGET, "%"))
    orders = r["orders"]
    # Lost: told "placed" but not in the database, in the database without a staff card, or given up
    # by the outbox. Still queued after the drain is late, not lost (the outbox keeps retrying).
    lost = (len(orders["placed_missing_from_database"]) + len(orders["database_orders_without_staff_card"])
            + int(orders["outbox"].get("failed", 0)))
    out.append(_target("no order or staff notification lost", lost, lost == 0, "lost"))
    out.append(_target("memory flat", r["memory_mb"]["lives"][-1]["growth_mb"] if r["memory_mb"]["lives"] else None,
                       bool(r["memory_mb"]["flat"]), "MB"))
    redis = r["cache"]["redis"]["hit_rate"]
    out.append(_target("Redis hit rate > 80 %", redis, redis is not None and redis > REDIS_HIT_TARGET, "%"))
    semantic = r["cache"]["frequent_questions"]["semantic_after_exact"]
    out.append(_target("semantic hit rate > 25 % on frequent questions", semantic,
                       semantic is not None and semantic > SEMANTIC_HIT_TARGET, "%"))
    return out


def _target(name: str, value: Any, met: bool, unit: str) -> dict[str, Any]:
    return {"target": name, "value": value, "unit": unit, "met": met}


# --- markdown -----------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _show(t: dict[str, Any]) -> str:
    value = t["value"]
    if t["unit"] == "%":
        return _pct(value)
    if t["unit"] == "ms":
        return f"{_ms(value)} ms"
    return "–" if value is None else f"{value} {t['unit']}"


def scenario_markdown(r: dict[str, Any]) -> str:
    lat, msgs, cache, orders, mem = r["latency_ms"], r["messages"], r["cache"], r["orders"], r["memory_mb"]
    lines = [
        f"### {r['title']}",
        "",
        f"{r['customers']} customers, {r['duration_s'] / 60:.1f} minutes, seed {r['seed']}, "
        f"load average at the end {' / '.join(f'{x:.1f}' for x in r['load_average'])}"
        + (f", fault from {r['marks']['fault_start']:.0f} s to {r['marks'].get('fault_end', 0):.0f} s"
           if "fault_start" in r["marks"] else "") + ".",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
        *[f"| {t['target']} | {_show(t)} | {'yes' if t['met'] else '**no**'} |" for t in r["targets"]],
        "",
        "| latency (ms) | n | p50 | p95 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [("chat (text to the agent)", lat["chat"])]
    rows += [(f"· chat answered by {source}", v) for source, v in lat["chat_by_source"].items()]
    rows += [("voice note → answer", lat["voice_answer"]), ("voice note → transcript", lat["voice_transcript"]),
             ("button press", lat["button"]), ("command", lat["command"]),
             ("bad input → reply", lat["bad_input_reply"])]
    lines += [f"| {name} | {v['n']} | {_ms(v['p50'])} | {_ms(v['p95'])} | {_ms(v['p99'])} | {_ms(v['max'])} |"
              for name, v in rows if v["n"]]
    if r["phases"]:
        lines += ["", "| phase | messages | unanswered | error rate | chat p50 | chat p95 | chat p99 | "
                      "turns without the model (error class set) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for phase, v in r["phases"].items():
            c = v["chat_latency_ms"]
            lines.append(f"| {phase} | {v['messages']} | {v['unanswered']} | {_pct(v['error_rate'])} | "
                         f"{_ms(c['p50'])} | {_ms(c['p95'])} | {_ms(c['p99'])} | "
                         f"{v['degraded_turns']} of {v['agent_turns']} ({_pct(v['degraded_rate'])}) |")
    categories = ", ".join(f"{k} {v['sent']} ({v['unanswered']} unanswered)" for k, v in msgs["by_category"].items())
    redis = cache["redis"]
    lines += [
        "",
        f"- Messages: {msgs['sent']} sent, {msgs['answered']} answered, {msgs['unanswered']} unanswered "
        f"({_pct(msgs['error_rate'])}), {msgs['refused_politely']} polite refusals, "
        f"{msgs.get('throttled_flood', 0)} flood messages ignored after the burst's one \"please wait\"; "
        f"{categories}.",
        f"- Throughput: {r['throughput']['answered_per_s']} answered messages/s, "
        f"{r['throughput']['agent_turns_per_s']} agent turns/s, {r['throughput']['model_completions']} model "
        f"completions.",
        f"- Answer sources: {', '.join(f'{k} {v}' for k, v in sorted(cache['sources'].items()))}; exact hit rate "
        f"{_pct(cache['exact_hit_rate'])}, semantic {_pct(cache['semantic_hit_rate'])} of all turns "
        f"({_pct(cache['semantic_hit_rate_after_exact'])} of those the exact cache missed); frequent questions: "
        f"exact {_pct(cache['frequent_questions']['exact'])}, semantic "
        f"{_pct(cache['frequent_questions']['semantic_after_exact'])} of the rest; paraphrases: semantic "
        f"{_pct(cache['paraphrases']['semantic'])}.",
        f"- Redis hit rate (bot's /api/cache): {_pct(redis['hit_rate'])} ({redis['hits']} hits, {redis['misses']} "
        f"misses; by namespace: "
        + (", ".join(f"{name} {_pct(v['hit_rate'])} of {v['hits'] + v['misses']}"
                     for name, v in redis.get("namespaces", {}).items()) or "not reported")
        + f"), fallback activations {redis['fallback_activations']}.",
        f"- Memory (RSS of the bot): peak {mem['peak_mb']} MB; "
        + "; ".join(f"life {i + 1}: {life['after_warmup_mb']} → {life['end_mb']} MB, trend "
                    f"{life['trend_mb_per_min']} MB/min" for i, life in enumerate(mem["lives"])) + ".",
        f"- Orders: {orders['placed_told_customer']} placed ({orders.get('per_minute')} a minute; customers told), "
        f"{orders['in_database']} in the "
        f"database, {orders['staff_cards_delivered']} staff cards delivered (delay after the customer's confirmation "
        f"p50 {_ms(orders['staff_card_delay_ms']['p50'])} ms, max {_ms(orders['staff_card_delay_ms']['max'])} ms; "
        f"the last {orders['drain_after_run_s']} s after the customers stopped; {orders.get('staff_chat_calls')} "
        f"staff chat messages and edits need at least {orders.get('staff_chat_calls', 0) / 20:.1f} min at "
        f"Telegram's 20 a minute per group), outbox {orders['outbox']}; "
        f"{orders['staff_accept_presses']} staff accepts → {orders['customer_accept_notices']} customer notices; "
        f"{orders['double_confirm_presses']} repeated Confirm presses; flows {orders['flows']}.",
    ]
    if r["model_errors"]:
        lines.append(f"- Model error classes on answered turns: {r['model_errors']}.")
    bad = ", ".join(f"{k} {v['sent']}/{v['sent'] - v['unanswered']}" for k, v in sorted(msgs["bad_input"].items()))
    if bad:
        lines.append(f"- Bad input (sent/answered): {bad}.")
    lives = r["bot"]["lives"]
    processes = ", ".join(f"ready after {life['ready_after_s']} s, exit {life['exit_code']} "
                          f"{life['stopped_after_s']} s after SIGTERM" for life in lives)
    lines.append(f"- Bot process: {processes}; harness loop lag p95 {r['harness']['loop_lag_ms']['p95']} ms.")
    if r["unanswered_examples"]:
        lines.append(f"- Unanswered (first {len(r['unanswered_examples'])}): "
                     + ", ".join(f"{u['category']}/{u['kind']}@{u['at_s']}s" for u in r["unanswered_examples"]) + ".")
    return "\n".join(lines) + "\n"


def summary_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | messages | error rate | chat p50 / p95 / p99 ms | during fault: chat p95, errors | "
        "exact / semantic hits | Redis hits | answers/s | peak RSS, trend | orders placed / in DB / staff cards | "
        "staff card after confirm p50 / max s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        chat, during = r["latency_ms"]["chat"], r["phases"].get("during")
        fault = (f"{_ms(during['chat_latency_ms']['p95'])} ms, {_pct(during['error_rate'])}" if during else "–")
        mem = r["memory_mb"]
        trend = ", ".join(f"{life['trend_mb_per_min']:+.1f} MB/min" for life in mem["lives"]
                          if life["trend_mb_per_min"] is not None)
        o = r["orders"]
        lines.append(
            f"| {r['scenario']} | {r['messages']['sent']} | {_pct(r['messages']['error_rate'])} | "
            f"{_ms(chat['p50'])} / {_ms(chat['p95'])} / {_ms(chat['p99'])} | {fault} | "
            f"{_pct(r['cache']['exact_hit_rate'])} / {_pct(r['cache']['semantic_hit_rate'])} | "
            f"{_pct(r['cache']['redis']['hit_rate'])} | {r['throughput']['answered_per_s']} | "
            f"{mem['peak_mb']} MB, {trend} | {o['placed_told_customer']} / {o['in_database']} / "
            f"{o['staff_cards_delivered']} | {_seconds(o['staff_card_delay_ms']['p50'])} / "
            f"{_seconds(o['staff_card_delay_ms']['max'])} |")
    return "\n".join(lines) + "\n"


def _seconds(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f}"


def write_probes(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write(results_dir: Path, stamp: str, results: list[dict[str, Any]]) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"load-{stamp}.json"
    md_path = results_dir / f"load-{stamp}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    body = ["# Load and fault benchmark", "", summary_markdown(results)]
    body += [scenario_markdown(r) for r in results]
    md_path.write_text("\n".join(body), encoding="utf-8")
    return json_path, md_path

