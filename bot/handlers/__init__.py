"""Telegram handlers, one router per audience, included in the order they must be tried."""

from aiogram import F, Router

from bot.handlers import counsellor, errors, returnee, staff, start, unknown


def build_router() -> Router:
    router = Router(name="handlers")
    # Issue 2 serves private chats only; staff groups come with the shared inbox.
    router.message.filter(F.chat.type == "private")
    router.include_routers(
        errors.build_router(),
        start.build_router(),
        returnee.build_router(),
        counsellor.build_router(),
        staff.build_router(),
        unknown.build_router(),
    )
    return router
