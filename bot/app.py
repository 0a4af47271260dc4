"""Wiring: build the clients, services, PTB Application and web server; start and stop them in order."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import AsyncExitStack

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry
from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.constants import ParseMode
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import Application, Defaults, Updater
from telegram.request import HTTPXRequest

import handlers
from bot import i18n, texts
from bot.config import Settings
from bot.context import SERVICES_KEY, App, Services
from bot.crypto import KEY_FILE_NAME, Cipher, load_or_create_key, warn_if_exposed
from bot.delivery.capacity import DeliverySlots, TempSpace
from bot.delivery.offers import ArchiveOffers
from bot.delivery.pipeline import DOWNLOADS_IN_FLIGHT
from bot.delivery.run import LOCAL_UPLOAD_LIMIT, UPLOAD_LIMIT, Deliveries
from bot.flood import FloodControl
from bot.google.oauth import GoogleOAuth
from bot.google.picker import PickerClient, google_session
from bot.google.quota import PickerQuota
from bot.health import GoogleConfig, Readiness, TelegramCheck
from bot.languages import Languages
from bot.leases import LeaseKeeper, UpdatesSwitch
from bot.linking import SIGN_IN_PATH, CallbackOutcome, LinkService
from bot.logs import mask
from bot.metrics import Metrics
from bot.pick_messages import NO_PREVIEW, PickMessages
from bot.picking import PickLimits, PickService
from bot.retention import keep_purging
from bot.session_cleanup import GoogleCleanup
from bot.sharing import SharingService
from bot.telegram_send import MediaSender
from bot.throttle import ChatFairUpdates, Throttle
from bot.upload_socket import upload_transport
from bot.web import Mount, build_web_app
from bot.webhook import load_or_create_secret, update_receiver
from storage.archive_offers import ArchiveOfferRepository
from storage.chat_intents import ChatIntentRepository
from storage.chat_memory import ChatMemoryRepository
from storage.chat_settings import ChatSettingsRepository
from storage.chat_upgrades import upgrade_chat_id
from storage.database import Database, SchemaTooNew, SqliteDatabase
from storage.destinations import DestinationRepository
from storage.languages import LanguageRepository
from storage.leases import LeaseRepository
from storage.links import LinkRepository
from storage.oauth_states import OAuthStateRepository
from storage.picks import PickRepository
from storage.postgres import PostgresDatabase, describe
from storage.stats import StatsRepository

log = logging.getLogger(__name__)

GROUP_COMMANDS = ("pick", "settings", "cancel", "help")  # /forward, /link etc. only make sense privately


class StartupError(Exception):
    """Start-up cannot continue; the message says why in one line."""


async def open_database(settings: Settings) -> Database:
    """The SQLite file, or PostgreSQL when DATABASE_URL names one; connected and migrated."""
    if settings.database_path is not None:
        sqlite = SqliteDatabase(settings.database_path)
        try:
            await sqlite.open()
        except SchemaTooNew as exc:
            raise StartupError(str(exc)) from None
        return sqlite
    postgres = PostgresDatabase(settings.database_url)
    try:
        await postgres.open()
    except SchemaTooNew as exc:
        raise StartupError(str(exc)) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # asyncpg's messages name the host and user, never the password; the caller masks it anyway.
        raise StartupError(
            f"Cannot use the PostgreSQL database {describe(settings.database_url)} (DATABASE_URL): {exc}"
        ) from None
    return postgres


def build_application(settings: Settings, flood: FloodControl, updates: ChatFairUpdates) -> App:
    api = settings.telegram_api_url
    builder = Application.builder()
    if settings.telegram_webhook_url:
        builder.updater(None)  # updates arrive on our web server instead of through getUpdates
    # Every call but getUpdates goes through this request, as the builder would make it (its other settings are
    # HTTPXRequest's defaults), over a transport that lets an upload's clock see its socket.
    request = HTTPXRequest(
        read_timeout=30,
        write_timeout=30,
        media_write_timeout=600 if settings.telegram_local_mode else 120,
        httpx_kwargs={"transport": upload_transport()},
    )
    return (
        builder.token(settings.telegram_bot_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .local_mode(settings.telegram_local_mode)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW))
        .rate_limiter(flood)
        .concurrent_updates(updates)
        .get_updates_read_timeout(40)
        .request(request)  # after it: python-telegram-bot refuses a timeout of either request once this is set
        .build()
    )


async def set_commands(application: App) -> None:
    """The command menus in every language: Telegram shows the one for the user's app language (by its two
    letters: Brazilian Portuguese serves every "pt"), and English to everyone else. All at once: start-up waits
    for them, and one after the other they cost a round trip each (14 × 0.3 s in the benchmark)."""
    calls = []
    for language in i18n.LANGUAGES:
        t = texts.speaker(language)
        code = None if language == i18n.SOURCE else language.split("_")[0]
        every = [BotCommand(name, t(description)) for name, description in texts.COMMANDS]
        groups = [c for c in every if c.command in GROUP_COMMANDS]
        calls.append(application.bot.set_my_commands(every, scope=BotCommandScopeAllPrivateChats(), language_code=code))
        calls.append(application.bot.set_my_commands(groups, scope=BotCommandScopeAllGroupChats(), language_code=code))
    await asyncio.gather(*calls)


def polling(updater: Updater) -> UpdatesSwitch:
    """getUpdates on and off: only the replica holding the lease calls it (Telegram answers 409 to a second caller)."""

    async def start() -> None:
        await updater.start_polling(allowed_updates=Update.ALL_TYPES, error_callback=getting_updates_failed)

    async def stop() -> None:
        # A start cut short by shutdown may have left it running (or never begun): stop only what runs.
        if updater.running:
            await updater.stop()

    return UpdatesSwitch(start, stop)


def getting_updates_failed(error: TelegramError) -> None:
    """python-telegram-bot calls getUpdates again by itself, backing off; one line here instead of its traceback."""
    if isinstance(error, Conflict):  # another process polls with this token, or a replica that lost its lease
        log.warning("getUpdates: Telegram answered 409, another process is getting this bot's updates; retrying")
    else:
        log.warning("getUpdates failed, retrying: %s", error)


async def register_webhook(application: App, url: str, secret: str) -> None:
    """Ask Telegram to POST every kind of update to `url`; the webhook stays set across restarts."""
    try:
        await application.bot.set_webhook(url, allowed_updates=Update.ALL_TYPES, secret_token=secret)
    except TelegramError as exc:
        raise StartupError(f"Telegram refused the webhook URL {url} (TELEGRAM_WEBHOOK_URL): {exc}") from None
    log.info("receiving updates by webhook at %s", url)


async def run(settings: Settings, mount: Mount | None = None) -> None:
    """Run until SIGINT/SIGTERM; ``mount`` adds routes to the web server (the demo's page)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with AsyncExitStack() as stack:
        db = await open_database(settings)
        stack.push_async_callback(db.close)
        key = load_or_create_key(settings.encryption_key, settings.data_dir)
        mask(key)  # a generated key was not known when logging was set up
        if settings.database_path is not None:
            warn_if_exposed([settings.database_path, settings.data_dir / KEY_FILE_NAME])
        cipher = Cipher(key)
        stats = StatsRepository(db)
        metrics = Metrics(CollectorRegistry(), stats)
        metrics.identify(settings.replica_name)
        lag_watch = asyncio.create_task(metrics.watch_event_loop())
        stack.callback(lag_watch.cancel)
        google_config = GoogleConfig(metrics.google_config)

        google_http = google_session(media_connections=settings.max_deliveries * DOWNLOADS_IN_FLIGHT * 2)
        stack.push_async_callback(google_http.close)
        oauth = GoogleOAuth(
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
            redirect_uri=settings.redirect_uri,
            auth_url=settings.google_auth_url,
            token_url=settings.google_token_url,
            revoke_url=settings.google_revoke_url,
            userinfo_url=settings.google_userinfo_url,
            metrics=metrics.google,
            config=google_config,
        )
        stack.push_async_callback(oauth.aclose)
        links = LinkService(
            oauth,
            LinkRepository(db, cipher),
            OAuthStateRepository(db, cipher),
            sign_in_url=settings.public_url + SIGN_IN_PATH,
            by_paste=settings.sign_in_by_paste,
        )
        quota = PickerQuota(settings.picker_requests_per_minute)
        picker = PickerClient(settings.picker_api_url, google_http, links, metrics.google, google_config, quota)

        flood = FloodControl(settings.telegram_private_rate, settings.telegram_group_rate_per_minute, metrics.telegram)
        updates = ChatFairUpdates()
        application = build_application(settings, flood, updates)
        languages = Languages(LanguageRepository(db))
        messages = PickMessages(application.bot, languages.of_chat)
        chat_settings = ChatSettingsRepository(db)
        pick_repo = PickRepository(db)
        leases = LeaseRepository(db, settings.replica_name, settings.lease_seconds)
        if settings.database_path is not None:
            await leases.forget_all()  # SQLite: this process is the only replica
        memory = ChatMemoryRepository(db)
        retention = asyncio.create_task(keep_purging(pick_repo, settings.retention_days, memory, settings.dedup_days))
        stack.callback(retention.cancel)

        async def on_migrated(old: int, new: int) -> None:
            await upgrade_chat_id(db, old, new)

        stopping = asyncio.Event()
        upload_limit = LOCAL_UPLOAD_LIMIT if settings.telegram_local_mode else UPLOAD_LIMIT
        cleanup = GoogleCleanup(picker, pick_repo, leases)
        deliveries = Deliveries(
            picker=picker,
            repo=pick_repo,
            cleanup=cleanup,
            media=MediaSender(
                application.bot, album_limit=settings.album_max_bytes, local_files=settings.telegram_local_files
            ),
            messages=messages,
            bot=application.bot,
            on_migrated=on_migrated,
            space=TempSpace(settings.temp_dir, settings.temp_budget_bytes, settings.temp_min_free_bytes),
            slots=DeliverySlots(settings.max_deliveries),
            upload_limit=upload_limit,
            video_wait=settings.video_processing_timeout,
            max_items=settings.max_items_per_pick,
            stopping=stopping,
            replica=settings.replica_name,
            offers=ArchiveOffers(
                ArchiveOfferRepository(db),
                messages,
                minutes=settings.archive_offer_minutes,
                wait=settings.archive_offer_wait,
                private_per_minute=settings.telegram_private_rate * 60,
                group_per_minute=settings.telegram_group_rate_per_minute,
                upload_limit=upload_limit,
                stopping=stopping,
            ),
            memory=memory if settings.dedup_days > 0 else None,
        )

        def share(replicas: int) -> None:
            flood.share_overall(replicas)
            quota.share(replicas)

        # The keeper and the picks call each other: it hands them the picks it takes, they hand picks over through it.
        # It calls them only once started, below, when `picks` is bound.
        keeper = LeaseKeeper(
            leases,
            adopt=lambda session_ids: picks.adopt(session_ids),
            drop=lambda session_id: picks.drop(session_id),
            let_go=lambda most: picks.let_go(most),
            updates=None if application.updater is None else polling(application.updater),
            share=share,
        )
        picks = PickService(
            picker=picker,
            links=links,
            repo=pick_repo,
            chat_settings=chat_settings,
            messages=messages,
            deliveries=deliveries,
            limits=PickLimits(settings.max_active_picks, settings.picks_per_hour, settings.max_items_per_pick),
            leases=leases,
            keeper=keeper,
            cleanup=cleanup,
            quota=quota,
        )
        sharing = SharingService(
            bot=application.bot,
            db=db,
            picks=picks,
            pick_repo=pick_repo,
            links=links,
            intents=ChatIntentRepository(db),
            destinations=DestinationRepository(db),
            messages=messages,
        )
        application.bot_data[SERVICES_KEY] = Services(settings, links, picks, sharing, chat_settings, stats, languages)
        throttle = Throttle(settings.telegram_private_rate, settings.telegram_group_rate_per_minute)
        handlers.register(application, throttle)
        for kind, count in (
            ("flood_chats", flood.tracked_chats),
            ("throttle_budgets", throttle.tracked),
            ("chats_in_flight", updates.tracked_chats),
            ("user_locks", links.users_locked),
            ("tokens", links.tokens_cached),
        ):
            metrics.track(kind, count)
        metrics.watch_polls(picks.poller.behind)

        try:
            await application.initialize()
        except InvalidToken:  # its text holds the token itself
            raise StartupError("Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather") from None
        except TelegramError as exc:
            raise StartupError(f"Cannot reach Telegram at {settings.telegram_api_url}: {exc}") from None
        stack.push_async_callback(application.shutdown)
        await set_commands(application)

        async def on_outcome(outcome: CallbackOutcome) -> None:
            if outcome.chat_id is not None:
                t = await languages.of_chat(outcome.chat_id)
                await handlers.linking.notify_link_outcome(application.bot, sharing, t, outcome)

        async def ready() -> bool:
            return application.running and await db.ping()

        webhook_url, webhook_secret, receiver = settings.telegram_webhook_url, "", None
        if webhook_url:
            webhook_secret = load_or_create_secret(settings.telegram_webhook_secret, settings.data_dir)
            mask(webhook_secret)
            receiver = update_receiver(
                webhook_secret, application.bot, application.update_queue, lambda: application.running
            )
        web_app = build_web_app(
            links,
            on_outcome,
            lambda: application.bot.username,
            ready,
            replica=settings.replica_name,
            readiness=Readiness(
                {"database": db.ping, "telegram": TelegramCheck(application.bot), **google_config.checks()}
            ),
            metrics=metrics.exposition,
            metrics_token=settings.metrics_token,
            telegram_webhook=receiver,
            mount=mount,
            language_of=languages.of_chat,
        )
        # keepalive_timeout also closes a connection whose request's headers have not all come by then
        runner = web.AppRunner(web_app, access_log=None, keepalive_timeout=settings.http_idle_timeout)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        try:
            await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        except OSError as exc:
            raise StartupError(
                f"Cannot listen on {settings.http_host}:{settings.http_port} (HTTP_HOST/HTTP_PORT): {exc.strerror}"
            ) from None

        await application.start()
        stack.push_async_callback(application.stop)
        # Shutdown runs these in reverse: updates stop first, then picks wind down, then their leases go, then the app.
        stack.push_async_callback(keeper.release)
        stack.push_async_callback(picks.stop)
        if webhook_url:
            await register_webhook(application, webhook_url, webhook_secret)
        await picks.resume()
        await keeper.start()  # takes the getUpdates lease if free (polling) and this replica's share of the picks
        stack.push_async_callback(keeper.stop_updates)
        # What start-up made (modules, the libraries' objects, adopted picks) lives as long as the process: the cyclic
        # collector need not go through it again. Its full collections did, about 100,000 objects in 50-75 ms every
        # few seconds with 4,000 picks waiting (event-loop lag p99 76 ms, 24 ms frozen). Reference counting still
        # frees what is frozen.
        gc.collect()
        gc.freeze()
        log.info("bot @%s is running; OAuth redirect URI %s", application.bot.username, settings.redirect_uri)
        await stop.wait()
        log.info("shutting down")
