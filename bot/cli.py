"""Command line: `python -m bot run | webhook | migrate | admin ...`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from bot.config import ConfigError, Settings, load_settings
from bot.knowledge.content import ContentError
from bot.leadership import AnotherProcessRuns
from bot.log_format import TEXT_FORMAT, use_format
from bot.log_privacy import protect_handlers
from storage.encrypted import EncryptionError


class ArgumentParser(argparse.ArgumentParser):
    """Bad arguments end in one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> ArgumentParser:
    from bot.admin_cli import add_admin_commands

    parser = ArgumentParser(prog="python -m bot", description="Homeward bot")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    commands.add_parser("run", help="run the bot with long polling")
    commands.add_parser("webhook", help="run the bot as a webhook server")
    commands.add_parser("migrate", help="apply database migrations and exit")
    commands.add_parser("check", help="exit 0 if the database (and Redis, if set) answer")
    add_admin_commands(commands.add_parser("admin", help="manage offices, people, cases, invites"))
    return parser


async def _migrate(settings: Settings) -> None:
    from storage.db import create_engine
    from storage.migrate import upgrade_to_head

    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


async def _check(settings: Settings) -> int:
    from bot.health import check_dependencies

    problems = await check_dependencies(settings)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


# Never below INFO, whatever the level: at DEBUG aiosqlite logs every statement with its
# parameters, and aiogram-dialog whole messages (their text, their sender's name).
QUIET_LOGGERS = ("aiosqlite", "aiogram_dialog")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    protect_handlers(())  # token-shaped strings are hidden even before settings are read
    try:
        settings = load_settings()
        protect_handlers(settings.secrets())
        use_format(settings.log_format)
        logging.getLogger().setLevel(settings.log_level)
        if args.command == "run":
            from bot.runner import run_polling

            settings.token  # noqa: B018 - fail early with a message naming BOT_TOKEN
            asyncio.run(run_polling(settings))
        elif args.command == "webhook":
            from bot.runner import run_webhook

            settings.token  # noqa: B018
            settings.require_webhook()
            asyncio.run(run_webhook(settings))
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "check":
            return asyncio.run(_check(settings))
        else:
            from bot.admin_cli import run_admin

            return asyncio.run(run_admin(settings, args))
    except (ConfigError, EncryptionError) as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except ContentError as error:
        print(error, file=sys.stderr)
        return 2
    except AnotherProcessRuns as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
