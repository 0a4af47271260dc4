"""The bot's database as the chaos engine reads it from outside: its SQLite file, or a PostgreSQL database of its
own that each run creates on a server (and drops when the run passed)."""

from __future__ import annotations

import contextlib
import re
import secrets
import sqlite3
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.postgres import to_postgres

Row = tuple[Any, ...]


class BotDatabase(Protocol):
    url: str  # the bot's DATABASE_URL

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """Rows of `sql`, written with `?` placeholders (SQLite's), as tuples."""
        ...

    async def close(self) -> None: ...


class SqliteDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        if not self.path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.path, timeout=10)) as conn:
            return list(conn.execute(sql, params).fetchall())

    async def close(self) -> None:
        pass


class PostgresDatabase:
    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self.name = urlsplit(url).path.lstrip("/")
        self._pool = pool  # the users' drivers and the judge ask at once

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return [tuple(record) for record in await self._pool.fetch(to_postgres(sql)[0], *params)]

    async def close(self) -> None:
        await self._pool.close()


async def create_postgres(server: str, label: str) -> PostgresDatabase:
    """A new empty database on the server at `server` (any database URL there, of a user allowed to create one)."""
    name = "_".join(("chaos", re.sub(r"\W", "_", label), secrets.token_hex(3)))
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    return PostgresDatabase(url, await asyncpg.create_pool(url, min_size=1, max_size=4))


async def drop_postgres(server: str, database: PostgresDatabase) -> None:
    await database.close()
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {database.name} WITH (FORCE)")
    finally:
        await conn.close()
