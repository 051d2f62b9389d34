"""Telegram handlers, one router per audience, included in the order they must be tried."""

from aiogram import F, Router

from bot.handlers import (
    counsellor,
    errors,
    group_hygiene,
    location,
    manager,
    returnee,
    returnee_money,
    staff,
    staff_checkins,
    staff_erasure,
    staff_inbox,
    staff_money,
    staff_sensitive,
    staff_updates,
    start,
    unknown,
)


def build_router() -> Router:
    router = Router(name="handlers")
    private = Router(name="private")
    private.message.filter(F.chat.type == "private")
    private.include_routers(
        start.build_router(),
        # Before the returnee's catch-all, which passes every other message on.
        returnee_money.build_router(),
        returnee.build_router(),
        location.build_router(),
        counsellor.build_router(),
        # Before staff, whose router also takes admins and answers every other message.
        manager.build_router(),
        staff.build_router(),
        unknown.build_router(),
    )
    router.include_routers(
        errors.build_router(),
        private,
        staff_money.build_router(),
        staff_checkins.build_router(),
        staff_erasure.build_router(),
        staff_updates.build_router(),
        staff_sensitive.build_router(),
        staff_inbox.build_router(),
        # Membership updates only: the bot's own (my_chat_member) and others' (chat_member).
        group_hygiene.build_router(),
    )
    # A press without data (a game's button) is no button of ours; the dialogs, tried next,
    # would fail on it.
    router.callback_query.register(unknown.unanswered_button, F.data.is_(None))
    return router
