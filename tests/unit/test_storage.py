"""Storage: migrations, permissions, encryption at rest, single-use states."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import storage.picks as picks_module
from bot.crypto import Cipher, load_or_create_key
from bot.outcomes import SkipReason
from storage.chat_settings import ChatSettingsRepository
from storage.chat_upgrades import upgrade_chat_id
from storage.database import Database, SchemaTooNew, SqliteDatabase
from storage.links import LinkRepository
from storage.migrations import MIGRATIONS
from storage.oauth_states import OAuthStateRepository
from storage.picks import PickItem, PickRepository, Route
from storage.stats import ItemOutcomes, StatsRepository
from tests.unit.conftest import waiting_session


async def test_fresh_database_is_private_and_migrated(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "sub" / "bot.sqlite3")
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
    db = SqliteDatabase(path)
    await db.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        assert await ChatSettingsRepository(db).get_delivery_mode(5) == "originals"
        # Items sent before their time was kept count as sent when their pick was last updated.
        rows = await db.fetchall("SELECT position, sent_at FROM pick_items ORDER BY position")
        assert [(row["position"], row["sent_at"]) for row in rows] == [(0, 200.0), (1, None), (2, 200.0)]
        stats = StatsRepository(db)
        assert (await stats.overview(since=200.0)).delivered_today == 2
        assert (await stats.overview(since=200.5)).delivered_today == 0
    finally:
        await db.close()


async def test_tokens_are_encrypted_at_rest(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "bot.sqlite3")
    await db.open()
    links = LinkRepository(db, Cipher(Fernet.generate_key().decode()))
    await links.save_link(7, "a@example.com", {"access_token": "ya29.SECRET", "refresh_token": "1//REFRESH"}, "s")
    await db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"ya29.SECRET" not in raw and b"1//REFRESH" not in raw


async def test_oauth_state_is_single_use(db: Database) -> None:
    states = OAuthStateRepository(db, Cipher(Fernet.generate_key().decode()))
    await states.save_sign_in("p" * 43, 1, 2, "Ann (@ann)", "verifier", time.time() + 600)
    assert await states.pop_oauth_state("p" * 43) is None  # the page id is no state
    page = await states.peek_sign_in("p" * 43)
    assert page is not None and page.user_label == "Ann (@ann)" and not page.expired
    assert await states.continue_sign_in("p" * 43, "s" * 43) == "verifier"
    assert await states.continue_sign_in("p" * 43, "t" * 43) is None  # a page continues once
    assert await states.peek_sign_in("p" * 43) is None and await states.cancel_sign_in("p" * 43) is None
    found = await states.pop_oauth_state("s" * 43)
    assert found is not None and (found.user_id, found.chat_id, found.code_verifier) == (1, 2, "verifier")
    assert await states.pop_oauth_state("s" * 43) is None
    await states.save_sign_in("old", 1, 2, "Ann", "v", time.time() - 1)
    assert await states.continue_sign_in("old", "u" * 43) is None  # an expired page leads nowhere
    cancelled = await states.cancel_sign_in("old")
    assert cancelled is not None and cancelled.expired and cancelled.user_id == 1


async def test_items_are_marked_once(db: Database) -> None:
    picks = PickRepository(db)
    session = await waiting_session(picks, time.time() + 60)
    await picks.save_items(session.id, [PickItem(0, "a", "PHOTO", "a.jpg", "image/jpeg", 1, 1)])
    await picks.save_items(session.id, [PickItem(0, "a", "PHOTO", "a.jpg", "image/jpeg", 1, 1)])
    assert len(await picks.items(session.id)) == 1
    await picks.mark_skipped(session.id, 0, SkipReason.UNAVAILABLE)
    await picks.mark_sent(session.id, {0: 0})
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
    await picks.mark_sent(session.id, {0: 0, 1: 0})
    Clock.now = midnight
    await picks.mark_sent(session.id, {2: 0})
    Clock.now = midnight + 60
    await picks.mark_sent(session.id, {3: 0})
    await picks.mark_skipped(session.id, 4, SkipReason.TOO_BIG, detail="50000000")
    await picks.set_status(session.id, "done")
    stats = StatsRepository(db)
    assert (await stats.overview(since=midnight)).delivered_today == 2
    assert (await stats.overview(since=midnight - 3600)).delivered_today == 4
    assert (await stats.overview(since=midnight + 61)).delivered_today == 0


async def test_outcome_counts_take_each_item_once_however_many_a_statement_changes(db: Database) -> None:
    """The delivered and skipped counts (kept by triggers for /metrics) when statements change many items at once,
    as migrate-db's copy does: on PostgreSQL the triggers count per statement (migration 11)."""
    picks = PickRepository(db)
    session = await waiting_session(picks, time.time() + 60)
    await picks.save_items(
        session.id, [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(5)]
    )
    await db.execute("UPDATE pick_items SET status = 'sent' WHERE position < 3")  # three in one statement
    await picks.mark_skipped(session.id, 3, SkipReason.TOO_BIG, detail="1")
    await db.execute("UPDATE pick_items SET message_id = 7")  # no outcome changes
    await db.execute("UPDATE pick_items SET status = 'sent' WHERE status = 'sent'")  # sent already: not again
    await db.execute(
        "INSERT INTO pick_items (session_id, position, media_id, kind, filename, mime_type, status, reason)"
        " VALUES (?, 10, 'a', 'PHOTO', 'a.jpg', 'image/jpeg', 'sent', NULL),"
        " (?, 11, 'b', 'PHOTO', 'b.jpg', 'image/jpeg', 'skipped', 'too_big'),"
        " (?, 12, 'c', 'PHOTO', 'c.jpg', 'image/jpeg', 'pending', NULL)",
        (session.id, session.id, session.id),
    )
    assert await StatsRepository(db).item_outcomes() == ItemOutcomes(delivered=4, failed={"too_big": 2})


