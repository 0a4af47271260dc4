"""The PostgreSQL backend's own parts: placeholders, migrations under the advisory lock, a newer schema refused,
tokens encrypted at rest. Everything else in storage runs on both backends through the `db` fixture."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from cryptography.fernet import Fernet

from bot.crypto import Cipher
from storage.database import SchemaTooNew
from storage.leases import LeaseRepository
from storage.links import LinkRepository
from storage.migrations import MIGRATIONS, POSTGRES_MIGRATIONS
from storage.postgres import PostgresDatabase, to_postgres
from tests.postgres import PostgresCluster


def test_placeholders_become_numbered_outside_literals_comments_and_casts() -> None:
    assert to_postgres("SELECT * FROM t WHERE a = ? AND b IN (?, ?)") == (
        "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)",
        (),
    )
    assert to_postgres("UPDATE t SET a = :new WHERE a = :old OR b = :new") == (
        "UPDATE t SET a = $1 WHERE a = $2 OR b = $1",
        ("new", "old"),
    )
    sql = "SELECT 'a ? :b', \"c?\", x::text FROM t -- why? :d\nWHERE y = ?"
    assert to_postgres(sql) == ("SELECT 'a ? :b', \"c?\", x::text FROM t -- why? :d\nWHERE y = $1", ())
    assert to_postgres("SELECT 'it''s ?' WHERE z = ?")[0] == "SELECT 'it''s ?' WHERE z = $1"
    with pytest.raises(ValueError, match="mixes"):
        to_postgres("SELECT ? WHERE a = :a")


def test_both_engines_know_the_same_newest_version() -> None:
    assert POSTGRES_MIGRATIONS[-1][0] == len(MIGRATIONS)
    versions = [version for version, _ in POSTGRES_MIGRATIONS]
    assert versions == sorted(set(versions))


async def test_replicas_starting_together_migrate_once(postgres: PostgresCluster) -> None:
    url = await postgres.create_database()
    replicas = [PostgresDatabase(url) for _ in range(3)]
    await asyncio.gather(*(replica.open() for replica in replicas))
    try:
        for replica in replicas:
            assert await replica.schema_version() == len(MIGRATIONS)
        row = await replicas[0].fetchone("SELECT count(*) AS rows FROM bot_schema")
        assert row is not None and row["rows"] == 1
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))


async def test_a_newer_schema_is_refused_and_left_alone(postgres: PostgresCluster) -> None:
    url = await postgres.create_database()
    first = PostgresDatabase(url)
    await first.open()
    await first.execute("UPDATE bot_schema SET version = ?", (len(MIGRATIONS) + 1,))
    await first.close()
    newer = PostgresDatabase(url)
    with pytest.raises(SchemaTooNew) as refused:
        await newer.open()
    message = str(refused.value)
    assert f"schema version {len(MIGRATIONS) + 1}" in message and f"up to {len(MIGRATIONS)}" in message
    assert postgres.password not in message and "127.0.0.1" in message
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT version FROM bot_schema") == len(MIGRATIONS) + 1
    finally:
        await conn.close()


async def test_tokens_are_encrypted_at_rest(postgres: PostgresCluster) -> None:
    db = PostgresDatabase(await postgres.create_database())
    await db.open()
    try:
        links = LinkRepository(db, Cipher(Fernet.generate_key().decode()))
        await links.save_link(7, "a@example.com", {"access_token": "ya29.SECRET", "refresh_token": "1//R"}, "s")
        row = await db.fetchone("SELECT token FROM google_links WHERE user_id = 7")
        assert row is not None and b"ya29.SECRET" not in row["token"] and b"1//R" not in row["token"]
        link = await links.get_link(7)
        assert link is not None and link.token["access_token"] == "ya29.SECRET"
    finally:
        await db.close()


async def test_a_release_wakes_the_other_replicas(postgres: PostgresCluster) -> None:
    url = await postgres.create_database()
    stopping, staying = PostgresDatabase(url), PostgresDatabase(url)
    await asyncio.gather(stopping.open(), staying.open())
    try:
        woken = asyncio.Event()
        await LeaseRepository(staying, "b", 30).on_released(woken.set)
        await LeaseRepository(stopping, "a", 30).release_all()
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        await asyncio.gather(stopping.close(), staying.close())
