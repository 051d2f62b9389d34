"""A restart in the middle of a dialog loses nothing: state lives in the database (or Redis)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.services.consent import has_consent
from storage.models import Case
from tests.conftest import REDIS_URL, RunningBot, make_settings
from tests.world import office_with_case


@pytest.fixture(params=["database", "redis"])
async def fsm_settings(request, fake_api, sqlite_url, redis_unavailable):
    if request.param == "database":
        return make_settings(fake_api, sqlite_url)
    if redis_unavailable:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({redis_unavailable})")
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()
    return make_settings(fake_api, sqlite_url, redis_url=REDIS_URL)


async def test_dialog_half_way_survives_a_restart(fake_api, fsm_settings):
    first = RunningBot(create_app(fsm_settings), fake_api)
    await first.start()
    async with first.session() as session:
        token = await office_with_case(session)
    maria = first.user(501)
    await maria.send(f"/start {token}")
    await maria.press("Română")
    consent_screen = maria.last_text()
    await first.stop()

    second = RunningBot(create_app(fsm_settings), fake_api)
    await second.start()
    try:
        # The button on the consent screen from before the restart still works.
        await maria.press(second.app.i18n.gettext("I agree", locale="ro"))
        assert maria.last_text() == second.app.i18n.gettext(
            "Main menu. What would you like to do?", locale="ro"
        )
        assert consent_screen != maria.last_text()
        async with second.session() as session:
            case = await session.scalar(select(Case))
            await session.refresh(case, ["consents"])
            assert has_consent(case)
    finally:
        await second.stop()
