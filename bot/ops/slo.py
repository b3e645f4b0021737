"""The runbook's SLO targets, measured and judged.

One evaluation serves both places an operator looks: `GET /api/slo` (live, from this
process's metrics) and `python main.py slo` (the live endpoint when the bot runs, else the
`agent_events` table and Redis' own counters). Both print the same report.

"No data" is not "met": a target with nothing measured says so and does not fail the
check; a target measured and missed does (exit code 1 of the command).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

WINDOW_NOTE = "5-minute window"


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    title: str  # the runbook's words
    op: Literal["<", ">"]
    threshold: float
    unit: Literal["ms", "ratio"]

    def met_by(self, value: float) -> bool:
        return value < self.threshold if self.op == "<" else value > self.threshold

    def format(self, value: float | None) -> str:
        if value is None:
            return "no data"
        return f"{value:.0f} ms" if self.unit == "ms" else f"{value * 100:.1f}%"


TARGETS: tuple[Target, ...] = (
    Target("chat_p95_ms", "Chat p95 < 1500 ms with cache (5-minute window)", "<", 1500.0, "ms"),
    Target("error_rate", "Error rate < 2% (5-minute window)", "<", 0.02, "ratio"),
    Target("redis_hit_rate", "Redis hit rate > 80%", ">", 0.80, "ratio"),
    Target("semantic_hit_rate", "Semantic cache hit rate > 25% on frequent queries", ">", 0.25, "ratio"),
)


@dataclass(frozen=True, slots=True)
class Measurement:
    value: float | None
    samples: int  # turns, cache lookups, ... the value was computed from
    basis: str  # what exactly was measured, in an operator's words


def evaluate(measurements: Mapping[str, Measurement], source: str, **context: Any) -> dict[str, Any]:
    """The report: each target with its measured value and met (true / false / null for no data)."""
    rows = []
    for target in TARGETS:
        m = measurements.get(target.key) or Measurement(None, 0, "not measured")
        met = None if m.value is None else target.met_by(m.value)
        rows.append({
            "key": target.key, "target": target.title, "op": target.op, "threshold": target.threshold,
            "unit": target.unit, "value": None if m.value is None else round(m.value, 4 if target.unit == "ratio"
                                                                              else 1),
            "display": target.format(m.value), "samples": m.samples, "basis": m.basis, "met": met,
        })
    verdicts = [r["met"] for r in rows if r["met"] is not None]
    return {"source": source, **context, "all_met": all(verdicts) if verdicts else None, "targets": rows}


def exit_code(report: Mapping[str, Any]) -> int:
    """0 when no measured target is missed, 1 otherwise (for cron jobs and alerting)."""
    return 1 if any(r["met"] is False for r in report["targets"]) else 0


def render_text(report: Mapping[str, Any]) -> str:
    head = f"SLO report ({report['source']}"
    if report.get("window"):
        head += f", {report['window']}"
    lines = [head + ")"]
    if report.get("fleet_note"):
        lines.append(("Fleet: " if report.get("scope") == "fleet" else "NOT the fleet's figures: ")
                     + report["fleet_note"])
    width = max(len(r["target"]) for r in report["targets"])
    for r in report["targets"]:
        verdict = {True: "met", False: "NOT MET", None: "no data"}[r["met"]]
        measured = r["display"] + (f" (n={r['samples']})" if r["value"] is not None else "")
        lines.append(f"  {r['target']:<{width}}  {measured:<20}  {verdict}")
        lines.append(f"  {'':<{width}}  ↳ {r['basis']}")
    if len(report.get("replicas") or ()) > 1:
        lines += ["Per replica:", *replica_table(report)]
    return "\n".join(lines)


def replica_table(report: Mapping[str, Any]) -> list[str]:
    """The per-replica lines of the text report (empty for a report without them)."""
    rows = report.get("replicas") or []
    if not rows:
        return []
    keys = [t["key"] for t in report["targets"]]
    headers = {"chat_p95_ms": "p95", "error_rate": "errors", "redis_hit_rate": "redis hits",
               "semantic_hit_rate": "semantic hits"}
    width = max(7, *(len(r["replica"]) for r in rows))
    head = f"  {'replica':<{width}}  {'turns':>6}  " + "  ".join(f"{headers.get(k, k):>13}" for k in keys) + "  age"
    lines = [head]
    for r in rows:
        cells = "  ".join(f"{_cell(r['targets'].get(k)):>13}" for k in keys)
        lines.append(f"  {r['replica']:<{width}}  {r['turns']:>6}  {cells}  {r['age_s']:g} s")
    return lines


def _cell(target: Mapping[str, Any] | None) -> str:
    if target is None or target["value"] is None:
        return "—"
    mark = "" if target["met"] is not False else " ✗"
    return f"{target['display']}{mark}"

