"""/stats for the operators in ADMIN_USER_IDS, in their private chat with the bot.

Anyone else's /stats is ignored, as if the command did not exist; it is not in the command menu.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes, filters

from bot import texts
from bot.context import SERVICES_KEY, App, Services, services
from handlers.common import NEW_MESSAGES, reply, speaker

log = logging.getLogger(__name__)


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    overview = await services(context).stats.overview(since=midnight.timestamp())
    user_id = update.effective_user.id if update.effective_user else None
    log.info("an admin asked for /stats", extra={"user_id": user_id})
    t = await speaker(update, context)
    await reply(update, t(texts.ADMIN_STATS, **asdict(overview)))


def register(application: App) -> None:
    found = application.bot_data[SERVICES_KEY]
    assert isinstance(found, Services)
    admins = found.settings.admin_user_ids
    if admins:
        only_admins = NEW_MESSAGES & filters.ChatType.PRIVATE & filters.User(user_id=admins)
        application.add_handler(CommandHandler("stats", stats_command, filters=only_admins))
