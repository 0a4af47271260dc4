"""Pick sessions and their items: the persisted state machine behind every /pick.

session: waiting → picked → delivering → done, or → expired | cancelled | failed
item:    pending → sent | skipped(reason)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from bot.outcomes import SkipReason
from storage.database import Database, Row

SessionStatus = Literal["waiting", "picked", "delivering", "done", "expired", "cancelled", "failed"]
ACTIVE_STATUSES: tuple[SessionStatus, ...] = ("waiting", "picked", "delivering")
ItemStatus = Literal["pending", "sent", "skipped"]


@dataclass(frozen=True)
class PickSession:
    id: int
    google_session_id: str
    user_id: int
    chat_id: int
    status: SessionStatus
    picker_uri: str
    delivery_mode: str
    poll_interval: float
    poll_deadline: float
    expire_time: float
    last_polled_at: float | None
    prompt_message_id: int | None
    status_message_id: int | None
    failure: str | None  # why a finished pick ended early, as a code: "too_many_items"
    google_deleted: bool
    prompt_chat_id: int  # the picker's private chat: the Google Photos button lives there
    target_chat_id: int  # where the photos go
    report_chat_id: int  # where progress and the summary go
    notice_message_id: int | None  # "Alice is choosing photos…" in a group
    shared_by: str | None  # caption on a group delivery
    thread_id: int | None  # the forum topic of the target chat its messages go to (None: no topic)
    repeats_until: float | None  # until when "Send them anyway" sends its repeats (None: no offer, or used)
    max_items: int | None  # the limit the user asked for (/pick 20), None for none
    reminded: bool  # the prompt said the link runs out soon
    created_at: float
    captions: str  # the chat's captions when the pick started: none, date, camera (storage/chat_settings.py)

    def thread_in(self, chat_id: int) -> int | None:
        """The topic a message to `chat_id` goes to: the target's topic, only in the target chat."""
        return self.thread_id if chat_id == self.target_chat_id else None


@dataclass(frozen=True)
class Route:
    """Where a pick is asked for, prompted, delivered and reported."""

    chat_id: int
    prompt_chat_id: int
    target_chat_id: int
    report_chat_id: int
    shared_by: str | None = None
    thread_id: int | None = None  # a forum topic of the target chat


@dataclass(frozen=True)
class PickItem:
    position: int
    media_id: str
    kind: str
    filename: str
    mime_type: str
    width: int | None
    height: int | None
    status: ItemStatus = "pending"
    reason: SkipReason | None = None
    reason_detail: str | None = None  # see SkipReason
    size: int | None = None
    sending_since: float | None = None  # handed to Telegram, not confirmed yet
    # Skipped as a repeat: the content hash of the chat's copy (bot/delivery/repeats.py); pending with it: to be
    # sent again by that copy's file_id ("Send them anyway").
    seen_hash: str | None = None
    taken_at: float | None = None  # when it was taken (Google's createTime), for captions
    camera: str | None = None  # "Google Pixel 8", for captions

    @property
    def in_doubt(self) -> bool:
        """Pending, yet its upload was under way when the bot stopped: it may have arrived."""
        return self.status == "pending" and self.sending_since is not None


def _by_name(cls: type[Any], row: Row) -> dict[str, Any]:
    """The row's values for the dataclass's fields, read by column name."""
    return {field.name: row[field.name] for field in fields(cls)}


_SESSION_COLUMNS = ", ".join(field.name for field in fields(PickSession))
_ITEM_COLUMNS = ", ".join(field.name for field in fields(PickItem))
_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)


def _session(row: Row) -> PickSession:
    values = _by_name(PickSession, row)
    return PickSession(
        **{**values, "google_deleted": bool(values["google_deleted"]), "reminded": bool(values["reminded"])}
    )


def _item(row: Row) -> PickItem:
    reason = row["reason"]
    return PickItem(**{**_by_name(PickItem, row), "reason": SkipReason(reason) if reason is not None else None})


class PickRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_session(
        self,
        *,
        google_session_id: str,
        user_id: int,
        route: Route,
        picker_uri: str,
        delivery_mode: str,
        poll_interval: float,
        poll_deadline: float,
        expire_time: float,
        holder: str,
        lease_seconds: float,
        max_items: int | None = None,
        captions: str = "none",
    ) -> PickSession:
        """A new waiting pick, held from the start by replica `holder` (its lease in the same transaction: no other
        replica may take it for an orphan in between)."""
        now = time.time()
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                """INSERT INTO pick_sessions (google_session_id, user_id, chat_id, status, picker_uri, delivery_mode,
                       poll_interval, poll_deadline, expire_time, last_polled_at, created_at, updated_at,
                       prompt_chat_id, target_chat_id, report_chat_id, shared_by, thread_id, max_items, captions)
                   VALUES (?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING """
                + _SESSION_COLUMNS,
                (
                    google_session_id,
                    user_id,
                    route.chat_id,
                    picker_uri,
                    delivery_mode,
                    poll_interval,
                    poll_deadline,
                    expire_time,
                    now,
                    now,
                    now,
                    route.prompt_chat_id,
                    route.target_chat_id,
                    route.report_chat_id,
                    route.shared_by,
                    route.thread_id,
                    max_items,
                    captions,
                ),
            )
            assert row is not None
            await tx.execute(
                "INSERT INTO leases (work, id, holder, expires_at) VALUES ('session', ?, ?, ?)",
                (row["id"], holder, now + lease_seconds),
            )
        return _session(row)

    async def get_session(self, session_id: int) -> PickSession | None:
        row = await self._db.fetchone(f"SELECT {_SESSION_COLUMNS} FROM pick_sessions WHERE id = ?", (session_id,))
        return _session(row) if row else None

    async def get_sessions(self, session_ids: Sequence[int]) -> list[PickSession]:
        """The sessions with these ids, read 500 at a time (both engines cap a statement's parameters)."""
        sessions: list[PickSession] = []
        for first in range(0, len(session_ids), 500):
            chunk = tuple(session_ids[first : first + 500])
            rows = await self._db.fetchall(
                f"SELECT {_SESSION_COLUMNS} FROM pick_sessions WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            )
            sessions += [_session(row) for row in rows]
        return sessions

    async def active_session(self, user_id: int, chat_id: int) -> PickSession | None:
        row = await self._db.fetchone(
            f"SELECT {_SESSION_COLUMNS} FROM pick_sessions WHERE user_id = ? AND chat_id = ?"
            " AND status IN ('waiting', 'picked', 'delivering') ORDER BY id DESC LIMIT 1",
            (user_id, chat_id),
        )
        return _session(row) if row else None

    async def sessions_to_delete_at_google(self) -> list[PickSession]:
        """Finished sessions whose Google side has not been deleted yet (a crash came in between)."""
        rows = await self._db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM pick_sessions WHERE google_deleted = 0"
            " AND status NOT IN ('waiting', 'picked', 'delivering') ORDER BY id"
        )
        return [_session(row) for row in rows]

    async def set_status(
        self,
        session_id: int,
        status: SessionStatus,
        *,
        failure: str | None = None,
        only_from: Iterable[SessionStatus] | None = None,
    ) -> bool:
        """Move a session to `status`; with `only_from`, only if it is currently in one of those."""
        sql = "UPDATE pick_sessions SET status = ?, failure = COALESCE(?, failure), updated_at = ? WHERE id = ?"
        params: list[object] = [status, failure, time.time(), session_id]
        if only_from is not None:
            allowed = tuple(only_from)
            sql += f" AND status IN ({', '.join('?' for _ in allowed)})"
            params.extend(allowed)
        return await self._db.execute(sql, params) == 1

    async def record_polls(self, polls: Sequence[tuple[int, float, float]]) -> None:
        """When each session was last polled and the pollInterval Google gave then, (id, polled at, interval), in one
        transaction; a poll time never goes back (a replica writing late after another took the pick over)."""
        if not polls:
            return
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.executemany(
                "UPDATE pick_sessions SET last_polled_at = ?, poll_interval = ?, updated_at = ?"
                " WHERE id = ? AND (last_polled_at IS NULL OR last_polled_at < ?)",
                [(polled_at, interval, now, session_id, polled_at) for session_id, polled_at, interval in polls],
            )

    async def set_messages(
        self,
        session_id: int,
        *,
        prompt_message_id: int | None = None,
        status_message_id: int | None = None,
        notice_message_id: int | None = None,
    ) -> None:
        await self._db.execute(
            "UPDATE pick_sessions SET prompt_message_id = COALESCE(?, prompt_message_id),"
            " status_message_id = COALESCE(?, status_message_id),"
            " notice_message_id = COALESCE(?, notice_message_id) WHERE id = ?",
            (prompt_message_id, status_message_id, notice_message_id, session_id),
        )

    async def set_start_message(self, session_id: int, *, prompt: int | None = None, notice: int | None = None) -> bool:
        """Record the id of a message its start sent (the prompt, a group's notice line), unless the pick ended
        while waiting (expired, cancelled, failed) with that id unknown: False then, as whoever ended it could
        not change that message (a press on the prompt's own button records its id first, then ends the pick:
        True). Conditional in one statement, so ending and recording a pick at once leave exactly one of them
        to see the id."""
        return (
            await self._db.execute(
                "UPDATE pick_sessions SET prompt_message_id = COALESCE(?, prompt_message_id),"
                " notice_message_id = COALESCE(?, notice_message_id)"
                " WHERE id = ? AND (status NOT IN ('expired', 'cancelled', 'failed')"
                " OR prompt_message_id = ? OR notice_message_id = ?)",
                (prompt, notice, session_id, prompt, notice),
            )
            == 1
        )

    async def redirect(self, session_id: int, target_chat_id: int, report_chat_id: int) -> None:
        """Deliver the rest somewhere else (the destination can no longer take it), in no topic."""
        await self._db.execute(
            "UPDATE pick_sessions SET target_chat_id = ?, report_chat_id = ?, thread_id = NULL, updated_at = ?"
            " WHERE id = ?",
            (target_chat_id, report_chat_id, time.time(), session_id),
        )

    async def mark_reminded(self, session_id: int) -> bool:
        """Note that the prompt said the link runs out soon; False when it was noted already (once only)."""
        changed = await self._db.execute(
            "UPDATE pick_sessions SET reminded = 1 WHERE id = ? AND reminded = 0", (session_id,)
        )
        return changed > 0

    async def leave_topic(self, session_id: int) -> None:
        """Deliver the rest into the target's General topic (its own topic was closed or deleted)."""
        await self._db.execute(
            "UPDATE pick_sessions SET thread_id = NULL, updated_at = ? WHERE id = ?", (time.time(), session_id)
        )

    async def active_sessions_involving(self, chat_id: int) -> list[PickSession]:
        """Waiting or delivering sessions asked for in, or delivering to, this chat."""
        rows = await self._db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM pick_sessions WHERE status IN ('waiting', 'picked', 'delivering')"
            " AND (chat_id = ? OR target_chat_id = ? OR report_chat_id = ?) ORDER BY id",
            (chat_id, chat_id, chat_id),
        )
        return [_session(row) for row in rows]

    async def count_started_since(self, user_id: int, since: float) -> int:
        row = await self._db.fetchone(
            "SELECT count(*) AS started FROM pick_sessions WHERE user_id = ? AND created_at >= ?", (user_id, since)
        )
        return int(row["started"]) if row else 0

    async def active_sessions_of(self, user_id: int) -> list[PickSession]:
        rows = await self._db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM pick_sessions WHERE status IN ('waiting', 'picked', 'delivering')"
            " AND user_id = ? ORDER BY id",
            (user_id,),
        )
        return [_session(row) for row in rows]

    async def mark_google_deleted(self, session_id: int) -> None:
        await self._db.execute("UPDATE pick_sessions SET google_deleted = 1 WHERE id = ?", (session_id,))

    async def save_items(self, session_id: int, items: Sequence[PickItem]) -> None:
        """Store the listed items as pending and move the session to `delivering`, in one transaction:
        after a crash the session is either still `picked` with none of them, or delivering them all.
        Saving again adds nothing twice (ON CONFLICT DO NOTHING)."""
        async with self._db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO pick_items (session_id, position, media_id, kind, filename, mime_type, width,"
                " height, taken_at, camera, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')"
                " ON CONFLICT DO NOTHING",
                [
                    (
                        session_id,
                        i.position,
                        i.media_id,
                        i.kind,
                        i.filename,
                        i.mime_type,
                        i.width,
                        i.height,
                        i.taken_at,
                        i.camera,
                    )
                    for i in items
                ],
            )
            await tx.execute(
                "UPDATE pick_sessions SET status = 'delivering', updated_at = ? WHERE id = ?", (time.time(), session_id)
            )

    async def items(self, session_id: int) -> list[PickItem]:
        rows = await self._db.fetchall(
            f"SELECT {_ITEM_COLUMNS} FROM pick_items WHERE session_id = ? ORDER BY position", (session_id,)
        )
        return [_item(row) for row in rows]

    async def mark_sending(self, session_id: int, positions: Sequence[int], holder: str) -> bool:
        """Flag items as handed to Telegram (set just before the request goes out) while replica `holder` holds the
        pick's lease; False, flagging nothing, once another replica has taken it over. The same transaction writes
        the lease row, so a takeover waits for it and then finds the items flagged: reported, never sent twice."""
        async with self._db.transaction() as tx:
            if not await tx.execute(
                "UPDATE leases SET holder = holder WHERE work = 'session' AND id = ? AND holder = ?",
                (session_id, holder),
            ):
                return False
            await tx.executemany(
                "UPDATE pick_items SET sending_since = ? WHERE session_id = ? AND position = ? AND status = 'pending'",
                [(time.time(), session_id, position) for position in positions],
            )
        return True

    async def clear_sending(self, session_id: int, positions: Sequence[int]) -> None:
        """Telegram answered with an error: these items certainly did not arrive."""
        await self._db.executemany(
            "UPDATE pick_items SET sending_since = NULL WHERE session_id = ? AND position = ? AND status = 'pending'",
            [(session_id, position) for position in positions],
        )

    async def mark_sent(self, session_id: int, sizes: dict[int, int]) -> None:
        """Telegram confirmed the items at these positions (position -> bytes sent)."""
        now = time.time()
        await self._db.executemany(
            "UPDATE pick_items SET status = 'sent', sending_since = NULL, sent_at = ?, size = ?"
            " WHERE session_id = ? AND position = ? AND status = 'pending'",
            [(now, size, session_id, position) for position, size in sizes.items()],
        )

    async def delete_items_ended_before(self, cutoff: float, picks: int) -> int:
        """Delete the items of up to `picks` finished picks last updated before `cutoff`; returns how many items
        went. Their outcomes stay counted for /metrics (migration 6)."""
        return await self._db.execute(
            "DELETE FROM pick_items WHERE session_id IN (SELECT id FROM pick_sessions AS s"
            f" WHERE s.status NOT IN ({_ACTIVE}) AND s.updated_at < ?"
            " AND EXISTS (SELECT 1 FROM pick_items WHERE session_id = s.id) LIMIT ?)",
            (cutoff, picks),
        )

    async def mark_skipped(
        self,
        session_id: int,
        position: int,
        reason: SkipReason,
        *,
        detail: str | None = None,
        size: int | None = None,
        seen_hash: str | None = None,
    ) -> None:
        """`seen_hash`: a repeat's, the content hash of the chat's copy."""
        await self._db.execute(
            "UPDATE pick_items SET status = 'skipped', reason = ?, reason_detail = ?, size = ?,"
            " seen_hash = COALESCE(?, seen_hash) WHERE session_id = ? AND position = ? AND status = 'pending'",
            (reason.value, detail, size, seen_hash, session_id, position),
        )

    async def offer_repeats(self, session_id: int, until: float) -> None:
        """The pick's repeats may be sent anyway until `until`."""
        await self._db.execute("UPDATE pick_sessions SET repeats_until = ? WHERE id = ?", (until, session_id))

    async def reopen_for_repeats(
        self, session_id: int, user_id: int, *, holder: str, lease_seconds: float
    ) -> PickSession | None:
        """ "Send them anyway": the finished pick delivers again, held by replica `holder`, its repeats whose copy a
        chat still remembers. Single use: of two presses only one reopens it (the offer goes with it). None when
        the offer is not this user's, is over or was used, or no copy is left (then nothing changes)."""
        now = time.time()
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE pick_sessions SET status = 'delivering', repeats_until = NULL, status_message_id = NULL,"
                " updated_at = ? WHERE id = ? AND user_id = ? AND status = 'done' AND repeats_until >= ?"
                " RETURNING " + _SESSION_COLUMNS,
                (now, session_id, user_id, now),
            )
            if row is None:
                return None
            again = await tx.execute(
                "UPDATE pick_items SET status = 'pending', reason = NULL, reason_detail = NULL"
                " WHERE session_id = ? AND status = 'skipped' AND reason = ?"
                " AND seen_hash IN (SELECT content_hash FROM chat_memory)",
                (session_id, SkipReason.REPEAT.value),
            )
            if not again:
                await tx.execute("UPDATE pick_sessions SET status = 'done' WHERE id = ?", (session_id,))
                return None
            await tx.execute(
                "INSERT INTO leases (work, id, holder, expires_at) VALUES ('session', ?, ?, ?)"
                " ON CONFLICT (work, id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
                (session_id, holder, now + lease_seconds),
            )
        return _session(row)
