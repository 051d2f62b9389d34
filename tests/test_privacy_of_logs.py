"""Logs never carry message text, names, usernames or invite tokens."""

from __future__ import annotations

import logging

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
