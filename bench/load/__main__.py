"""Command line of the load and fault benchmark (see bench/load/__init__.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load.report import figures, probe_rows, scenario_markdown, summary_markdown, write, write_probes
from bench.load.run import Harness, Options
from bench.load.scenarios import SCENARIOS
from bench.load.workload import ACTIONS
from testkit import ROOT

RESULTS_DIR = ROOT / "bench" / "results"


async def run_scenarios(names: list[str], options: Options, results_dir: Path,
                        stamp: str | None = None) -> tuple[list[dict[str, Any]], Path, Path]:
    """Run the scenarios one after another, each with a fresh bot, database, Redis and fakes."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    results: list[dict[str, Any]] = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"load-{name}-") as tmp:
            workdir = Path(tmp)
            print(f"--- {name}: {SCENARIOS[name].title} ({options.customers} customers, {options.minutes:g} min)",
                  flush=True)
            try:
                data = await Harness(SCENARIOS[name], options, workdir).run()
            finally:
                keep_log(workdir / "bot.log", results_dir / f"load-{stamp}-{name}.bot.log")
            result = figures(data)
            write_probes(results_dir / f"load-{stamp}-{name}.probes.jsonl", probe_rows(data))
            results.append(result)
            print(scenario_markdown(result), flush=True)
    json_path, md_path = write(results_dir, stamp, results)
    return results, json_path, md_path


def keep_log(log: Path, to: Path) -> None:
    """The bot's log outlives the scenario's temporary directory (for looking into a shortfall)."""
    if log.exists():
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, to)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--customers", type=int, default=50, help="simulated customers (default 50)")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of each scenario (default 3)")
    parser.add_argument("--scenario", default="baseline", choices=[*SCENARIOS, "all"],
                        help="which fault to inject; 'all' runs every scenario in sequence (default baseline)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--answer-timeout", type=float, default=30.0,
                        help="seconds a customer waits for a reply before counting it as unanswered")
    parser.add_argument("--fault-seconds", type=float, default=None,
                        help="length of the fault (default 60 s, at most a third of the run)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--stamp", default=None, help="names the report files load-STAMP.* (default: the time)")
    parser.add_argument("--first-actions", default="", metavar="A,B,...",
                        help="customer n starts with the n-th of these (cycling), then the usual mix: so a short run "
                             f"exercises every kind of step (one of {', '.join(ACTIONS)})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.minutes <= 0:
        parser.error("--customers and --minutes must be positive")
    first_actions = tuple(a for a in args.first_actions.split(",") if a)
    if unknown := [a for a in first_actions if a not in ACTIONS]:
        parser.error(f"--first-actions: unknown {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    options = Options(args.customers, args.minutes, args.seed, args.answer_timeout, args.fault_seconds, first_actions)
    results, json_path, md_path = asyncio.run(run_scenarios(names, options, args.results_dir, args.stamp))
    print(summary_markdown(results))
    print(f"report: {md_path}\n        {json_path}")
    missed = [f"{r['scenario']}: {t['target']}" for r in results for t in r["targets"] if not t["met"]]
    if missed:
        print("targets not met:\n  " + "\n  ".join(missed))
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
