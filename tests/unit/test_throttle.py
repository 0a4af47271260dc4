"""The throttle of commands and button presses, and the per-chat cap on updates in flight."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from telegram import Bot, Update

from bot.flood import FloodControl, ReplyDropped, SendInfo
from bot.metrics import RequestMetrics
from bot.throttle import SWEEP_EVERY, ChatFairUpdates, Throttle, Verdict

ALICE, BOB = 111, 222
GROUP = -1001


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verdicts(throttle: Throttle, user: int, chat: int, times: int) -> list[Verdict]:
    return [throttle.check(user, chat) for _ in range(times)]


def test_a_private_chat_gets_a_burst_then_one_a_second_and_one_warning() -> None:
    clock = Clock()
    throttle = Throttle(1.0, 20.0, clock)
    assert verdicts(throttle, ALICE, ALICE, 10) == [Verdict.ADMIT] * 10
    assert verdicts(throttle, ALICE, ALICE, 5) == [Verdict.WARN] + [Verdict.IGNORE] * 4
    clock.now += 1.0  # one more a second, and no second warning while Alice keeps going
    assert verdicts(throttle, ALICE, ALICE, 3) == [Verdict.ADMIT, Verdict.IGNORE, Verdict.IGNORE]
    clock.now += 10.0  # rested: a new flood is told again
    assert verdicts(throttle, ALICE, ALICE, 11) == [Verdict.ADMIT] * 10 + [Verdict.WARN]


def test_a_group_gets_its_flood_budget_whoever_asks() -> None:
    clock = Clock()
    throttle = Throttle(1.0, 20.0, clock)
    people = [ALICE + n for n in range(20)]
    assert [throttle.check(user, GROUP) for user in people] == [Verdict.ADMIT] * 20
    assert throttle.check(BOB, GROUP) is Verdict.WARN  # the group is out, though Bob asked nothing yet
    assert throttle.check(BOB, BOB) is Verdict.ADMIT  # his private chat is not
    clock.now += 3.0  # 20 a minute
    assert throttle.check(BOB, GROUP) is Verdict.ADMIT


def test_one_sender_is_held_back_in_every_chat() -> None:
    clock = Clock()
    throttle = Throttle(1.0, 600.0, clock)
    groups = [GROUP - n for n in range(12)]
    assert [throttle.check(ALICE, g) for g in groups] == [Verdict.ADMIT] * 10 + [Verdict.WARN, Verdict.IGNORE]


def test_idle_budgets_are_forgotten() -> None:
    clock = Clock()
    throttle = Throttle(1.0, 20.0, clock)
    for user in range(1, 101):
        throttle.check(user, user)
    assert throttle.tracked() == 200
    clock.now += SWEEP_EVERY
    throttle.check(ALICE, GROUP)
    assert throttle.tracked() == 2


def command(chat_id: int, update_id: int) -> Update:
    data = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat_id, "type": "supergroup" if chat_id < 0 else "private"},
            "from": {"id": ALICE, "is_bot": False, "first_name": "Alice"},
            "text": "/help",
        },
    }
    return Update.de_json(data, Bot("1:x"))


async def test_a_chat_never_holds_more_than_its_share_of_updates() -> None:
    processor = ChatFairUpdates(max_updates=4, per_chat=2)
    release = asyncio.Event()
    ran: list[int] = []

    async def handle(update_id: int) -> None:
        ran.append(update_id)
        await release.wait()

    def process(chat: int, update_id: int) -> asyncio.Task[None]:
        return asyncio.create_task(processor.process_update(command(chat, update_id), handle(update_id)))

    tasks = [process(GROUP, n) for n in range(5)] + [process(BOB, 99), process(ALICE, 98), process(ALICE, 97)]
    await asyncio.sleep(0.01)
    assert ran == [0, 1, 99, 98]  # two of the group's; the others wait without taking a place; the pool is full
    release.set()
    await asyncio.gather(*tasks)
    assert sorted(ran) == [0, 1, 2, 3, 4, 97, 98, 99]  # every update ran in the end


async def _sent() -> bool:
    return True


async def test_a_droppable_reply_is_dropped_instead_of_waiting_for_its_chat() -> None:
    flood = FloodControl(1.0, 20.0, RequestMetrics(CollectorRegistry(), "telegram", "method"))
    droppable = SendInfo(droppable=True)
    for _ in range(20):  # the group's whole budget: the next message could go in 3 s
        assert await flood.process_request(_sent, (), {}, "sendMessage", {"chat_id": GROUP}, droppable)
    with pytest.raises(ReplyDropped):
        await asyncio.wait_for(flood.process_request(_sent, (), {}, "sendMessage", {"chat_id": GROUP}, droppable), 1)
    # A private chat 1 s from its budget is near enough: the reply waits and goes.
    for _ in range(11):
        assert await flood.process_request(_sent, (), {}, "sendMessage", {"chat_id": BOB}, droppable)