async def test_a_skipped_item_keeps_its_reason_code_detail_and_size(db: Database) -> None:
    picks = PickRepository(db)
    session = await waiting_session(picks, time.time() + 60)
    await picks.save_items(session.id, [PickItem(n, f"m{n}", "VIDEO", f"{n}.mp4", "video/mp4", 1, 1) for n in range(3)])
    await picks.mark_skipped(session.id, 0, SkipReason.TOO_BIG, detail="50000000", size=60_000_000)
    await picks.mark_skipped(session.id, 1, SkipReason.GOOGLE_DOWN)
    items = await picks.items(session.id)
    assert [(i.status, i.reason, i.reason_detail, i.size) for i in items] == [
        ("skipped", SkipReason.TOO_BIG, "50000000", 60_000_000),
        ("skipped", SkipReason.GOOGLE_DOWN, None, None),
        ("pending", None, None, None),
    ]
    assert type(items[0].reason) is SkipReason


def version_4_database(path: Path, reasons: list[str | None], failure: str | None) -> None:
    """A database as the bot left it before reasons were codes: one pick whose items were skipped for these."""
    with sqlite3.connect(path) as raw:
        for script in MIGRATIONS[:4]:
            raw.executescript(script)
        raw.execute("PRAGMA user_version = 4")
        raw.execute(
            "INSERT INTO pick_sessions (id, google_session_id, user_id, chat_id, status, picker_uri, delivery_mode,"
            " poll_interval, poll_deadline, expire_time, created_at, updated_at, prompt_chat_id, target_chat_id,"
            " report_chat_id, failure) VALUES (1, 'g', 5, 5, 'done', 'u', 'photos', 5, 0, 0, 100, 200, 5, 5, 5, ?)",
            (failure,),
        )
        raw.executemany(
            "INSERT INTO pick_items (session_id, position, media_id, kind, filename, mime_type, status, reason)"
            " VALUES (1, ?, 'm', 'PHOTO', 'f.jpg', 'image/jpeg', ?, ?)",
            [(n, "sent" if reason is None else "skipped", reason) for n, reason in enumerate(reasons)],
        )
    raw.close()


async def test_english_skip_reasons_of_an_older_database_become_codes(tmp_path: Path) -> None:
    converted = {  # every sentence an earlier version stored -> its code and detail
        "over 50 MB": (SkipReason.TOO_BIG, "50000000"),
        "over 2.0 GB": (SkipReason.TOO_BIG, "2000000000"),
        "still processing at Google": (SkipReason.STILL_PROCESSING, None),
        "Google could not provide it": (SkipReason.UNAVAILABLE, None),
        "Google was not answering": (SkipReason.GOOGLE_DOWN, None),
        "the Google session expired first": (SkipReason.SESSION_EXPIRED, None),
        "Telegram refused it (Bad Request: wrong file identifier (or type))": (
            SkipReason.TELEGRAM_REFUSED,
            "Bad Request: wrong file identifier (or type)",
        ),
        "Telegram refused it ()": (SkipReason.TELEGRAM_REFUSED, ""),
        "interrupted by a restart mid-upload (it may have arrived above)": (SkipReason.IN_DOUBT, None),
        "Telegram did not confirm it in time (it may have arrived above)": (SkipReason.UNCONFIRMED, None),
        "Google access was revoked": (SkipReason.LINK_BROKEN, None),
        "this chat can no longer receive messages": (SkipReason.CHAT_GONE, None),
        "a sentence no version wrote": (SkipReason.UNAVAILABLE, None),
    }
    path = tmp_path / "old.sqlite3"
    version_4_database(path, [None, *converted], failure="too many items")
    db = SqliteDatabase(path)
    await db.open()
    try:
        picks = PickRepository(db)
        items = await picks.items(1)
        assert (items[0].status, items[0].reason, items[0].reason_detail) == ("sent", None, None)
        assert [(i.reason, i.reason_detail) for i in items[1:]] == list(converted.values())
        session = await picks.get_session(1)
        assert session is not None and session.failure == "too_many_items"
    finally:
        await db.close()


