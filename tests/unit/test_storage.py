"""Storage: migrations, permissions, encryption at rest, single-use states."""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import storage.picks as picks_module
from bot.crypto import Cipher, load_or_create_key
from storage.database import Database
from storage.links import LinkRepository
from storage.migrations import MIGRATIONS
from storage.oauth_states import OAuthStateRepository
from storage.picks import PickItem, PickRepository, PickSession, Route, SentItem
from storage.stats import StatsRepository


async def test_fresh_database_is_private_and_migrated(tmp_path: Path) -> None:
    db = Database(tmp_path / "sub" / "bot.sqlite3")
    await db.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        assert stat.S_IMODE((tmp_path / "sub" / "bot.sqlite3").stat().st_mode) == 0o600
        assert await db.ping()
    finally:
        await db.close()


async def test_existing_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.executescript(MIGRATIONS[0])
        raw.execute("PRAGMA user_version = 1")
        raw.execute("INSERT INTO chat_settings VALUES (5, 'originals')")
        raw.execute(
            "INSERT INTO pick_sessions (id, google_session_id, user_id, chat_id, status, picker_uri, delivery_mode,"
            " poll_interval, poll_deadline, expire_time, created_at, updated_at)"
            " VALUES (1, 'g', 5, 5, 'done', 'u', 'photos', 5, 0, 0, 100.0, 200.0)"
        )
        raw.executemany(
            "INSERT INTO pick_items (session_id, position, media_id, kind, filename, mime_type, status)"
            " VALUES (1, ?, 'm', 'PHOTO', 'f.jpg', 'image/jpeg', ?)",
            [(0, "sent"), (1, "skipped"), (2, "sent")],
        )
    db = Database(path)
    await db.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        async with db.conn.execute("SELECT delivery_mode FROM chat_settings WHERE chat_id = 5") as cursor:
            assert await cursor.fetchone() == ("originals",)
        # Items sent before their time was kept count as sent when their pick was last updated.
        async with db.conn.execute("SELECT position, sent_at FROM pick_items ORDER BY position") as cursor:
            assert [tuple(row) for row in await cursor.fetchall()] == [(0, 200.0), (1, None), (2, 200.0)]
        stats = StatsRepository(db)
        assert (await stats.overview(since=200.0)).delivered_today == 2
        assert (await stats.overview(since=200.5)).delivered_today == 0
    finally:
        await db.close()


async def test_tokens_are_encrypted_at_rest(tmp_path: Path) -> None:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    links = LinkRepository(db, Cipher(Fernet.generate_key().decode()))
    await links.save_link(7, "a@example.com", {"access_token": "ya29.SECRET", "refresh_token": "1//REFRESH"}, "s")
    await db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"ya29.SECRET" not in raw and b"1//REFRESH" not in raw


async def test_oauth_state_is_single_use(db: Database) -> None:
    states = OAuthStateRepository(db, Cipher(Fernet.generate_key().decode()))
    await states.save_oauth_state("s" * 43, 1, 2, "verifier", time.time() + 600)
    found = await states.pop_oauth_state("s" * 43)
    assert found is not None and (found.user_id, found.chat_id, found.code_verifier) == (1, 2, "verifier")
    assert await states.pop_oauth_state("s" * 43) is None
    await states.save_oauth_state("old", 1, 2, "v", time.time() - 1)
    expired = await states.pop_oauth_state("old")
    assert expired is not None and expired.expired


async def waiting_session(picks: PickRepository, ends: float) -> PickSession:
    return await picks.create_session(
        google_session_id="g",
        user_id=1,
        route=Route(1, 1, 1, 1),
        picker_uri="u",
        delivery_mode="photos",
        poll_interval=5,
        poll_deadline=ends,
        expire_time=ends,
    )


async def test_items_are_marked_once(db: Database) -> None:
    picks = PickRepository(db)
    session = await waiting_session(picks, time.time() + 60)
    await picks.save_items(session.id, [PickItem(0, "a", "PHOTO", "a.jpg", "image/jpeg", 1, 1)])
    await picks.save_items(session.id, [PickItem(0, "a", "PHOTO", "a.jpg", "image/jpeg", 1, 1)])
    assert len(await picks.items(session.id)) == 1
    await picks.mark_skipped(session.id, 0, "reason")
    await picks.mark_sent(session.id, [SentItem(0, 10, "f")], {})
    assert (await picks.items(session.id))[0].status == "skipped"


class Clock:
    """Stands in for the time module in storage.picks."""

    now = 0.0

    @classmethod
    def time(cls) -> float:
        return cls.now


async def test_deliveries_since_count_items_by_when_they_were_sent(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pick that started before midnight and finished after it: only what arrived after counts "today"
    (all of its items used to, as the pick was last updated after midnight)."""
    midnight = 1_700_000_000.0
    monkeypatch.setattr(picks_module, "time", Clock)
    picks = PickRepository(db)
    Clock.now = midnight - 600
    session = await waiting_session(picks, midnight + 600)
    await picks.save_items(
        session.id, [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(5)]
    )
    Clock.now = midnight - 1
    await picks.mark_sent(session.id, [SentItem(0, 10, "f0"), SentItem(1, 11, "f1")], {})
    Clock.now = midnight
    await picks.mark_sent(session.id, [SentItem(2, 12, "f2")], {})
    Clock.now = midnight + 60
    await picks.mark_sent(session.id, [SentItem(3, 13, "f3")], {})
    await picks.mark_skipped(session.id, 4, "too big")
    await picks.set_status(session.id, "done")
    stats = StatsRepository(db)
    assert (await stats.overview(since=midnight)).delivered_today == 2
    assert (await stats.overview(since=midnight - 3600)).delivered_today == 4
    assert (await stats.overview(since=midnight + 61)).delivered_today == 0


def test_generated_key_is_kept_with_mode_0600(tmp_path: Path) -> None:
    key = load_or_create_key(None, tmp_path)
    assert stat.S_IMODE((tmp_path / "encryption.key").stat().st_mode) == 0o600
    assert load_or_create_key(None, tmp_path) == key
    assert load_or_create_key("configured", tmp_path) == "configured"
