"""`python -m bot migrate-db --to postgresql://…`: copy an SQLite database, row for row, into an empty PostgreSQL one
migrated to the same version. Ciphertexts are copied as they are: the replicas need the same ENCRYPTION_KEY."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import SqliteDatabase
from storage.postgres import PostgresDatabase

# Copied after every other table: pick_items refers to pick_sessions; the outcome counts replace what the
# PostgreSQL trigger counted while the items went in. Leases belong to running processes, none of which is running.
_LAST = ("pick_sessions", "pick_items", "item_outcome_counts")
_SKIPPED = ("leases", "sqlite_sequence")


class TargetNotEmpty(Exception):
    """The PostgreSQL database already holds a bot's data; the message says so in one line."""


@dataclass(frozen=True)
class Copied:
    tables: dict[str, int]  # table -> rows copied


async def _tables(source: SqliteDatabase) -> list[str]:
    rows = await source.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    names = [row["name"] for row in rows if row["name"] not in _SKIPPED]
    return [name for name in names if name not in _LAST] + [name for name in _LAST if name in names]


async def copy_into(source: SqliteDatabase, target: PostgresDatabase, where: str) -> Copied:
    """Copy every table of `source` into `target` in one transaction (all or nothing); raises TargetNotEmpty when
    `target` holds any link or pick already."""
    tables = await _tables(source)
    copied: dict[str, int] = {}
    async with target.transaction() as tx:
        busy = await tx.fetchone(
            "SELECT (SELECT count(*) FROM google_links) + (SELECT count(*) FROM pick_sessions) AS rows"
        )
        if busy is not None and busy["rows"]:
            raise TargetNotEmpty(
                f"The PostgreSQL database {where} already holds links or picks: migrate-db copies only into an "
                "empty one (create a new database, or drop this one's tables)."
            )
        for table in tables:
            columns = [row["name"] for row in await source.fetchall("SELECT name FROM pragma_table_info(?)", (table,))]
            listed = ", ".join(columns)
            rows = await source.fetchall(f"SELECT {listed} FROM {table}")
            if table == "item_outcome_counts":
                await tx.execute("DELETE FROM item_outcome_counts")
            await tx.executemany(
                f"INSERT INTO {table} ({listed}) VALUES ({', '.join('?' for _ in columns)})",
                [tuple(row[column] for column in columns) for row in rows],
            )
            copied[table] = len(rows)
        # New picks continue the SQLite ids (an identity column does not see explicit ids).
        await tx.execute(
            "SELECT setval(pg_get_serial_sequence('pick_sessions', 'id'),"
            " (SELECT COALESCE(max(id), 0) + 1 FROM pick_sessions), false)"
        )
    return Copied(copied)