async def test_a_pick_that_ended_normally_keeps_no_failure_through_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    version_4_database(path, [None], failure=None)
    db = SqliteDatabase(path)
    await db.open()
    try:
        session = await PickRepository(db).get_session(1)
        assert session is not None and session.failure is None
    finally:
        await db.close()


def newer_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE from_the_future (x)")
        raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 2}")
    raw.close()


def schema_of(path: Path) -> tuple[int, str, list[str]]:
    with sqlite3.connect(path) as raw:
        version = raw.execute("PRAGMA user_version").fetchone()[0]
        journal = raw.execute("PRAGMA journal_mode").fetchone()[0]
        tables = [name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    raw.close()
    return version, journal, tables


async def test_a_database_of_a_newer_bot_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    newer_database(path)
    db = SqliteDatabase(path)
    with pytest.raises(SchemaTooNew) as refused:
        await db.open()
    newer, known = len(MIGRATIONS) + 2, len(MIGRATIONS)
    assert str(refused.value) == (
        f"The database {path} has schema version {newer} but this bot only knows up to {known}: "
        "run the newer version of the bot, or restore a backup made for this one."
    )
    assert not await db.ping()  # closed again: no connection thread left behind
    assert schema_of(path) == (newer, "delete", ["from_the_future"])


def test_a_database_of_a_newer_bot_stops_start_up_with_one_line(tmp_path: Path) -> None:
    newer_database(tmp_path / "data" / "bot.sqlite3")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(root),
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "GOOGLE_CLIENT_ID": "x",
            "GOOGLE_CLIENT_SECRET": "y",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"Cannot start: The database data/bot.sqlite3 has schema version {len(MIGRATIONS) + 2} but this bot only"
        f" knows up to {len(MIGRATIONS)}: run the newer version of the bot, or restore a backup made for this one."
    ], result.stderr
    assert schema_of(tmp_path / "data" / "bot.sqlite3") == (len(MIGRATIONS) + 2, "delete", ["from_the_future"])


async def test_a_group_upgraded_to_a_supergroup_takes_its_stored_ids_along(db: Database) -> None:
    old, new, other = -100, -1001, -200
    picks = PickRepository(db)
    session = await picks.create_session(
        google_session_id="g",
        user_id=1,
        route=Route(chat_id=old, prompt_chat_id=1, target_chat_id=old, report_chat_id=old),
        picker_uri="u",
        delivery_mode="photos",
        poll_interval=5,
        poll_deadline=time.time() + 60,
        expire_time=time.time() + 60,
        holder="test",
        lease_seconds=30,
    )
    await picks.set_messages(session.id, prompt_message_id=7, status_message_id=8, notice_message_id=9)
    settings = ChatSettingsRepository(db)
    await settings.set_delivery_mode(old, "originals")
    await settings.set_delivery_mode(new, "photos")  # already there: the old group's choice wins
    await settings.set_delivery_mode(other, "originals")
    await upgrade_chat_id(db, old, new)
    moved = await picks.get_session(session.id)
    assert moved is not None
    assert (moved.chat_id, moved.target_chat_id, moved.report_chat_id) == (new, new, new)
    # Message ids are per chat: the old group's mean nothing in the supergroup.
    assert (moved.prompt_message_id, moved.status_message_id, moved.notice_message_id) == (7, None, None)
    assert await settings.get_delivery_mode(new) == "originals"
    assert await settings.get_delivery_mode(other) == "originals"
    assert await db.fetchone("SELECT 1 AS found FROM chat_settings WHERE chat_id = ?", (old,)) is None


def test_generated_key_is_kept_with_mode_0600(tmp_path: Path) -> None:
    key = load_or_create_key(None, tmp_path)
    assert stat.S_IMODE((tmp_path / "encryption.key").stat().st_mode) == 0o600
    assert load_or_create_key(None, tmp_path) == key
    assert load_or_create_key("configured", tmp_path) == "configured"
