"""Copy a SQLite database's rows into an empty PostgreSQL database: `python main.py migrate-to-postgres`.

A cafe that starts on the embedded SQLite file and later moves to PostgreSQL (several replicas,
a database server it already backs up) keeps its orders, dialogs, cached answers and settings.
The target gets the schema from the bot's own migrations (the same ones a start applies), then
every table of the source is copied in one transaction, parents before children (the foreign
keys as SQLite declares them), so the target holds everything or nothing. The identity
sequences are moved past the copied ids (the next order gets the next id, not a duplicate
key), and the row counts of both sides are compared and reported.

Idempotent by refusal: a target where any of the bot's tables holds a row is left untouched
(a second run, or a target a bot already started on), so nothing is ever copied twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from storage.db import Database, Transaction

BATCH_ROWS = 1000
SKIPPED_TABLES = frozenset({"schema_migrations"})  # each side records its own migrations


class TransferRefused(Exception):
    """The target is not what a copy may write to (not PostgreSQL, not empty, a table or column missing)."""


@dataclass
class TableCount:
    table: str
    source: int
    copied: int = 0
    target: int = 0

    @property
    def ok(self) -> bool:
        return self.source == self.copied == self.target


@dataclass
class TransferReport:
    source: str
    target: str
    tables: list[TableCount] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)  # "table.column" -> the next value it gives
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "ok": self.ok, "seconds": round(self.seconds, 2),
                "tables": [{"table": t.table, "source": t.source, "copied": t.copied, "target": t.target,
                            "ok": t.ok} for t in self.tables],
                "sequences": self.sequences}


async def source_tables(source: Database) -> list[str]:
    """The SQLite source's tables in dependency order: every table after the tables its foreign keys name."""
    names = [r["name"] for r in await source.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    names = [n for n in names if n not in SKIPPED_TABLES]
    parents = {n: {r["table"] for r in await source.fetchall(f'PRAGMA foreign_key_list("{n}")')} - {n}
               for n in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise TransferRefused(f"circular foreign keys among {sorted(set(names) - set(ordered))}")
        ordered.extend(ready)  # alphabetical within a level: the same order every run
    return ordered


async def _source_columns(source: Database, table: str) -> list[str]:
    return [r["name"] for r in await source.fetchall(f'PRAGMA table_info("{table}")')]


async def _target_columns(target: Database, table: str) -> dict[str, str]:
    """Column name -> PostgreSQL data type, in the target's current schema."""
    rows = await target.fetchall(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
    return {r["column_name"]: r["data_type"] for r in rows}


def _converter(data_type: str) -> Callable[[Any], Any]:
    """SQLite stores by value, not by column: make each value what the PostgreSQL column takes."""
    if data_type in ("bigint", "integer", "smallint"):
        return int
    if data_type in ("double precision", "real", "numeric"):
        return float
    if data_type == "text":
        return lambda v: v if isinstance(v, str) else str(v)
    if data_type == "bytea":
        return lambda v: v if isinstance(v, bytes) else bytes(v)
    return lambda v: v


async def non_empty_tables(target: Database, tables: list[str]) -> list[str]:
    out = []
    for table in tables:
        if await target.table_exists(table) and await target.fetchval(f'SELECT 1 FROM "{table}" LIMIT 1') is not None:
            out.append(table)
    return out


async def copy_to_postgres(source: Database, target: Database, *, batch_rows: int = BATCH_ROWS,
                           progress: Callable[[str, int], None] | None = None) -> TransferReport:
    """Copy every table of `source` (SQLite, migrated) into `target` (PostgreSQL, opened, not yet migrated).

    Refuses (TransferRefused, target unchanged) unless the target is PostgreSQL and empty.
    """
    started = time.perf_counter()
    if source.dialect != "sqlite" or target.dialect != "postgresql":
        raise TransferRefused(f"copies from SQLite to PostgreSQL, not from {source.dialect} to {target.dialect}")
    tables = await source_tables(source)
    busy = await non_empty_tables(target, tables)
    if busy:
        raise TransferRefused(f"the target is not empty: {', '.join(busy)} already hold rows; "
                              "copy into a new, empty database (nothing was written)")
    await target.migrate()  # the schema the bot itself would create
    report = TransferReport(source.describe(), target.describe())
    plan: list[tuple[str, list[str], list[Callable[[Any], Any]]]] = []
    for table in tables:
        columns = await _source_columns(source, table)
        target_columns = await _target_columns(target, table)
        if not target_columns:
            raise TransferRefused(f"the target has no table {table}: is the bot's code older than the database?")
        missing = [c for c in columns if c not in target_columns]
        if missing:
            raise TransferRefused(f"the target's {table} lacks the columns {', '.join(missing)}")
        plan.append((table, columns, [_converter(target_columns[c]) for c in columns]))
        report.tables.append(TableCount(table, int(await source.fetchval(f'SELECT COUNT(*) FROM "{table}"'))))

    async with target.transaction() as tx:
        for (table, columns, converters), count in zip(plan, report.tables, strict=True):
            names = ", ".join(f'"{c}"' for c in columns)
            insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
            last = None
            while True:  # keyset pages over SQLite's rowid: memory stays at one page whatever the table's size
                page = await source.fetchall(
                    f'SELECT rowid AS "__rowid", {names} FROM "{table}" '
                    + ("" if last is None else "WHERE rowid > ? ") + "ORDER BY rowid LIMIT ?",
                    (batch_rows,) if last is None else (last, batch_rows))
                if not page:
                    break
                last = page[-1]["__rowid"]
                pairs = list(zip(columns, converters, strict=True))
                await tx.executemany(insert, [[None if row[c] is None else convert(row[c]) for c, convert in pairs]
                                              for row in page])
                count.copied += len(page)
                if progress is not None:
                    progress(table, count.copied)
        for table, column in await _identity_columns(tx):
            next_value = int(await tx.fetchval(
                f'SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX("{column}"), 0) + 1, false) '
                f'FROM "{table}"', (table, column)))
            report.sequences[f"{table}.{column}"] = next_value
    for count in report.tables:
        count.target = int(await target.fetchval(f'SELECT COUNT(*) FROM "{count.table}"'))
    report.seconds = time.perf_counter() - started
    return report


async def _identity_columns(tx: Transaction) -> list[tuple[str, str]]:
    rows = await tx.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND (is_identity = 'YES' OR column_default LIKE 'nextval(%') ORDER BY table_name, column_name")
    return [(r["table_name"], r["column_name"]) for r in rows]
