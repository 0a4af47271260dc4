"""The services handlers need, built once in bot/app.py and found through application.bot_data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.ext import Application, ContextTypes, ExtBot, JobQueue

from bot.config import Settings
from bot.flood import SendInfo
from bot.languages import Languages
from bot.linking import LinkService
from bot.picking import PickService
from bot.sharing import SharingService
from storage.chat_settings import ChatSettingsRepository
from storage.stats import StatsRepository

SERVICES_KEY = "services"

# The python-telegram-bot Application as bot/app.py builds it.
App = Application[
    ExtBot[SendInfo],
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]


@dataclass(frozen=True)
class Services:
    settings: Settings
    links: LinkService
    picks: PickService
    sharing: SharingService
    chat_settings: ChatSettingsRepository
    stats: StatsRepository
    languages: Languages


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found = context.bot_data[SERVICES_KEY]
    assert isinstance(found, Services)
    return found
