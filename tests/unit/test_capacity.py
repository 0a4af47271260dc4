"""Delivery slots taken in turn with their place in line, and the temp byte budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.delivery import capacity
from bot.delivery.capacity import DeliverySlots, TempSpace


async def test_slots_are_taken_in_turn_and_the_line_says_where_each_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "QUEUE_CHECK_EVERY", 0.01)
    slots = DeliverySlots(2)
    seen: dict[str, list[int]] = {"c": [], "d": []}
    order: list[str] = []

    async def deliver(name: str, hold: asyncio.Event) -> None:
        async def waiting(position: int) -> None:
            seen[name].append(position)

        await slots.take(waiting)
        order.append(name)
        await hold.wait()
        slots.give_back()

    holds = {name: asyncio.Event() for name in "abcd"}
    tasks = [asyncio.create_task(deliver(name, holds[name])) for name in "abcd"]
    await asyncio.sleep(0.05)
    assert order == ["a", "b"] and slots.waiting == 2
    assert seen["c"][-1] == 1 and seen["d"][-1] == 2
    holds["a"].set()
    await asyncio.sleep(0.05)
    assert order == ["a", "b", "c"] and seen["d"][-1] == 1  # d moved up
    for hold in holds.values():
        hold.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d"] and slots.waiting == 0


async def test_a_delivery_giving_up_its_place_leaves_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "QUEUE_CHECK_EVERY", 0.01)
    slots = DeliverySlots(1)

    async def nothing(position: int) -> None:
        return None

    await slots.take(nothing)
    waiter = asyncio.create_task(slots.take(nothing))
    await asyncio.sleep(0.03)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert slots.waiting == 0
    slots.give_back()
    await asyncio.wait_for(slots.take(nothing), 1.0)  # the slot came back, not to the one that left


async def test_the_temp_budget_is_reserved_in_turn_and_shrinks_to_what_was_written(tmp_path: Path) -> None:
    space = TempSpace(tmp_path, budget=100, min_free=0)
    first = await space.reserve(60)
    second = asyncio.create_task(space.reserve(60))
    third = asyncio.create_task(space.reserve(10))  # fits, but waits its turn behind the second
    await asyncio.sleep(0.01)
    assert not second.done() and not third.done() and space.used == 60
    first.shrink(30)  # the download wrote 30 of the 60 it might have
    await asyncio.sleep(0.01)
    assert second.done() and third.done() and space.used == 100
    first.release()
    first.release()  # twice is once
    second.result().release()
    third.result().release()
    assert space.used == 0


async def test_one_reservation_bigger_than_the_budget_goes_alone(tmp_path: Path) -> None:
    space = TempSpace(tmp_path, budget=100, min_free=0)
    big = await space.reserve(500)
    small = asyncio.create_task(space.reserve(1))
    await asyncio.sleep(0.01)
    assert not small.done()
    big.release()
    await asyncio.wait_for(small, 1.0)


async def test_the_free_space_floor(tmp_path: Path) -> None:
    assert not TempSpace(tmp_path, budget=1, min_free=0).disk_low()
    assert TempSpace(tmp_path, budget=1, min_free=10**18).disk_low()
