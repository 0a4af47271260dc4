"""Shared unit-test fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.database import Database, SqliteDatabase
from storage.picks import PickRepository, PickSession, Route
from storage.postgres import PostgresDatabase
from tests.postgres import PostgresCluster


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database of each kind, closed even when the test fails (an open one keeps pytest from exiting)."""
    database: SqliteDatabase | PostgresDatabase
    if request.param == "sqlite":
        database = SqliteDatabase(tmp_path / "bot.sqlite3")
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        database = PostgresDatabase(await cluster.create_database())
    await database.open()
    yield database
    await database.close()


async def waiting_session(picks: PickRepository, ends: float) -> PickSession:
    """A waiting pick of user 1 in their private chat, ending at `ends`."""
    return await picks.create_session(
        google_session_id="g",
        user_id=1,
        route=Route(1, 1, 1, 1),
        picker_uri="u",
        delivery_mode="photos",
        poll_interval=5,
        poll_deadline=ends,
        expire_time=ends,
        holder="test",
        lease_seconds=30,
    )
