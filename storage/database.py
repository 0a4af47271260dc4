"""The seam the repositories run their SQL through (`Database`), and its SQLite implementation: pragmas,
numbered migrations, file permissions. The PostgreSQL one is `storage/postgres.py`.

The repositories write SQL once, with SQLite's placeholders (`?`, or `:name` with a mapping), in the
dialect both engines share; the PostgreSQL backend rewrites the placeholders to `$n`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from storage.migrations import MIGRATIONS

Params = Sequence[object] | Mapping[str, object]


class Row(Protocol):
    """A result row, read by column name: row["status"] (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Statements(Protocol):
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        ...

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class Database(Statements, Protocol):
    """What the repositories need of a database, whichever engine is behind it."""

    def transaction(self) -> AbstractAsyncContextManager[Statements]:
        """BEGIN…COMMIT around the block; ROLLBACK if anything escapes it, which is then re-raised."""
        ...

    async def ping(self) -> bool: ...

    async def schema_version(self) -> int: ...

    async def notify(self, channel: str) -> None:
        """Tell the other processes on this database (their listen() callbacks) that something changed."""
        ...

    async def listen(self, channel: str, wake: Callable[[], None]) -> None:
        """Call `wake` whenever a process notifies `channel`, until the database is closed."""
        ...

    async def close(self) -> None: ...


class SchemaTooNew(Exception):
    """The database was written by a newer version of the bot; the message says so in one line."""

    def __init__(self, where: str, found: int, known: int) -> None:
        super().__init__(
            f"The database {where} has schema version {found} but this bot only knows up to {known}: "
            "run the newer version of the bot, or restore a backup made for this one."
        )


async def _execute(conn: aiosqlite.Connection, sql: str, params: Params) -> int:
    async with conn.execute(sql, params) as cursor:
        return cursor.rowcount


async def _rollback(conn: aiosqlite.Connection) -> None:
    """ROLLBACK, unless the transaction ended meanwhile: a COMMIT whose caller was cancelled still runs in aiosqlite's
    thread, ahead of this. Its error would replace the cancellation, which a shutdown waits for."""
    try:
        await _execute(conn, "ROLLBACK", ())
    except sqlite3.OperationalError:
        if conn.in_transaction:
            raise


async def _executemany(conn: aiosqlite.Connection, sql: str, seq: Iterable[Params]) -> None:
    await conn.executemany(sql, seq)


# Reads go through execute_fetchall: one trip to aiosqlite's thread instead of three (execute, fetch, close),
# each trip a thread wake-up and a GIL hand-over: a third of the CPU of a poll at 2,000 waiting picks.
async def _fetchone(conn: aiosqlite.Connection, sql: str, params: Params) -> Row | None:
    rows = await conn.execute_fetchall(sql, params)
    return next(iter(rows), None)


async def _fetchall(conn: aiosqlite.Connection, sql: str, params: Params) -> list[Row]:
    return list(await conn.execute_fetchall(sql, params))


class Transaction:
    """The statements of one BEGIN…COMMIT. It holds the database's lock throughout, so no other
    coroutine's statement can slip in between (and be committed or rolled back with it)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn: aiosqlite.Connection | None = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        return await _execute(self._live(), sql, params)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        await _executemany(self._live(), sql, seq)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await _fetchone(self._live(), sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await _fetchall(self._live(), sql, params)

    def end(self) -> None:
        """Called by the database once COMMIT or ROLLBACK ran: any later statement raises."""
        self._conn = None

    def _live(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("the transaction has ended")
        return self._conn


class SqliteDatabase:
    """One aiosqlite connection shared by the repositories. Every statement takes a lock, and a
    transaction holds it from BEGIN to COMMIT: a transaction on a shared connection would otherwise
    take in (and on a rollback lose) whatever other coroutines wrote meanwhile."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._in_transaction: asyncio.Task[object] | None = None

    async def open(self) -> None:
        """Connect and migrate; raises SchemaTooNew (and stays closed) on a newer bot's database."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Create the file ourselves so it is owner-only from the start; SQLite gives the
            # -wal and -shm files the same mode as the database.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        try:
            await self.execute("PRAGMA busy_timeout=5000")
            await self._refuse_newer_schema()  # before anything changes the file
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
                await self.execute(f"PRAGMA {pragma}")
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        async with self._turn() as conn:
            return await _execute(conn, sql, params)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        async with self._turn() as conn:
            await _executemany(conn, sql, seq)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._turn() as conn:
            return await _fetchone(conn, sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._turn() as conn:
            return await _fetchall(conn, sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN…COMMIT around the block; ROLLBACK if anything escapes it, which is then re-raised."""
        async with self._turn() as conn:
            self._in_transaction = asyncio.current_task()
            transaction = Transaction(conn)
            try:
                await _execute(conn, "BEGIN IMMEDIATE", ())
                yield transaction
                await _execute(conn, "COMMIT", ())
            except BaseException:
                if conn.in_transaction:
                    await _rollback(conn)
                raise
            finally:
                transaction.end()
                self._in_transaction = None

    async def ping(self) -> bool:
        try:
            row = await self.fetchone("SELECT 1 AS one")
        except Exception:
            return False
        return row is not None and row["one"] == 1

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row["user_version"]) if row else 0

    async def notify(self, channel: str) -> None:
        """One process uses an SQLite file: there is nobody else to tell."""

    async def listen(self, channel: str, wake: Callable[[], None]) -> None:
        """One process uses an SQLite file: nobody else will notify."""

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, for the caller alone until the block ends."""
        if self._in_transaction is not None and self._in_transaction is asyncio.current_task():
            # The lock is not re-entrant: waiting for it here would wait forever.
            raise RuntimeError("inside a transaction, run statements through the transaction")
        async with self._lock:
            if self._conn is None:
                raise RuntimeError("database is not open")
            yield self._conn

    async def _refuse_newer_schema(self) -> None:
        found = await self.schema_version()
        if found > len(MIGRATIONS):
            raise SchemaTooNew(str(self.path), found, len(MIGRATIONS))

    async def _migrate(self) -> None:
        """Apply every migration newer than the stored user_version, each in its own transaction."""
        current = await self.schema_version()
        for version, script in enumerate(MIGRATIONS, start=1):
            if version > current:
                async with self._turn() as conn:
                    await conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
