"""A group became a supergroup: its chat id changed, and every stored reference follows."""

from __future__ import annotations

from storage.database import Database

# Message ids are per chat: those of the old group mean nothing (or another message!) in the new one.
_UPDATES = (
    "UPDATE pick_sessions SET chat_id = :new, notice_message_id = NULL WHERE chat_id = :old",
    "UPDATE pick_sessions SET target_chat_id = :new WHERE target_chat_id = :old",
    "UPDATE pick_sessions SET report_chat_id = :new, status_message_id = NULL WHERE report_chat_id = :old",
    "UPDATE chat_intents SET chat_id = :new WHERE chat_id = :old",
    "UPDATE destinations SET chat_id = :new WHERE chat_id = :old",
    "UPDATE chat_memory SET chat_id = :new WHERE chat_id = :old",  # a new supergroup's id has no memory yet
    # The old group's setting replaces one the supergroup may already have.
    "DELETE FROM chat_settings WHERE chat_id = :new AND EXISTS (SELECT 1 FROM chat_settings WHERE chat_id = :old)",
    "UPDATE chat_settings SET chat_id = :new WHERE chat_id = :old",
    "DELETE FROM chat_languages WHERE chat_id = :new AND EXISTS (SELECT 1 FROM chat_languages WHERE chat_id = :old)",
    "UPDATE chat_languages SET chat_id = :new WHERE chat_id = :old",
    "UPDATE oauth_states SET then_pick_chat_id = :new WHERE then_pick_chat_id = :old",
)


async def upgrade_chat_id(db: Database, old: int, new: int) -> None:
    """Move everything stored under the group's `old` id to the supergroup's `new` one, all or nothing."""
    async with db.transaction() as tx:
        for sql in _UPDATES:
            await tx.execute(sql, {"old": old, "new": new})
