"""Asking before a long delivery: a pick that would take more than ARCHIVE_OFFER_MINUTES as albums under its chat's
flood limit is offered as ZIP archives instead ("400 photos take about 20 minutes here as albums — send as 10 ZIP
files in about 1 minute instead?"). Only the picker's answer counts; no answer within ARCHIVE_OFFER_WAIT means
albums. The offer is stored before it is asked, so a restart neither asks twice nor forgets an answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.delivery.sending import Stopping
from bot.flood import ALBUM
from bot.pick_messages import OfferEstimate, PickMessages
from storage.archive_offers import Answer, ArchiveOfferRepository
from storage.picks import PickItem, PickSession

log = logging.getLogger(__name__)

RECHECK = 5.0  # s between looks at the stored answer: another replica may have taken it
# ASSUMPTIONS, for an estimate only (nothing is known of the files before they are downloaded): an original photo
# takes about a quarter of a byte per pixel (a 12 MP phone JPEG ≈ 3 MB), a video about 30 MB, and the bot's uplink
# carries about 10 MB/s. A wrong guess makes the offer's figures rough, never the delivery wrong.
BYTES_PER_PIXEL = 0.25
PHOTO_BYTES = 3_000_000  # when the size is not listed
VIDEO_BYTES = 30_000_000
UPLINK = 10_000_000  # bytes/s
ALBUM_PHOTO_BYTES = 1_500_000  # a photo at 2560 px, as albums send it


def estimate(items: Sequence[PickItem], *, per_minute: float, upload_limit: int) -> OfferEstimate:
    """How long the items take as albums and as archives: the chat's flood budget (a bucket of one album, then
    `per_minute` messages; each album item is a message) or the uplink, whichever holds them up longer."""

    def seconds(messages: int, size: float) -> float:
        return max(max(0, messages - ALBUM) * 60 / per_minute, size / UPLINK)

    originals = sum(_original_bytes(item) for item in items)
    archives = max(1, math.ceil(originals / upload_limit))
    albums = sum(VIDEO_BYTES if item.kind == "VIDEO" else ALBUM_PHOTO_BYTES for item in items)
    return OfferEstimate(
        items=len(items),
        videos=any(item.kind == "VIDEO" for item in items),
        album_seconds=seconds(len(items), albums),
        archives=archives,
        archive_seconds=seconds(archives, originals),
    )


def _original_bytes(item: PickItem) -> float:
    if item.kind == "VIDEO":
        return VIDEO_BYTES
    if item.width and item.height:
        return item.width * item.height * BYTES_PER_PIXEL
    return PHOTO_BYTES


@dataclass
class ArchiveOffers:
    """Built once; `ask` runs inside a delivery, `answer` comes from the picker's button."""

    repo: ArchiveOfferRepository
    messages: PickMessages
    minutes: float  # ARCHIVE_OFFER_MINUTES (0: never ask)
    wait: float  # ARCHIVE_OFFER_WAIT, seconds
    private_per_minute: float
    group_per_minute: float
    upload_limit: int
    stopping: asyncio.Event

    def __post_init__(self) -> None:
        self._waiting: dict[int, asyncio.Event] = {}

    async def ask(self, session: PickSession, items: Sequence[PickItem], *, private: bool) -> bool:
        """Offer archives when albums would take long; True when the picker chose them (the pick's delivery mode
        is then 'archive', and the run switches to archives if it is not already). Asked once per pick: after a
        restart an open offer is waited for again."""
        offer = await self.repo.get(session.id)
        if offer is None:
            if self.minutes <= 0 or session.delivery_mode == "archive":
                return False
            per_minute = self.private_per_minute if private else self.group_per_minute
            figures = estimate(items, per_minute=per_minute, upload_limit=self.upload_limit)
            if figures.album_seconds <= self.minutes * 60 or figures.archive_seconds >= figures.album_seconds:
                return False
            until = time.time() + self.wait
            await self.repo.open(session.id, until)
            chat = session.report_chat_id
            message_id = await self.messages.archive_offer(chat, session.id, figures, session.thread_in(chat))
            if message_id is None:  # the chat would not take the question: albums, as if unanswered
                await self.repo.close(session.id)
                return False
            await self.repo.set_message(session.id, message_id)
        elif offer.answer is not None:
            # Answered while no run waited for it (the bot was restarting, maybe after this run read the pick): the
            # question may still wait to say so (said twice, the edit changes nothing).
            await self._ended(session, offer.message_id, offer.answer)
            return offer.answer == "archives"
        else:
            until, message_id = offer.until, offer.message_id
        answer = await self._wait(session.id, until)
        await self._ended(session, message_id, answer)
        return answer == "archives"

    async def _ended(self, session: PickSession, message_id: int | None, answer: Answer) -> None:
        log.info("pick %s: archive offer ended: %s", session.id, answer)
        chat = session.report_chat_id
        await self.messages.archive_offer_ended(chat, message_id, answer, session.thread_in(chat))

    async def answer(self, session_id: int, user_id: int, archives: bool) -> bool:
        """The picker's button; False when it is not theirs to answer or the offer is over."""
        taken = await self.repo.answer(session_id, user_id, "archives" if archives else "albums")
        if taken and (waiting := self._waiting.get(session_id)) is not None:
            waiting.set()
        return taken

    async def _wait(self, session_id: int, until: float) -> Answer:
        """The answer, or silence once `until` passes; raises Stopping when a shutdown begins (the offer stays
        open for the restart)."""
        answered = self._waiting.setdefault(session_id, asyncio.Event())
        try:
            while (left := until - time.time()) > 0:
                waits = [asyncio.create_task(answered.wait()), asyncio.create_task(self.stopping.wait())]
                try:
                    await asyncio.wait(waits, timeout=min(left, RECHECK), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in waits:
                        task.cancel()
                if self.stopping.is_set():
                    raise Stopping
                offer = await self.repo.get(session_id)
                if offer is not None and offer.answer is not None:
                    return offer.answer
        finally:
            self._waiting.pop(session_id, None)
        return await self.repo.close(session_id)
