from tests.world import office_with_case


async def test_returnee_taps_invite_picks_language_and_consents(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501, language_code="ro")
    await maria.send(f"/start {token}")
    print(maria.messages())
    assert maria.buttons()[:2] == ["Română", "English"]
    await maria.press("English")
    print(maria.last_text())
    await maria.press("I agree")
    print(maria.last_text(), maria.buttons())
