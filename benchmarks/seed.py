"""Users, waiting picks and history put in place before the bot starts, as earlier runs would have left them.

Tokens come from the Google emulator's real OAuth endpoints (one per Google account, ACCOUNTS of them) and links
are stored by the bot's own repository (encrypted). Two shortcuts, each for a reason: picking sessions go straight
into the emulator's table (its sessions.create scans every session per call: quadratic at 10,000), and pick rows
go into the database in bulk SQL (the repository inserts one pick at a time; a million item rows would take
minutes).
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.world import google_token
from bot.crypto import Cipher
from emulators.google import GoogleEmulator, SessionRecord
from storage.database import SqliteDatabase
from storage.links import LinkRepository
from storage.postgres import PostgresDatabase
from tests.harness import ENCRYPTION_KEY

ITEMS_PER_DONE_PICK = 100
# Google accounts behind the seeded users: the emulator's OAuth costs a few ms of CPU per request, so 10,000 tokens
# would take minutes. The bot still sees one link, token and pick per user; only Google sees accounts shared.
ACCOUNTS = 250


@dataclass(frozen=True)
class Waiting:
    """A waiting pick to seed: its user, Google's session, and when the previous run last polled it."""

    user_id: int
    session: SessionRecord
    last_polled_at: float  # Unix time


def email_of(user_id: int) -> str:
    """The Google account behind a seeded user: ACCOUNTS of them, shared by users beyond that many."""
    return f"user{user_id % ACCOUNTS}@example.com"


async def grant_tokens(google: GoogleEmulator, users: list[int], redirect_uri: str) -> list[dict[str, Any]]:
    """An OAuth token per user from the emulator (authorization code + PKCE), one per Google account. One at a
    time: the emulator's consent screen answers for one signed-in email, set per account."""
    tokens: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=60) as http:
        for user in users:
            email = email_of(user)
            if email not in tokens:
                tokens[email] = await google_token(http, google, email, redirect_uri)
    return [tokens[email_of(user)] for user in users]


def open_session(google: GoogleEmulator, user_id: int) -> SessionRecord:
    """A picking session at Google for the user, as sessions.create makes it (emulators/google.py)."""
    now, sid = google.now(), str(uuid.uuid4())
    session = SessionRecord(
        id=sid,
        email=email_of(user_id),
        picker_uri=f"{google.url}/picker/{sid}",
        max_item_count=2000,
        created=now,
        timeout_at=now + google.session_timeout,
        expire_at=now + google.session_lifetime,
        expire_time=datetime.now(UTC) + timedelta(seconds=google.session_lifetime),
    )
    google.sessions[sid] = session
    return session


async def seed_database(
    target: Path | str,
    links: list[tuple[int, dict[str, Any]]],
    waiting: list[Waiting],
    poll_interval: float,
    history_items: int = 0,
) -> None:
    """Links, waiting picks (private chats) and `history_items` item rows of delivered picks, into a SQLite file or
    a PostgreSQL database (its URL)."""
    db = PostgresDatabase(target) if isinstance(target, str) else SqliteDatabase(target)
    await db.open()
    try:
        repo = LinkRepository(db, Cipher(ENCRYPTION_KEY))
        for user, token in links:
            await repo.save_link(user, email_of(user), token, str(token["scope"]))
        now = time.time()
        columns = (
            "google_session_id, user_id, chat_id, status, picker_uri, delivery_mode, poll_interval, poll_deadline,"
            " expire_time, last_polled_at, created_at, updated_at, prompt_chat_id, target_chat_id, report_chat_id,"
            " google_deleted"
        )
        insert = f"INSERT INTO pick_sessions ({columns}) VALUES ({', '.join('?' * 16)})"
        async with db.transaction() as tx:
            await tx.executemany(
                insert,
                [
                    (
                        w.session.id,
                        w.user_id,
                        w.user_id,
                        "waiting",
                        w.session.picker_uri,
                        "photos",
                        poll_interval,
                        now + 1500,
                        now + 3000,
                        w.last_polled_at,
                        now - 60,
                        now - 60,
                        w.user_id,
                        w.user_id,
                        w.user_id,
                        0,
                    )
                    for w in waiting
                ],
            )
        rng = random.Random(1)
        picks = history_items // ITEMS_PER_DONE_PICK
        for first in range(0, picks, 500):
            async with db.transaction() as tx:
                for n in range(first, min(picks, first + 500)):
                    user = 1 + n % max(1, len(links))
                    when = now - 86_400 * rng.uniform(0.5, 29)  # within RETENTION_DAYS (30): a steady state
                    row = await tx.fetchone(
                        f"INSERT INTO pick_sessions ({columns}) VALUES ({', '.join('?' * 16)}) RETURNING id",
                        (
                            f"done-{n}",
                            user,
                            user,
                            "done",
                            "https://photospicker.google.com/x",
                            "photos",
                            poll_interval,
                            when,
                            when,
                            when,
                            when,
                            when,
                            user,
                            user,
                            user,
                            1,
                        ),
                    )
                    assert row is not None
                    await tx.executemany(
                        "INSERT INTO pick_items (session_id, position, media_id, kind, filename, mime_type, width,"
                        " height, status, size, message_id, file_id, sent_at)"
                        " VALUES (?, ?, ?, 'PHOTO', ?, 'image/jpeg', 4032, 3024, 'sent', ?, ?, ?, ?)",
                        [
                            (
                                row["id"],
                                i,
                                f"media-{n}-{i}",
                                f"IMG_{i:04d}.JPG",
                                1_200_000,
                                1000 + i,
                                f"file-{n}-{i}",
                                when,
                            )
                            for i in range(ITEMS_PER_DONE_PICK)
                        ],
                    )
    finally:
        await db.close()
