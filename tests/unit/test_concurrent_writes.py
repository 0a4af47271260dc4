"""Several deliveries write through the one shared connection at once (found by the chaos suite), and a
transaction on it is all or nothing for its own statements alone. On PostgreSQL each transaction has a connection
of its own, and the same holds."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from storage import database
from storage.database import Database, Params, SqliteDatabase
from storage.picks import PickItem, PickRepository, Route
from tests.unit.conftest import waiting_session


class Abandoned(Exception):
    pass


async def settings(db: Database) -> dict[int, str]:
    rows = await db.fetchall("SELECT chat_id, delivery_mode FROM chat_settings")
    return {row["chat_id"]: row["delivery_mode"] for row in rows}


async def test_a_write_made_during_a_rolled_back_transaction_is_neither_taken_in_nor_lost(db: Database) -> None:
    insert = "INSERT INTO chat_settings (chat_id, delivery_mode) VALUES (?, ?)"
    with pytest.raises(Abandoned):
        async with db.transaction() as tx:
            await tx.execute(insert, (1, "photos"))
            other = asyncio.create_task(db.execute(insert, (2, "originals")))
            if isinstance(db, SqliteDatabase):  # one shared connection: the write waits for the transaction
                for _ in range(20):  # every chance to run
                    await asyncio.sleep(0)
                assert not other.done()
                assert await tx.fetchall("SELECT chat_id FROM chat_settings WHERE chat_id = 2") == []
            else:  # PostgreSQL: it commits on a connection of its own
                await other
            raise Abandoned
    assert await other == 1
    assert await settings(db) == {2: "originals"}


async def test_a_transaction_commits_all_of_its_statements(db: Database) -> None:
    async with db.transaction() as tx:
        changed = await tx.execute(
            "INSERT INTO chat_settings (chat_id, delivery_mode) VALUES (1, 'photos'), (2, 'photos')"
        )
        await tx.executemany("UPDATE chat_settings SET delivery_mode = ? WHERE chat_id = ?", [("originals", 2)])
        row = await tx.fetchone("SELECT delivery_mode FROM chat_settings WHERE chat_id = 2")
    assert changed == 2 and row is not None and row["delivery_mode"] == "originals"
    assert await settings(db) == {1: "photos", 2: "originals"}
    with pytest.raises(RuntimeError, match="transaction has ended"):
        await tx.execute("DELETE FROM chat_settings")  # after COMMIT it would run outside the lock


async def test_the_database_itself_refuses_statements_inside_its_own_transaction(db: Database) -> None:
    """They would wait for the lock the transaction holds, forever."""
    with pytest.raises(RuntimeError, match="through the transaction"):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO chat_settings (chat_id, delivery_mode) VALUES (1, 'photos')")
            await db.execute("INSERT INTO chat_settings (chat_id, delivery_mode) VALUES (2, 'photos')")
    assert await settings(db) == {}
    assert await db.ping()


async def test_items_are_saved_only_with_the_move_to_delivering(db: Database) -> None:
    picks = PickRepository(db)
    session = await waiting_session(picks, time.time() + 60)
    refused: type[Exception]
    if isinstance(db, SqliteDatabase):
        await db.execute(
            "CREATE TEMP TRIGGER refuse BEFORE UPDATE OF status ON pick_sessions BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
        refused = sqlite3.IntegrityError
    else:
        await db.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;"
            " CREATE TRIGGER refuse BEFORE UPDATE OF status ON pick_sessions EXECUTE FUNCTION refuse()"
        )
        refused = asyncpg.RaiseError
    with pytest.raises(refused):
        await picks.save_items(session.id, [PickItem(0, "a", "PHOTO", "a.jpg", "image/jpeg", 1, 1)])
    assert await picks.items(session.id) == []


async def test_deliveries_that_list_at_the_same_moment_both_save_their_items(db: Database) -> None:
    picks = PickRepository(db)
    sessions = [
        await picks.create_session(
            google_session_id=f"g{n}",
            user_id=n,
            route=Route(n, n, n, n),
            picker_uri="u",
            delivery_mode="photos",
            poll_interval=5,
            poll_deadline=time.time() + 60,
            expire_time=time.time() + 60,
            holder="test",
            lease_seconds=30,
        )
        for n in range(1, 4)
    ]
    first = sessions[0]
    await picks.save_items(first.id, [PickItem(0, "x", "PHOTO", "x.jpg", "image/jpeg", 1, 1)])
    items = [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(50)]
    # Two deliveries save their listings while a third records an upload Telegram confirmed.
    await asyncio.gather(
        picks.save_items(sessions[1].id, items),
        picks.save_items(sessions[2].id, items),
        picks.mark_sent(first.id, {0: 1}),
    )
    for session in sessions[1:]:
        assert len(await picks.items(session.id)) == 50
        stored = await picks.get_session(session.id)
        assert stored is not None and stored.status == "delivering"
    assert [i.status for i in await picks.items(first.id)] == ["sent"]


async def test_saving_items_again_after_a_crash_in_between_completes_them(db: Database) -> None:
    picks = PickRepository(db)
    session = await waiting_session(picks, time.time() + 60)
    items = [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(5)]
    await picks.save_items(session.id, items[:2])  # as if the bot died after some rows
    await picks.save_items(session.id, items)
    assert [i.media_id for i in await picks.items(session.id)] == [f"m{n}" for n in range(5)]


async def test_a_transaction_cancelled_during_its_commit_ends_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shutdown cancelled a task in COMMIT, which aiosqlite's thread then carried out ahead of the ROLLBACK; the
    ROLLBACK's "no transaction is active" replaced the cancellation, the task's retry loop caught it, and the bot
    never exited (seen in CI)."""
    db = SqliteDatabase(tmp_path / "bot.sqlite3")
    await db.open()
    real = database._execute

    commits: list[asyncio.Task[int]] = []

    async def commit_cut_short(conn: aiosqlite.Connection, sql: str, params: Params) -> int:
        if sql != "COMMIT":
            return await real(conn, sql, params)
        commits.append(asyncio.create_task(real(conn, sql, params)))
        await asyncio.sleep(0)  # now in aiosqlite's queue, as the cancelled one was
        raise asyncio.CancelledError

    monkeypatch.setattr(database, "_execute", commit_cut_short)
    try:
        with pytest.raises(asyncio.CancelledError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO chat_settings (chat_id, delivery_mode) VALUES (1, 'photos')")
        monkeypatch.setattr(database, "_execute", real)
        await asyncio.gather(*commits)
        assert await settings(db) == {1: "photos"}  # committed, as the real one may be
    finally:
        await db.close()
