"""Logs never carry message text, names, usernames or invite tokens."""

from __future__ import annotations

import logging

from aiogram import F
from aiogram.types import Message

from bot.app import create_app
from tests.conftest import RunningBot, make_settings
from tests.world import office_with_case


async def test_logs_of_a_whole_onboarding_hold_nothing_personal(running_bot, caplog):
    caplog.set_level(logging.INFO)
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(
        501, first_name="Mariana", last_name="Vasilescu", username="mariana_v88"
    )
    await maria.send(f"/start {token}")
    await maria.press("English")
    await maria.press("I do not agree")
    await maria.send("They found me, I am at my aunt's house in Craiova")
    await maria.press("I agree")
    logged = caplog.text
    assert "is handled" in logged  # aiogram's per-update line: proof that logging was on
    for private in ("Mariana", "Vasilescu", "mariana_v88", token, "Craiova", "aunt"):
        assert private not in logged


async def test_a_crashing_handler_logs_no_message_text(fake_api, sqlite_url, caplog):
    caplog.set_level(logging.INFO)
    app = create_app(make_settings(fake_api, sqlite_url))

    async def crash(message: Message) -> None:
        raise RuntimeError(f"could not handle {message.text}")

    app.dispatcher.message.register(crash, F.text.contains("CRASH"))
    bot = RunningBot(app, fake_api)
    await bot.start()
    try:
        await bot.user(906).send("CRASH my address is Strada Lunga 5")
    finally:
        await bot.stop()
    assert "RuntimeError" in caplog.text  # the failure itself is logged
    assert "Strada Lunga" not in caplog.text


def test_the_log_filter_hides_the_token_the_secret_and_what_exceptions_say():
    """Whatever logger a record comes from (aiohttp quoting a URL, SQLAlchemy quoting
    parameters), the handler writes neither the secrets nor an exception's message."""
    from bot.log_privacy import PrivacyFilter

    token = "123456789:AAsecret-part-of-the-token_1234567"
    statement = "INSERT ... ('They found me in Craiova',)"
    written: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(self.format(record))

    handler = Keep()
    handler.addFilter(PrivacyFilter([token, "webhook-secret-value"]))
    logger = logging.getLogger("test.privacy")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            try:
                raise ValueError(statement)
            except ValueError as inner:
                raise ConnectionError(f"http://x/bot{token}/getMe redirected") from inner
        except ConnectionError:
            logger.exception("request to %s failed", f"http://x/bot{token}/getMe")
        logger.warning(
            "secret %s, another token 987654321:ZZotherSecretOtherSecret99", "webhook-secret-value"
        )
    finally:
        logger.removeHandler(handler)
    text = "\n".join(written)
    assert "ConnectionError (message withheld)" in text
    assert "ValueError (message withheld)" in text
    for private in (token, "AAsecret", "Craiova", "webhook-secret-value", "ZZotherSecret"):
        assert private not in text
