"""One chatty chat must not stall everyone: a flood of commands in a group, with Telegram's real flood rates,
through the real bot process. `pytest -s` prints the stall measured."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot import texts
from emulators.telegram import TelegramEmulator
from tests.harness import BotProcess, Person

BOT = "photos_test_bot"
GROUP = -1001777
FLOOD = 300
GROUP_PER_MINUTE = 20
ANSWER_WITHIN = 2.0  # seconds
PATIENCE = 180.0  # how long the measurement waits for the private answer (the code before the fix took minutes)


async def test_a_flood_of_commands_in_a_group_stalls_nobody(
    make_bot: Callable[..., BotProcess], alice: Person, bob: Person, tg: TelegramEmulator
) -> None:
    tg.set_flood_limits(private_per_second=1, group_per_minute=GROUP_PER_MINUTE, overall_per_second=30)
    bot = make_bot(TELEGRAM_PRIVATE_RATE="1", TELEGRAM_GROUP_RATE_PER_MINUTE=str(GROUP_PER_MINUTE))
    await bot.start()
    try:
        tg.add_group(GROUP, "Chatty", members={alice.user_id: "member", bob.user_id: "member"})
        flood_started = time.monotonic()
        for _ in range(FLOOD):
            await alice.say(f"/help@{BOT}", chat_id=GROUP)
        await tg.wait_for(lambda: not tg.pending_updates, 30, what="the bot to take all the group's commands")
        asked = time.monotonic()
        await bob.say("/help")
        await tg.wait_for(
            lambda: any("How it works" in (m.text or "") for m in tg.messages(bob.user_id)),
            PATIENCE,
            what="Bob's private /help to be answered",
        )
        stall = time.monotonic() - asked
        print(f"\nprivate /help answered {stall:.2f} s after {FLOOD} group commands", end="; ")
        assert stall < ANSWER_WITHIN
        # The group gets no more than its budget: nothing refused, at most 20 a minute since the flood began.
        group_sends = [c for c in tg.calls if c.params.get("chat_id") == GROUP and c.method == "sendMessage"]
        assert [c for c in group_sends if c.status == 429] == []
        minutes = (time.monotonic() - flood_started) / 60
        assert len(tg.messages(GROUP)) <= GROUP_PER_MINUTE * max(1.0, minutes)
        helps = [m for m in tg.messages(GROUP) if "How it works" in (m.text or "")]
        notices = [m for m in tg.messages(GROUP) if (m.text or "") == texts.SLOW_DOWN.format(name="Alice")]
        print(f"the group got {len(helps)} answers and {len(notices)} notice in {minutes * 60:.1f} s")
        assert helps and len(notices) <= 1
    finally:
        await bot.stop()
    assert "Traceback" not in bot.logs(), bot.logs()[-5000:]
