"""All wiring in one place: create_app(settings) builds the Bot, the Dispatcher and the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from aiogram import Bot, Dispatcher
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.utils.i18n import I18n
from aiogram_dialog import setup_dialogs
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.commands import register_default_commands
from bot.config import Settings
from bot.delivery.limits import Limit, Limits
from bot.delivery.sender import Sender
from bot.handlers import build_router
from bot.handlers.group_hygiene import GroupHygiene
from bot.handlers.unknown import build_fallback_router
from bot.i18n import create_i18n
from bot.intake.redis_outage import RedisOutage
from bot.knowledge.base import KnowledgeBase
from bot.languages import SHIPPED_LANGUAGES
from bot.leadership import Leadership, LeaderWork, SingleProcessLock, sqlite_database
from bot.metrics import Metrics
from bot.middlewares.database import DatabaseMiddleware
from bot.middlewares.identity import IdentityMiddleware
from bot.middlewares.locale import PersonLocaleMiddleware
from bot.middlewares.reply_press import guard_reply_presses
from bot.once import Once
from bot.paths import KNOWLEDGE_DIR, OFFICE_SHEETS_DIR
from bot.response_types import KeepResponseTypes
from bot.scheduled import Sweeps
from bot.services.digests import DigestSchedule
from bot.services.invite_guard import InviteGuard
from bot.services.retention import Policy as RetentionPolicy
from bot.telegram.deletion import MessageDeleter
from bot.telegram.protection import ProtectPrivateChats
from bot.telegram.sent_messages import RememberPrivateMessages
from bot.telegram.session import BotApiSession
from dialogs import dialogs_router
from dialogs.protection import ProtectedWindows
from storage.db import create_engine, create_sessionmaker
from storage.encrypted import dialog_codec, keyring_of
from storage.fsm import SqlStorage, forget_chat
from storage.key_check import check_keys
from storage.migrate import upgrade_to_head

# Only what the bot handles; never business connections, whose chats belong to third parties.
# chat_member (others joining a staff group) comes only when asked for, and only to an admin.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member", "chat_member"]


@dataclass
class App:
    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    i18n: I18n
    sender: Sender
    leadership: Leadership
    sweeps: Sweeps
    metrics: Metrics
    group_hygiene: GroupHygiene
    process_lock: SingleProcessLock | None = None

    async def prepare(self) -> None:
        """Everything that must happen before the first update: schema, command menus."""
        await self.prepare_database()
        await self.prepare_telegram()

    async def prepare_database(self) -> None:
        """The schema, and on SQLite the promise that no other process uses the file."""
        database = sqlite_database(self.settings.database_url)
        if database is not None and self.process_lock is None:
            lock = SingleProcessLock(database)
            lock.acquire()
            self.process_lock = lock
        await upgrade_to_head(self.engine)
        # A missing or wrong ENCRYPTION_KEYS stops the start here, not at every read.
        await check_keys(self.engine, keyring_of(self.engine))

    async def prepare_telegram(self) -> None:
        await register_default_commands(self.bot, self.i18n)

    async def close(self) -> None:
        await self.dispatcher.storage.close()
        await self.dispatcher.fsm.events_isolation.close()
        await self.bot.session.close()
        await self.engine.dispose()
        if self.process_lock is not None:
            self.process_lock.release()
            self.process_lock = None


def _fsm_storage(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[BaseStorage, BaseEventIsolation]:
    if settings.redis_url:
        # with_destiny keeps aiogram-dialog's stacks apart from plain FSM state. Dialog state
        # untouched for DIALOG_TTL_DAYS expires (in the database, the retention purge does it).
        kept = timedelta(days=settings.dialog_ttl_days)
        # Sealed like the database's dialog state when ENCRYPTION_KEYS is set.
        dumps, loads = dialog_codec(settings.keyring())
        storage = RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(with_bot_id=True, with_destiny=True),
            state_ttl=kept,
            data_ttl=kept,
            json_dumps=dumps,
            json_loads=loads,
        )
        return storage, storage.create_isolation()
    return SqlStorage(sessionmaker), SimpleEventIsolation()


def _limits(settings: Settings) -> Limits:
    return Limits(
        overall=Limit(settings.send_overall_per_second, 1.0),
        per_group=Limit(settings.send_group_per_minute, settings.send_group_window_seconds),
        per_private=Limit(settings.send_private_burst, float(settings.send_private_burst)),
    )


def create_bot(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession] | None = None
) -> Bot:
    session = BotApiSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_base),
        timeout=settings.telegram_timeout_seconds,
    )
    session.middleware(KeepResponseTypes())
    session.middleware(ProtectPrivateChats())
    if sessionmaker is not None:
        session.middleware(RememberPrivateMessages(sessionmaker))
    return Bot(token=settings.token, session=session)


def create_app(settings: Settings) -> App:
    """Build the whole bot without touching the network or the database yet."""
    engine = create_engine(
        settings.database_url,
        settings.update_concurrency,
        busy_timeout_seconds=settings.database_busy_timeout_seconds,
        keyring=settings.keyring(),
    )
    sessionmaker = create_sessionmaker(engine)
    i18n = create_i18n(settings.default_locale)
    storage, isolation = _fsm_storage(settings, sessionmaker)

    dispatcher = Dispatcher(storage=storage, events_isolation=isolation)
    dispatcher["settings"] = settings
    # Read and checked once: a broken content file stops the start with every problem listed.
    dispatcher["knowledge"] = KnowledgeBase.from_directory(
        KNOWLEDGE_DIR, SHIPPED_LANGUAGES, sheets=OFFICE_SHEETS_DIR
    )
    dispatcher["sessionmaker"] = sessionmaker
    if settings.redis_url:
        dispatcher["redis_outage"] = RedisOutage()  # the intake says so once per outage
    dispatcher["invite_guard"] = InviteGuard(
        settings.invite_attempts, settings.invite_attempts_window_seconds
    )
    bot = create_bot(settings, sessionmaker)
    metrics = Metrics()
    sender = Sender(
        bot,
        sessionmaker,
        i18n,
        _limits(settings),
        settings.update_concurrency,
        lag_alert_seconds=settings.relay_lag_alert_seconds,
        group_retry_seconds=(
            settings.send_group_retry_seconds,
            settings.send_group_retry_max_seconds,
        ),
        switch_seconds=settings.outbound_switch_seconds,
        metrics=metrics,
        forget_chat=partial(forget_chat, storage),
    )
    dispatcher["sender"] = sender
    # Order matters: a session first, then who is speaking, then their language.
    dispatcher.update.outer_middleware(DatabaseMiddleware(sessionmaker, sender))
    dispatcher.update.outer_middleware(IdentityMiddleware())
    dispatcher["once"] = Once()
    # Every process handles updates; only the leader sends (Telegram's limits are per bot).
    leadership = Leadership(engine)
    sweeps = Sweeps(
        sessionmaker,
        sender,
        every_seconds=settings.sweep_seconds,
        digest=DigestSchedule(
            day=settings.digest_day, hour=settings.digest_hour, timezone=settings.digest_timezone
        ),
        retention_policy=RetentionPolicy(
            months=settings.retention_months,
            failed_days=settings.outbox_failed_days,
            dialog_days=settings.dialog_ttl_days,
        ),
        forget_dialogs=storage.forget if isinstance(storage, SqlStorage) else None,
        deleter=MessageDeleter(sender),
    )

    # Staff groups checked by the leader at start, in the background (a slow Telegram must not
    # hold the start), and on every change of the bot's membership (bot/handlers/group_hygiene).
    group_hygiene = GroupHygiene(bot, sessionmaker, i18n, sender)
    dispatcher["group_hygiene"] = group_hygiene

    async def lead() -> None:
        await sender.start()
        await sweeps.start()
        group_hygiene.start()

    async def step_down() -> None:
        await group_hygiene.stop()
        await sweeps.stop()
        await sender.stop()

    leader_work = LeaderWork(leadership, lead, step_down)
    dispatcher.startup.register(leader_work.startup)
    dispatcher.shutdown.register(leader_work.shutdown)

    dispatcher.include_routers(build_router(), dialogs_router(), build_fallback_router())
    setup_dialogs(dispatcher, events_isolation=isolation, message_manager=ProtectedWindows())
    # A text is a press of a reply-keyboard button only if it is one shown (Homeward shows none).
    guard_reply_presses(dispatcher)
    # After setup_dialogs, so that dialog events are rendered in the person's language too.
    PersonLocaleMiddleware(i18n).setup(dispatcher)
    return App(
        settings=settings,
        bot=bot,
        dispatcher=dispatcher,
        sender=sender,
        leadership=leadership,
        sweeps=sweeps,
        group_hygiene=group_hygiene,
        engine=engine,
        sessionmaker=sessionmaker,
        i18n=i18n,
        metrics=metrics,
    )
