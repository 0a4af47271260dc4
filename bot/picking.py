"""The pick lifecycle: start (replacing a waiting pick), poll, cancel, time out, hand over to delivery."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from telegram.error import BadRequest, NetworkError, TelegramError

from bot.delivery.run import Deliveries
from bot.google.errors import (
    GoogleError,
    GoogleUnavailable,
    LinkBroken,
    Misconfigured,
    NotLinked,
    SessionGone,
    TooManySessions,
)
from bot.google.picker import PickerClient, PickingSession
from bot.google.quota import PickerQuota
from bot.leases import LeaseKeeper
from bot.linking import LinkService
from bot.outcomes import Code, Refused
from bot.pick_messages import PickMessages
from bot.poller import Poller, first_delays
from bot.session_cleanup import GoogleCleanup
from storage.chat_settings import ChatSettingsRepository
from storage.leases import LeaseRepository
from storage.picks import PickRepository, PickSession, Route

log = logging.getLogger(__name__)

STOP_GRACE = 15.0  # on shutdown, how long an upload under way may take to finish
REMIND_BEFORE = 120.0  # seconds before a pick's link runs out that its prompt says so
FINISHING_WAIT = 10.0  # seconds "Send them anyway" waits for the run that sent its button to mark the pick done
RECORD_POLLS_EVERY = 0.5  # seconds between two writes of the polls made meanwhile (all in one transaction)


@dataclass(frozen=True)
class PickLimits:
    """Per-user abuse limits (settings MAX_ACTIVE_PICKS, PICKS_PER_HOUR, MAX_ITEMS_PER_PICK)."""

    max_active: int = 3
    per_hour: int = 20
    max_items: int = 2000


DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_TIMEOUT = 1800.0


class PickService:
    def __init__(
        self,
        *,
        picker: PickerClient,
        links: LinkService,
        repo: PickRepository,
        chat_settings: ChatSettingsRepository,
        messages: PickMessages,
        deliveries: Deliveries,
        limits: PickLimits,
        leases: LeaseRepository,
        keeper: LeaseKeeper,
        cleanup: GoogleCleanup,
        quota: PickerQuota,
    ) -> None:
        self._picker = picker
        self._links = links
        self._repo = repo
        self._chat_settings = chat_settings
        self._messages = messages
        self._deliveries = deliveries
        self.limits = limits
        self._leases = leases
        self._keeper = keeper
        self._cleanup = cleanup
        self.poller = Poller(self._sessions_by_id, self._poll_once, budget=quota)
        # Polls not written yet (session id → when its answer came, pollInterval): one write every RECORD_POLLS_EVERY
        # for all of them, not one a poll (2,000 a second at 10,000 waiting picks). Only a takeover or a restart
        # reads them.
        self._started = time.time()  # a restart's previous life, which may have polled unrecorded, died before
        self._polls: dict[int, tuple[float, float]] = {}
        self._running: dict[int, asyncio.Task[None]] = {}  # deliveries under way, by session id
        self._background: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------
    async def resume(self) -> None:
        """After a start: finish Google clean-up. Waiting and delivering picks come back through adopt() as this
        replica takes their leases (bot/leases.py)."""
        _remove_leftovers(self._deliveries.space.folder)
        self.poller.start()
        self._spawn(self._record_polls())
        for session in await self._repo.sessions_to_delete_at_google():
            self._spawn(self._cleanup.delete(session, patient=True))

    async def adopt(self, session_ids: list[int]) -> None:
        """This replica holds these picks now (their holder died, or the bot restarted): poll each while it waits,
        counting from its last poll (the overdue ones spread over one pollInterval), or deliver it."""
        waiting: list[tuple[int, float | None, float]] = []
        delivering = 0
        for session in await self._repo.get_sessions(session_ids):
            if session.status == "waiting" and not self.poller.has(session.id):  # else its next poll is set already
                waiting.append((session.id, session.last_polled_at, session.poll_interval))
            elif session.status in ("picked", "delivering") and session.id not in self._running:
                delivering += 1
                self._start_delivery(session)
        # Their previous holder wrote its polls once every RECORD_POLLS_EVERY, so if it died, its last ones may be
        # unrecorded. Another replica renewed its leases every third of LEASE_SECONDS, so it died two thirds of that
        # before they ran out, at the latest; this replica's previous life (a restart, SQLite's case) died before
        # this one started. The later of the two bounds is safe in both cases.
        now = time.time()
        delays = first_delays(waiting, now, polled_since=max(now - self._leases.seconds * 2 / 3, self._started))
        for session_id, delay in delays:
            self.poller.schedule(session_id, delay)
        if delays or delivering:
            log.info("picks adopted here: %d waiting, %d to deliver", len(delays), delivering)

    async def let_go(self, most: int) -> list[int]:
        """Up to `most` waiting picks this replica stops polling (not one whose poll is under way), their polls
        written first so that whoever takes them polls no sooner than pollInterval; returns them."""
        released = self.poller.release(most)  # first, so that none of them is polled while the polls are written
        try:
            await self._write_polls()
        except BaseException:
            self.poller.restore(released)
            raise
        return sorted(released)

    async def drop(self, session_id: int) -> None:
        """Another replica took the pick over: stop polling it, and stop its delivery (what was handed to Telegram
        is marked, so the new holder reports it rather than sending it again)."""
        self.poller.unschedule(session_id)
        task = self._running.get(session_id)
        if task is not None:
            task.cancel()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop polling; let deliveries finish the upload under way (they stop before the next one,
        everything not yet sent stays pending for the restart), then cancel whatever is left."""
        self._deliveries.stopping.set()
        await self.poller.stop()
        await self._write_polls()  # so that whoever takes these picks over polls them no sooner than pollInterval
        deliveries = list(self._running.values())
        if deliveries:
            await asyncio.wait(deliveries, timeout=grace)
        tasks = [*self._running.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- user actions ---------------------------------------------------------------------
    async def start(self, user_id: int, route: Route, max_items: int | None) -> PickSession:
        """Create a Google picking session and show its prompt in the picker's private chat.

        Raises Refused; when the prompt cannot be delivered (PROMPT_UNDELIVERABLE) nothing is left behind.
        """
        link = await self._links.status(user_id)
        if link is None:
            raise Refused(Code.NOT_LINKED)
        if link.broken:
            raise Refused(Code.LINK_BROKEN)
        await self._check_limits(user_id, route.chat_id)
        created = await self._create_session(user_id, max_items or self.limits.max_items)
        previous = await self._repo.active_session(user_id, route.chat_id)
        if previous is not None and previous.status == "waiting":
            await self._replace(previous)
        now = time.time()
        interval = created.poll_interval or DEFAULT_POLL_INTERVAL
        session = await self._repo.create_session(
            google_session_id=created.id,
            user_id=user_id,
            route=route,
            picker_uri=created.picker_uri,
            delivery_mode=await self._chat_settings.get_delivery_mode(route.target_chat_id),
            poll_interval=interval,
            poll_deadline=min(now + (created.timeout_in or DEFAULT_TIMEOUT), created.expire_time),
            expire_time=created.expire_time,
            holder=self._leases.holder,
            lease_seconds=self._leases.seconds,
            max_items=max_items,
            captions=await self._chat_settings.get_captions(route.target_chat_id),
        )
        # At once, before the prompt's round trips: the lease keeper sees the new pick's lease and may adopt it, or
        # let it go to another replica, meanwhile; a schedule after that would poll a pick another replica holds.
        if not self.poller.has(session.id):
            self.poller.schedule(session.id, interval)
        try:
            message_id = await self._messages.prompt(
                route.prompt_chat_id, session.id, created.picker_uri, link.email, max_items
            )
        except TelegramError as exc:
            if not _may_have_arrived(exc):  # a refusal (blocked, never started, chat gone): leave nothing behind
                await self._end_waiting(session, "cancelled", None)
                raise Refused(Code.PROMPT_UNDELIVERABLE) from None
            # Telegram may well have shown the prompt and only its answer was lost, so the user may be
            # choosing already. The pick waits as usual, without a message id.
            log.warning("pick %s: no answer to its prompt (%s); waiting for the pick all the same", session.id, exc)
        else:
            if not await self._repo.set_start_message(session.id, prompt=message_id):
                await self._messages.delete(route.prompt_chat_id, message_id)  # ended meanwhile: that news is sent
        if route.shared_by is not None and route.chat_id != route.prompt_chat_id:
            notice = await self._messages.notice(route.chat_id, session.id, user_id, route.shared_by, route.thread_id)
            if notice is not None and not await self._repo.set_start_message(session.id, notice=notice):
                await self._messages.delete(route.chat_id, notice)
        log.info("pick %s started by user %s in chat %s", session.id, user_id, route.chat_id)
        return session

    async def _create_session(self, user_id: int, max_items: int) -> PickingSession:
        """A new picking session at Google; Refused with what Google's refusal means for the user.

        Google refuses one when the user has too many open (retrying alone never helps): the user's own
        sessions the bot knows of are closed, and Google is asked once more.
        """
        try:
            try:
                return await self._picker.create_session(user_id, max_items)
            except TooManySessions:
                log.info("Google says user %s has too many open sessions; closing theirs and trying again", user_id)
                await self._close_sessions_of(user_id)
                return await self._picker.create_session(user_id, max_items)
        except TooManySessions:
            raise Refused(Code.GOOGLE_TOO_MANY_SESSIONS) from None
        except (LinkBroken, NotLinked):
            raise Refused(Code.LINK_BROKEN) from None
        except Misconfigured:
            raise Refused(Code.BOT_MISCONFIGURED) from None
        except GoogleUnavailable:
            raise Refused(Code.GOOGLE_DOWN) from None
        except GoogleError as exc:
            if exc.google_status == "FAILED_PRECONDITION":
                raise Refused(Code.GOOGLE_NO_PHOTOS) from None
            raise Refused(Code.GOOGLE_DOWN) from None

    async def _close_sessions_of(self, user_id: int) -> None:
        """End the user's waiting picks (their prompts say a newer pick replaced them) and delete at Google
        every session of theirs that may still be open there; picks being delivered keep theirs."""
        for session in await self._repo.active_sessions_of(user_id):
            if session.status == "waiting":
                await self._stop_waiting(session, "cancelled", Code.PICK_REPLACED)
        for session in await self._repo.sessions_to_delete_at_google():
            if session.user_id == user_id:
                await self._cleanup.delete(session)

    async def _check_limits(self, user_id: int, chat_id: int) -> None:
        """Refuse a pick beyond the user's limits, before anything is created at Google."""
        active = [
            s
            for s in await self._repo.active_sessions_of(user_id)
            if not (s.chat_id == chat_id and s.status == "waiting")
        ]  # that one would be replaced
        if len(active) >= self.limits.max_active:
            raise Refused(Code.TOO_MANY_ACTIVE, count=len(active))
        if await self._repo.count_started_since(user_id, time.time() - 3600) >= self.limits.per_hour:
            raise Refused(Code.TOO_MANY_PICKS, count=self.limits.per_hour)

    async def session_for_button(
        self, session_id: int, user_id: int, tapped: tuple[int, int] | None = None
    ) -> PickSession:
        """The waiting session a button refers to; Refused (SESSION_OVER, SESSION_NOT_YOURS) otherwise.

        `tapped` is (chat id, message id) of the message whose button was pressed: a prompt whose id was
        lost with the answer to sending it is known again from it, so its later news edits it in place.
        """
        session = await self._repo.get_session(session_id)
        if session is None:
            raise Refused(Code.SESSION_OVER)
        if session.user_id != user_id:
            raise Refused(Code.SESSION_NOT_YOURS)
        if session.status != "waiting":
            raise Refused(Code.SESSION_OVER)
        if session.prompt_message_id is None and tapped is not None and tapped[0] == session.prompt_chat_id:
            await self._repo.set_messages(session.id, prompt_message_id=tapped[1])
            session = replace(session, prompt_message_id=tapped[1])
        return session

    async def send_qr(self, session: PickSession) -> None:
        await self._messages.qr(session.prompt_chat_id, session.picker_uri)

    async def cancel(self, user_id: int, chat_id: int) -> None:
        """Cancel the user's waiting pick in this chat; its prompt then says so. Refused otherwise."""
        session = await self._repo.active_session(user_id, chat_id)
        if session is None:
            raise Refused(Code.NOTHING_TO_CANCEL)
        await self.cancel_session(session)

    async def cancel_session(self, session: PickSession) -> None:
        if session.status != "waiting":
            raise Refused(Code.CANCEL_TOO_LATE)
        if not await self._end_waiting(session, "cancelled", Code.PICK_CANCELLED):
            raise Refused(Code.SESSION_OVER)

    async def send_repeats(self, session_id: int, user_id: int) -> None:
        """ "Send them anyway": deliver the pick's repeats after all, by the file_ids of the chat's copies (nothing
        is downloaded). Only its picker may, once, within a day of its summary; Refused (REPEATS_NOT_YOURS,
        REPEATS_OVER) otherwise."""
        session = await self._repo.get_session(session_id)
        if session is not None and session.user_id != user_id:
            raise Refused(Code.REPEATS_NOT_YOURS)
        reopened = await self._reopen_for_repeats(session_id, user_id)
        if reopened is None:
            raise Refused(Code.REPEATS_OVER)
        log.info("pick %s: sending its repeats anyway", session_id)
        ending = self._running.pop(session_id, None)
        if ending is not None:  # its last run only deletes the session at Google now (patiently): not waited for
            self._background.add(ending)
            ending.add_done_callback(self._background.discard)
        self._start_delivery(reopened)

    async def _reopen_for_repeats(self, session_id: int, user_id: int) -> PickSession | None:
        """Reopen the pick for its repeats. Its summary, button included, goes out just before its run marks it
        done: a press in between (a moment; longer on a loaded database) waits for that, reading the pick, as
        the run may be another replica's."""
        deadline = time.monotonic() + FINISHING_WAIT
        waited = False
        while True:
            reopened = await self._repo.reopen_for_repeats(
                session_id, user_id, holder=self._leases.holder, lease_seconds=self._leases.seconds
            )
            if reopened is not None:
                return reopened
            session = await self._repo.get_session(session_id)
            finishing = session is not None and session.status == "delivering" and session.repeats_until is not None
            if not finishing or time.monotonic() > deadline:
                return None
            if not waited:
                log.info("pick %s: its repeats wait for its run to mark it done", session_id)
                waited = True
            await asyncio.sleep(0.05)

    async def answer_archive_offer(self, session_id: int, user_id: int, archives: bool) -> None:
        """The picker's answer to "send as ZIP files instead?"; Refused (ARCHIVE_OFFER_NOT_YOURS,
        ARCHIVE_OFFER_OVER) for anyone else, or once it was answered or timed out."""
        session = await self._repo.get_session(session_id)
        if session is not None and session.user_id != user_id:
            raise Refused(Code.ARCHIVE_OFFER_NOT_YOURS)
        if not await self._deliveries.offers.answer(session_id, user_id, archives):
            raise Refused(Code.ARCHIVE_OFFER_OVER)

    async def end(self, session: PickSession, ending: Code | None, **params: object) -> bool:
        """End a waiting pick for an outside reason (its chat is gone, its owner blocked the bot); `ending`
        replaces its prompt (None: leave the chat alone)."""
        return await self._end_waiting(session, "cancelled", ending, **params)

    # --- polling --------------------------------------------------------------------------
    async def _sessions_by_id(self, session_ids: list[int]) -> dict[int, PickSession]:
        """The picks due for a poll, read in one go: their status tells whether one was cancelled or picked meanwhile,
        here or on another replica."""
        return {session.id: session for session in await self._repo.get_sessions(session_ids)}

    async def _poll_once(self, session: PickSession) -> float | None:
        if session.status in ("picked", "delivering"):
            # Its previous holder saw it picked just before this replica took it over: the delivery is this one's.
            self._start_delivery(session)
            return None
        if session.status != "waiting":
            return None
        now = time.time()
        if now >= session.poll_deadline:
            await self._end_waiting(session, "expired", Code.PICK_EXPIRED)
            return None
        try:
            state = await self._picker.get_session(session.user_id, session.google_session_id)
        except SessionGone:
            await self._end_waiting(session, "expired", Code.PICK_EXPIRED)
            return None
        except (LinkBroken, NotLinked):
            await self._end_waiting(session, "failed", Code.LINK_BROKEN)
            return None
        except GoogleError as exc:
            log.warning("poll of pick %s failed (%s); trying again later", session.id, exc)
            return min(session.poll_interval * 2, 60.0)
        interval = state.poll_interval or session.poll_interval
        self._polls[session.id] = (time.time(), interval)
        if state.media_items_set:
            if await self._repo.set_status(session.id, "picked", only_from=["waiting"]):
                # The prompt's news goes in the background: the delivery need not wait a round trip for it.
                self._spawn(self._messages.picked(session.prompt_chat_id, session.prompt_message_id))
                if session.notice_message_id is not None:
                    # The group's "choosing photos…" line becomes the delivery's progress message.
                    await self._repo.set_messages(session.id, status_message_id=session.notice_message_id)
            # Picked now, here or by a replica that held it a moment ago: this one holds it, so it delivers.
            picked = await self._repo.get_session(session.id)
            if picked is not None and picked.status in ("picked", "delivering"):
                self._start_delivery(picked)
            return None
        if state.timeout_in is not None and state.timeout_in <= 0:
            await self._end_waiting(session, "expired", Code.PICK_EXPIRED)
            return None
        await self._remind_if_running_out(session, state.timeout_in)
        return interval

    async def _record_polls(self) -> None:
        while True:
            await asyncio.sleep(RECORD_POLLS_EVERY)
            try:
                await self._write_polls()
            except Exception:  # the database away for a moment: the next round writes them
                log.exception("could not record %d polls; trying again", len(self._polls))

    async def _write_polls(self) -> None:
        polls, self._polls = self._polls, {}
        try:
            await self._repo.record_polls([(session_id, *poll) for session_id, poll in polls.items()])
        except BaseException:
            self._polls = polls | self._polls  # kept for the next round (newer polls meanwhile win)
            raise

    async def _remind_if_running_out(self, session: PickSession, timeout_in: float | None) -> None:
        """Once, REMIND_BEFORE the link runs out with nothing picked, the prompt says so (a link that lasts only a
        few minutes in all is not reminded of: it was just shown)."""
        left = min(session.poll_deadline, session.expire_time) - time.time()
        if timeout_in is not None:
            left = min(left, timeout_in)
        lasts = session.poll_deadline - session.created_at
        if session.reminded or left > REMIND_BEFORE or lasts <= 2 * REMIND_BEFORE:
            return
        if session.prompt_message_id is None or not await self._repo.mark_reminded(session.id):
            return
        link = await self._links.status(session.user_id)
        if link is None:
            return
        await self._messages.remind(
            session.prompt_chat_id,
            session.prompt_message_id,
            session.id,
            session.picker_uri,
            link.email,
            session.max_items,
            max(left, 60.0),
        )

    async def _end_waiting(
        self,
        session: PickSession,
        status: Literal["expired", "cancelled", "failed"],
        ending: Code | None,
        **params: object,
    ) -> bool:
        """Stop a waiting session (expired, cancelled, replaced, failed) and delete it at Google.

        The deletion at Google runs in the background and waits out an outage: the user's cancel is not held
        up by Google, and the session is not left open at Google until the next restart.
        """
        if not await self._stop_waiting(session, status, ending, **params):
            return False
        self._spawn(self._cleanup.delete(session, patient=True))
        return True

    async def _stop_waiting(
        self,
        session: PickSession,
        status: Literal["expired", "cancelled", "failed"],
        ending: Code | None,
        **params: object,
    ) -> bool:
        """Stop a waiting session here, leaving it open at Google; False when it was not waiting any more.

        `ending` replaces the prompt (None: leave the chat alone); a group's notice line is removed.
        """
        stopped = await self._stop_here(session, status)
        if stopped is None:
            return False
        await self._tell_ended(stopped, status, ending, **params)
        return True

    async def _replace(self, session: PickSession) -> None:
        """A new pick replaces this waiting one. Its prompt is turned into "replaced" while the new prompt is on
        its way, a round trip sooner; but when the prompt's id is unknown that news is a new message, which must
        come first: after the new prompt it would read as news about the new pick."""
        stopped = await self._stop_here(session, "cancelled")
        if stopped is None:
            return
        told = self._tell_ended(stopped, "cancelled", Code.PICK_REPLACED)
        if stopped.prompt_message_id is not None:
            self._spawn(told)  # before the clean-up, whose claim would take the database ahead of the edit
        self._spawn(self._cleanup.delete(stopped, patient=True))
        if stopped.prompt_message_id is None:
            await told

    async def _stop_here(
        self, session: PickSession, status: Literal["expired", "cancelled", "failed"]
    ) -> PickSession | None:
        """The session stops waiting (None: it was not waiting any more); returned as stored now, with the
        messages a start still under way records only while the pick waits."""
        if not await self._repo.set_status(session.id, status, only_from=["waiting"]):
            return None
        self.poller.unschedule(session.id)
        log.info("pick %s %s", session.id, status)
        return await self._repo.get_session(session.id) or session

    async def _tell_ended(
        self,
        session: PickSession,
        status: Literal["expired", "cancelled", "failed"],
        ending: Code | None,
        **params: object,
    ) -> None:
        """The prompt says how the pick ended (`ending`; None: left alone); a group's notice line is removed."""
        if ending is not None:
            again_for = session.id if status == "expired" else None  # same chat, same limit, one tap
            await self._messages.replace(
                session.prompt_chat_id,
                session.prompt_message_id,
                ending,
                pick_again=True,
                again_for=again_for,
                **params,
            )
        await self._messages.delete(session.chat_id, session.notice_message_id)

    # --- delivery -------------------------------------------------------------------------
    def _start_delivery(self, session: PickSession) -> None:
        if session.id in self._running:
            return
        task = asyncio.create_task(self._deliver(session), name=f"deliver-{session.id}")
        self._running[session.id] = task
        task.add_done_callback(
            lambda done: self._running.pop(session.id) if self._running.get(session.id) is done else None
        )

    async def _deliver(self, session: PickSession) -> None:
        sender = await self._leases.chat_sender(session.target_chat_id)
        if sender != self._leases.holder:
            # One replica sends into a chat, so the chat's flood budget (20/min in a group) is one replica's to keep.
            log.info("pick %s goes to replica %s, which sends into chat %s", session.id, sender, session.target_chat_id)
            await self._keeper.hand_over(session.id, sender)
            return
        try:
            await self._deliveries.run(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery of pick %s failed", session.id)
            await self._messages.say(session.chat_id, Code.UNEXPECTED, thread_id=session.thread_in(session.chat_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a clean-up in the background; stop() cancels it."""
        if self._deliveries.stopping.is_set():  # stop() may have gathered its tasks already: the next start does it
            coro.close()
            return
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _remove_leftovers(folder: Path) -> None:
    """Remove the deliveries' folders (named by session id) a previous run left; nothing else in TEMP_DIR."""
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.isdigit() and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)


def _may_have_arrived(error: TelegramError) -> bool:
    """A timeout or broken connection, not a refusal (PTB's BadRequest is a NetworkError too)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)
