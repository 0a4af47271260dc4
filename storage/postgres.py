"""The PostgreSQL implementation of the `Database` seam: an asyncpg pool shared by the repositories, and the
migrations, run once under an advisory lock by whichever replica gets there first."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from collections.abc import Mapping as MappingABC
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit

import asyncpg

from storage.database import Params, Row, SchemaTooNew
from storage.migrations import POSTGRES_MIGRATIONS

# pg_advisory_xact_lock takes any bigint: this one is "photos" in ASCII, held while migrating.
MIGRATION_LOCK = 0x70686F746F73
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
POOL_SIZE = 10  # deliveries, the poller, the web server and the leases share these connections

# What the repositories' SQLite placeholders become: `?` in order, `:name` by name (a name used twice is the
# same $n). Quoted text, quoted identifiers, comments and `::` casts are left alone.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|::|\?|:([A-Za-z_]\w*)")


@lru_cache(maxsize=512)
def to_postgres(sql: str) -> tuple[str, tuple[str, ...]]:
    """The statement with $n placeholders, and for a `:name` statement the name each $n stands for.

    Written here rather than taken from a library: asyncpg takes only $n, and the one rewrite needed is this small.
    """
    names: list[str] = []
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        token, name = match.group(0), match.group(1)
        if token == "?":
            positional += 1
            return f"${positional}"
        if name is None:  # a literal, a comment or a cast
            return token
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    converted = _TOKENS.sub(replace, sql)
    if positional and names:
        raise ValueError("a statement mixes ? and :name placeholders")
    return converted, tuple(names)


def _arguments(names: tuple[str, ...], params: Params) -> Sequence[object]:
    if isinstance(params, MappingABC):
        return [params[name] for name in names]
    return params


def _changed(status: str) -> int:
    """Rows changed, from asyncpg's command tag: "UPDATE 3", "INSERT 0 1", "DELETE 0"; 0 for "CREATE TABLE"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _execute(conn: Connection, sql: str, params: Params) -> int:
    query, names = to_postgres(sql)
    return _changed(await conn.execute(query, *_arguments(names, params)))


async def _executemany(conn: Connection, sql: str, seq: Iterable[Params]) -> None:
    query, names = to_postgres(sql)
    await conn.executemany(query, [_arguments(names, params) for params in seq])


async def _fetchone(conn: Connection, sql: str, params: Params) -> Row | None:
    query, names = to_postgres(sql)
    row: Row | None = await conn.fetchrow(query, *_arguments(names, params))
    return row


async def _fetchall(conn: Connection, sql: str, params: Params) -> list[Row]:
    query, names = to_postgres(sql)
    return list(await conn.fetch(query, *_arguments(names, params)))


class PostgresTransaction:
    """The statements of one transaction, on the connection it holds."""

    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await _execute(self._live(), sql, params)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        await _executemany(self._live(), sql, seq)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await _fetchone(self._live(), sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await _fetchall(self._live(), sql, params)

    def end(self) -> None:
        self._conn = None

    def _live(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the transaction has ended")
        return self._conn


def describe(url: str) -> str:
    """host:port/dbname, for messages: never the user or the password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname}{port}{parts.path}"


class PostgresDatabase:
    """A pool of asyncpg connections. Each statement outside a transaction runs on whichever connection is free;
    a transaction keeps one connection from BEGIN to COMMIT."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None  # LISTEN needs a connection of its own, kept open
        self._in_transaction: set[asyncio.Task[object]] = set()

    async def open(self) -> None:
        """Connect and migrate; raises SchemaTooNew (and stays closed) on a newer bot's database."""
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=POOL_SIZE)
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._connection() as conn:
            return await _execute(conn, sql, params)

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        async with self._connection() as conn, conn.transaction():  # all or none, as SQLite's executemany
            await _executemany(conn, sql, seq)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._connection() as conn:
            return await _fetchone(conn, sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._connection() as conn:
            return await _fetchall(conn, sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        async with self._connection() as conn:
            task = asyncio.current_task()
            assert task is not None
            self._in_transaction.add(task)
            transaction = PostgresTransaction(conn)
            try:
                async with conn.transaction():
                    yield transaction
            finally:
                transaction.end()
                self._in_transaction.discard(task)

    async def ping(self) -> bool:
        try:
            row = await self.fetchone("SELECT 1 AS one")
        except Exception:
            return False
        return row is not None and row["one"] == 1

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT version FROM bot_schema")
        return int(row["version"]) if row else 0

    async def notify(self, channel: str) -> None:
        await self.execute("SELECT pg_notify(?, '')", (channel,))

    async def listen(self, channel: str, wake: Callable[[], None]) -> None:
        if self._listener is None:
            self._listener = await asyncpg.connect(self.url)
        await self._listener.add_listener(channel, lambda *_: wake())

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if asyncio.current_task() in self._in_transaction:
            # Another connection would wait for the rows this transaction holds: run it through the transaction.
            raise RuntimeError("inside a transaction, run statements through the transaction")
        if self._pool is None:
            raise RuntimeError("database is not open")
        async with self._pool.acquire() as conn:
            yield conn

    async def _migrate(self) -> None:
        """Every migration newer than the stored version, in one transaction holding an advisory lock: replicas
        starting together wait for the first, then find nothing left to do."""
        known = POSTGRES_MIGRATIONS[-1][0]
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS bot_schema (version integer NOT NULL)")
            found = await conn.fetchval("SELECT version FROM bot_schema") or 0
            if found > known:
                raise SchemaTooNew(describe(self.url), found, known)
            for version, script in POSTGRES_MIGRATIONS:
                if version > found:
                    await conn.execute(script)
            if found < known:
                await conn.execute("DELETE FROM bot_schema")
                await conn.execute("INSERT INTO bot_schema (version) VALUES ($1)", known)
