"""Authorisation, proven (issue 14): every command and every button, tried by every kind of
actor in every place, on its own case and on others', with forged and replayed button data and
forged invite links, through the real bot on SQLite and PostgreSQL.

The tables hold one cell per (actor, action, place). A line is one action in one place (and,
for buttons, what the button's data points at); a column is one actor:

    str   a stranger: someone Homeward does not know (900)
    ret   the returnee of case RO-0007 (501)
    ore   the returnee of another case of the same office, RO-0008 (502)
    cou   the counsellor of RO-0007 (222; also of BG-0001, so that she is asked which case)
    oco   another counsellor, of RO-0008 only (223)
    stf   a staff member of office RO (301)
    ost   a staff member of another office, BG (401)
    mem   a member of RO's staff group who is not registered (600)
    ano   a group admin writing anonymously (sender_chat is the group itself)
    cha   a channel's post forwarded into the group (sender_chat a channel, is_automatic_forward)
    bot   another bot (from.is_bot)
    mgr   a programme manager (Role.ADMIN, 700)

Places: `private` (the actor's own chat with the bot), `topic` (RO-0007's topic in RO's
group), `general` (RO's group outside any topic), `otopic` (BG-0001's topic in BG's group:
another office's case) and `foreign` (a group that is no office's).

Targets (what a button's data points at): `own` (an object of RO-0007), `case2` (of RO-0008,
the same office's other case) and `office2` (of BG-0001, another office's case).

Cells:
    D  done: the effect happened (EFFECTS says what it is for each action), and no other
       case changed
    N  denied: no row changed, nobody but the actor saw anything (a button: only its
       answerCallbackQuery), and one "denied.<what>" audit event names the actor (ids only;
       the case when known). Someone Homeward does not know, outside an office's group,
       leaves nothing behind, not even that
    A  answered: a reply to the actor only (their help, the one answer strangers get), nothing
       changed, nothing audited
    R  relayed: the returnee's words went to their own case's topic, as every message does
    I  ignored: nothing at all (a group that is no office's, where the bot records nothing;
       /note; commands of another audience in a counsellor's chat)
    S  the same again: a second press of a button that only shows something changes nothing
    -  cannot happen on Telegram, not tried: anonymous admins and channels have no private
       chat and press no buttons (every press names a real user), bots cannot open links

"Denied" rows run first, on a world in which the rightful actor's press or command would
succeed (the "D" rows prove it, run after them), so that a denial is never just a button that
no longer works for anyone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import pkgutil
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.handlers
from bot import commands as command_menus
from bot.app import create_app
from bot.handlers import build_router
from bot.services import cases, checkins, invites, offices, people, reallocations, receipts, updates
from bot.services.clock import utcnow
from bot.services.consent import give_consent
from bot.services.receipts import ReceiptFileRef
from bot.telegram.callbacks import (
    AlertPress,
    AnswerPress,
    CheckInPress,
    CheckInStaffPress,
    EventsPress,
    LifecyclePress,
    MovePress,
    PayoutPress,
    ReceiptPress,
    StatusPress,
    UpdatePress,
)
from storage.models import (
    AuditEvent,
    Base,
    CheckIn,
    CheckInAlert,
    CheckInStatus,
    Direction,
    Payout,
    PayoutStatus,
    Person,
    Receipt,
    Role,
)
from tests.conftest import RunningBot, make_settings
from tests.fakes.bot_api import BOT_USER, Call, FakeBotApi
from tests.test_money_rules import set_programme_budget

GROUP = -1001234  # office RO's staff group
OTHER_GROUP = -1005678  # office BG's
FOREIGN_GROUP = -1009999  # a group the bot was added to that is no office's
CHANNEL = {"id": -1007770001, "type": "channel", "title": "Office news"}
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
TELEGRAM = {"id": 777000, "is_bot": False, "first_name": "Telegram"}


# ---- actors and places ---------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    key: str
    telegram_id: int
    is_bot: bool = False
    # Anonymous admins and channel posts carry a sender chat; their "from" is a stand-in.
    sender_chat: str | None = None  # "group" or "channel"

    def user(self, *, in_group: bool = False) -> dict[str, Any]:
        if self.sender_chat == "group":
            return dict(ANONYMOUS_ADMIN)
        if self.sender_chat == "channel":
            return dict(TELEGRAM)
        # The fake fails any Telegram name of someone who wrote privately that reaches a group.
        # The bot's replies in a group quote the group message they answer, with its sender's
        # name, which that group sees anyway: so the actors go by other names in groups.
        name = "Member" if in_group else "Profile"
        return {
            "id": self.telegram_id,
            "is_bot": self.is_bot,
            "first_name": f"{name}{self.telegram_id}",
            "last_name": f"Surname{name}{self.telegram_id}",
            "username": f"{name.lower()}{self.telegram_id}",
            "language_code": "en",
        }


ACTORS = (
    Actor("str", 900),
    Actor("ret", 501),
    Actor("ore", 502),
    Actor("cou", 222),
    Actor("oco", 223),
    Actor("stf", 301),
    Actor("ost", 401),
    Actor("mem", 600),
    Actor("ano", 0, sender_chat="group"),
    Actor("cha", 0, sender_chat="channel"),
    Actor("bot", 5000, is_bot=True),
    Actor("mgr", 700),
)
BY_KEY = {actor.key: actor for actor in ACTORS}
PLACES = ("private", "topic", "general", "otopic", "foreign")
TARGETS = ("own", "case2", "office2")
OFFICE_GROUPS = (GROUP, OTHER_GROUP)


@dataclass(frozen=True)
class Row:
    action: str
    place: str
    target: str
    cells: dict[str, str]  # actor key: expected outcome


def parse_table(table: str, *, with_target: bool) -> list[Row]:
    rows = []
    for line in table.strip().splitlines():
        line = line.split("#")[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        head = 3 if with_target else 2
        action, *rest = words[:head]
        target = rest[0] if with_target else "own"
        place = rest[-1]
        outcomes = words[head:]
        assert len(outcomes) == len(ACTORS), f"{line!r}: one cell per actor"
        assert place in PLACES, line
        assert target in TARGETS, line
        rows.append(Row(action, place, target, dict(zip(BY_KEY, outcomes, strict=True))))
    return rows


# ---- the commands ---------------------------------------------------------------------------
# Private commands of the returnee, the counsellor, staff and managers (bot/commands.py and the
# private routers), then the commands of an office's group (bot/handlers/staff_*.py). A command
# of another audience typed in a returnee's chat is a message to their office like any other.

COMMAND_TABLE = """
#                              str ret ore cou oco stf ost mem ano cha bot mgr
/start          private         A   D   D   D   D   D   D   A   -   -   A   D
/start          topic           N   N   N   N   N   A   N   N   N   N   N   N
/start          general         N   N   N   N   N   N   N   N   N   N   N   N
/start          otopic          N   N   N   N   N   N   A   N   N   N   N   N
/start          foreign         I   I   I   I   I   I   I   I   I   I   I   I
/menu           private         A   D   D   I   I   A   A   A   -   -   A   A
/menu           topic           N   N   N   N   N   A   N   N   N   N   N   N
/menu           general         N   N   N   N   N   N   N   N   N   N   N   N
/menu           otopic          N   N   N   N   N   N   A   N   N   N   N   N
/menu           foreign         I   I   I   I   I   I   I   I   I   I   I   I
/questions      private         A   D   D   D   D   A   A   A   -   -   A   A
/questions      topic           N   N   N   N   N   A   N   N   N   N   N   N
/questions      general         N   N   N   N   N   N   N   N   N   N   N   N
/questions      otopic          N   N   N   N   N   N   A   N   N   N   N   N
/questions      foreign         I   I   I   I   I   I   I   I   I   I   I   I
/receipt        private         A   D   D   I   I   A   A   A   -   -   A   A
/receipt        topic           N   N   N   N   N   A   N   N   N   N   N   N
/receipt        general         N   N   N   N   N   N   N   N   N   N   N   N
/receipt        otopic          N   N   N   N   N   N   A   N   N   N   N   N
/receipt        foreign         I   I   I   I   I   I   I   I   I   I   I   I
/language       private         A   D   D   I   I   A   A   A   -   -   A   A
/language       topic           N   N   N   N   N   A   N   N   N   N   N   N
/language       general         N   N   N   N   N   N   N   N   N   N   N   N
/language       otopic          N   N   N   N   N   N   A   N   N   N   N   N
/language       foreign         I   I   I   I   I   I   I   I   I   I   I   I
/privacy        private         A   D   D   I   I   A   A   A   -   -   A   A
/privacy        topic           N   N   N   N   N   A   N   N   N   N   N   N
/privacy        general         N   N   N   N   N   N   N   N   N   N   N   N
/privacy        otopic          N   N   N   N   N   N   A   N   N   N   N   N
/privacy        foreign         I   I   I   I   I   I   I   I   I   I   I   I
/help           private         A   D   D   D   D   D   D   A   -   -   A   D
/help           topic           N   N   N   N   N   A   N   N   N   N   N   N
/help           general         N   N   N   N   N   N   N   N   N   N   N   N
/help           otopic          N   N   N   N   N   N   A   N   N   N   N   N
/help           foreign         I   I   I   I   I   I   I   I   I   I   I   I
/cases          private         A   R   R   D   D   A   A   A   -   -   A   A
/cases          topic           N   N   N   N   N   A   N   N   N   N   N   N
/cases          general         N   N   N   N   N   N   N   N   N   N   N   N
/cases          otopic          N   N   N   N   N   N   A   N   N   N   N   N
/cases          foreign         I   I   I   I   I   I   I   I   I   I   I   I
/search         private         A   R   R   D   D   A   A   A   -   -   A   A
/search         topic           N   N   N   N   N   A   N   N   N   N   N   N
/search         general         N   N   N   N   N   N   N   N   N   N   N   N
/search         otopic          N   N   N   N   N   N   A   N   N   N   N   N
/search         foreign         I   I   I   I   I   I   I   I   I   I   I   I
/settings       private         A   R   R   D   D   A   A   A   -   -   A   A
/settings       topic           N   N   N   N   N   A   N   N   N   N   N   N
/settings       general         N   N   N   N   N   N   N   N   N   N   N   N
/settings       otopic          N   N   N   N   N   N   A   N   N   N   N   N
/settings       foreign         I   I   I   I   I   I   I   I   I   I   I   I
/stats          private         A   R   R   I   I   A   A   A   -   -   A   D
/stats          topic           N   N   N   N   N   A   N   N   N   N   N   N
/stats          general         N   N   N   N   N   N   N   N   N   N   N   N
/stats          otopic          N   N   N   N   N   N   A   N   N   N   N   N
/stats          foreign         I   I   I   I   I   I   I   I   I   I   I   I
/note           private         A   R   R   I   I   A   A   A   -   -   A   A
/note           topic           N   N   N   N   N   D   N   N   N   N   N   N
/note           general         I   I   I   I   I   D   I   I   I   I   I   I
/note           otopic          N   N   N   N   N   N   D   N   N   N   N   N
/note           foreign         I   I   I   I   I   I   I   I   I   I   I   I
/card           private         A   R   R   I   I   A   A   A   -   -   A   A
/card           topic           N   N   N   N   N   D   N   N   N   N   N   N
/card           general         N   N   N   N   N   N   N   N   N   N   N   N
/card           otopic          N   N   N   N   N   N   D   N   N   N   N   N
/card           foreign         I   I   I   I   I   I   I   I   I   I   I   I
/claim          private         A   R   R   I   I   A   A   A   -   -   A   A
/claim          topic           N   N   N   N   N   D   N   N   N   N   N   N
/claim          general         N   N   N   N   N   N   N   N   N   N   N   N
/claim          otopic          N   N   N   N   N   N   D   N   N   N   N   N
/claim          foreign         I   I   I   I   I   I   I   I   I   I   I   I
/assign         private         A   R   R   I   I   A   A   A   -   -   A   A
/assign         topic           N   N   N   N   N   D   N   N   N   N   N   N
/assign         general         N   N   N   N   N   N   N   N   N   N   N   N
/assign         otopic          N   N   N   N   N   N   D   N   N   N   N   N
/assign         foreign         I   I   I   I   I   I   I   I   I   I   I   I
/close          private         A   R   R   I   I   A   A   A   -   -   A   A
/close          topic           N   N   N   N   N   D   N   N   N   N   N   N
/close          general         N   N   N   N   N   N   N   N   N   N   N   N
/close          otopic          N   N   N   N   N   N   D   N   N   N   N   N
/close          foreign         I   I   I   I   I   I   I   I   I   I   I   I
/close-case     private         A   R   R   I   I   A   A   A   -   -   A   A
/close-case     topic           N   N   N   N   N   D   N   N   N   N   N   N
/close-case     general         N   N   N   N   N   N   N   N   N   N   N   N
/close-case     otopic          N   N   N   N   N   N   D   N   N   N   N   N
/close-case     foreign         I   I   I   I   I   I   I   I   I   I   I   I
/s              private         A   R   R   I   I   A   A   A   -   -   A   A
/s              topic           N   N   N   N   N   D   N   N   N   N   N   N
/s              general         N   N   N   N   N   N   N   N   N   N   N   N
/s              otopic          N   N   N   N   N   N   D   N   N   N   N   N
/s              foreign         I   I   I   I   I   I   I   I   I   I   I   I
/s-save         private         A   R   R   I   I   A   A   A   -   -   A   A
/s-save         topic           N   N   N   N   N   D   N   N   N   N   N   N
/s-save         general         N   N   N   N   N   D   N   N   N   N   N   N
/s-save         otopic          N   N   N   N   N   N   D   N   N   N   N   N
/s-save         foreign         I   I   I   I   I   I   I   I   I   I   I   I
/s-send         private         A   R   R   I   I   A   A   A   -   -   A   A
/s-send         topic           N   N   N   N   N   D   N   N   N   N   N   N
/s-send         general         N   N   N   N   N   N   N   N   N   N   N   N
/s-send         otopic          N   N   N   N   N   N   D   N   N   N   N   N
/s-send         foreign         I   I   I   I   I   I   I   I   I   I   I   I
/s-delete       private         A   R   R   I   I   A   A   A   -   -   A   A
/s-delete       topic           N   N   N   N   N   D   N   N   N   N   N   N
/s-delete       general         N   N   N   N   N   D   N   N   N   N   N   N
/s-delete       otopic          N   N   N   N   N   N   D   N   N   N   N   N
/s-delete       foreign         I   I   I   I   I   I   I   I   I   I   I   I
/kb             private         A   R   R   I   I   A   A   A   -   -   A   A
/kb             topic           N   N   N   N   N   D   N   N   N   N   N   N
/kb             general         N   N   N   N   N   N   N   N   N   N   N   N
/kb             otopic          N   N   N   N   N   N   D   N   N   N   N   N
/kb             foreign         I   I   I   I   I   I   I   I   I   I   I   I
/location       private         A   R   R   I   I   A   A   A   -   -   A   A
/location       topic           N   N   N   N   N   D   N   N   N   N   N   N
/location       general         N   N   N   N   N   N   N   N   N   N   N   N
/location       otopic          N   N   N   N   N   N   D   N   N   N   N   N
/location       foreign         I   I   I   I   I   I   I   I   I   I   I   I
/paid           private         A   R   R   I   I   A   A   A   -   -   A   A
/paid           topic           N   N   N   N   N   D   N   N   N   N   N   N
/paid           general         N   N   N   N   N   N   N   N   N   N   N   N
/paid           otopic          N   N   N   N   N   N   D   N   N   N   N   N
/paid           foreign         I   I   I   I   I   I   I   I   I   I   I   I
/reject         private         A   R   R   I   I   A   A   A   -   -   A   A
/reject         topic           N   N   N   N   N   D   N   N   N   N   N   N
/reject         general         N   N   N   N   N   N   N   N   N   N   N   N
/reject         otopic          N   N   N   N   N   N   D   N   N   N   N   N
/reject         foreign         I   I   I   I   I   I   I   I   I   I   I   I
/ask            private         A   R   R   I   I   A   A   A   -   -   A   A
/ask            topic           N   N   N   N   N   D   N   N   N   N   N   N
/ask            general         N   N   N   N   N   N   N   N   N   N   N   N
/ask            otopic          N   N   N   N   N   N   D   N   N   N   N   N
/ask            foreign         I   I   I   I   I   I   I   I   I   I   I   I
/budget         private         A   R   R   I   I   A   A   A   -   -   A   A
/budget         topic           N   N   N   N   N   D   N   N   N   N   N   N
/budget         general         N   N   N   N   N   N   N   N   N   N   N   N
/budget         otopic          N   N   N   N   N   N   D   N   N   N   N   N
/budget         foreign         I   I   I   I   I   I   I   I   I   I   I   I
/update         private         A   R   R   I   I   A   A   A   -   -   A   A
/update         topic           N   N   N   N   N   D   N   N   N   N   N   N
/update         general         N   N   N   N   N   N   N   N   N   N   N   N
/update         otopic          N   N   N   N   N   N   D   N   N   N   N   N
/update         foreign         I   I   I   I   I   I   I   I   I   I   I   I
/plan           private         A   R   R   I   I   A   A   A   -   -   A   A
/plan           topic           N   N   N   N   N   D   N   N   N   N   N   N
/plan           general         N   N   N   N   N   N   N   N   N   N   N   N
/plan           otopic          N   N   N   N   N   N   D   N   N   N   N   N
/plan           foreign         I   I   I   I   I   I   I   I   I   I   I   I
/drop           private         A   R   R   I   I   A   A   A   -   -   A   A
/drop           topic           N   N   N   N   N   D   N   N   N   N   N   N
/drop           general         N   N   N   N   N   N   N   N   N   N   N   N
/drop           otopic          N   N   N   N   N   N   D   N   N   N   N   N
/drop           foreign         I   I   I   I   I   I   I   I   I   I   I   I
/checkins       private         A   R   R   I   I   A   A   A   -   -   A   A
/checkins       topic           N   N   N   N   N   D   N   N   N   N   N   N
/checkins       general         N   N   N   N   N   N   N   N   N   N   N   N
/checkins       otopic          N   N   N   N   N   N   D   N   N   N   N   N
/checkins       foreign         I   I   I   I   I   I   I   I   I   I   I   I
/sensitive      private         A   R   R   I   I   A   A   A   -   -   A   A
/sensitive      topic           N   N   N   N   N   A   N   N   N   N   N   N
/sensitive      general         N   N   N   N   N   N   N   N   N   N   N   N
/sensitive      otopic          N   N   N   N   N   N   A   N   N   N   N   N
/sensitive      foreign         I   I   I   I   I   I   I   I   I   I   I   I
"""

# What each command line types: {staff} is the place's own staff member, {place} the place.
COMMAND_TEXTS = {
    "/search": "/search receipt",
    "/stats": "/stats 2020-01-01 2020-12-31",  # a period without data: no chart to draw
    "/note": "/note called the landlord",
    "/assign": "/assign {staff}",
    "/close-case": "/close case",
    "/s-save": "/s save hours-{place} en Mon-Fri 9-17",
    "/s-send": "/s hours-{place}",
    "/s-delete": "/s delete hours-{place}",
    "/kb": "/kb receipt-what-counts",
    "/reject": "/reject 2 the photo cannot be read",
    "/ask": "/ask 3 which shop is this from?",
    "/plan": "/plan tailoring course, then a shop",
}


# ---- the buttons ----------------------------------------------------------------------------
# Every CallbackData of bot/telegram/callbacks.py and bot/handlers/: staff buttons live in the
# case's topic, the returnee's and the counsellor's in their private chat. One line per
# button, target and place; `case2` and `office2` are data forged to point at another case.

BUTTON_TABLE = """
#                                str ret ore cou oco stf ost mem ano cha bot mgr
rc:full      own      private     N   N   N   N   N   N   N   N   -   -   N   N
rc:full      own      topic       N   N   N   N   N   D   N   N   -   -   N   N
rc:full      own      general     N   N   N   N   N   N   N   N   -   -   N   N
rc:full      own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
rc:full      own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
rc:full      case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
rc:full      office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
rc:full      office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
po:paid      own      private     N   N   N   N   N   N   N   N   -   -   N   N
po:paid      own      topic       N   N   N   N   N   D   N   N   -   -   N   N
po:paid      own      general     N   N   N   N   N   N   N   N   -   -   N   N
po:paid      own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
po:paid      own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
po:paid      case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
po:paid      office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
po:paid      office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
po:received  own      private     N   D   N   N   N   N   N   N   -   -   N   N
po:received  own      topic       N   N   N   N   N   N   N   N   -   -   N   N
po:received  own      general     N   N   N   N   N   N   N   N   -   -   N   N
po:received  own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
po:received  own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
po:received  case2    private     N   N   D   N   N   N   N   N   -   -   N   N
po:received  office2  private     N   N   N   N   N   N   N   N   -   -   N   N
ra           own      private     N   D   N   N   N   N   N   N   -   -   N   N
ra           own      topic       N   N   N   N   N   N   N   N   -   -   N   N
ra           own      general     N   N   N   N   N   N   N   N   -   -   N   N
ra           own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
ra           own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
ra           case2    private     N   N   D   N   N   N   N   N   -   -   N   N
ra           office2  private     N   N   N   N   N   N   N   N   -   -   N   N
mv:yes       own      private     N   N   N   N   N   N   N   N   -   -   N   N
mv:yes       own      topic       N   N   N   N   N   D   N   N   -   -   N   N
mv:yes       own      general     N   N   N   N   N   N   N   N   -   -   N   N
mv:yes       own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
mv:yes       own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
mv:yes       case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
mv:yes       office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
mv:yes       office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
ci           own      private     N   D   N   N   N   N   N   N   -   -   N   N
ci           own      topic       N   N   N   N   N   N   N   N   -   -   N   N
ci           own      general     N   N   N   N   N   N   N   N   -   -   N   N
ci           own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
ci           own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
ci           case2    private     N   N   D   N   N   N   N   N   -   -   N   N
ci           office2  private     N   N   N   N   N   N   N   N   -   -   N   N
al           own      private     N   N   N   N   N   N   N   N   -   -   N   N
al           own      topic       N   N   N   N   N   D   N   N   -   -   N   N
al           own      general     N   N   N   N   N   N   N   N   -   -   N   N
al           own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
al           own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
al           case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
al           office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
al           office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
cs:skip      own      private     N   N   N   N   N   N   N   N   -   -   N   N
cs:skip      own      topic       N   N   N   N   N   D   N   N   -   -   N   N
cs:skip      own      general     N   N   N   N   N   N   N   N   -   -   N   N
cs:skip      own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
cs:skip      own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
cs:skip      case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
cs:skip      office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
cs:skip      office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
us           own      private     N   N   N   N   N   N   N   N   -   -   N   N
us           own      topic       N   N   N   N   N   D   N   N   -   -   N   N
us           own      general     N   N   N   N   N   N   N   N   -   -   N   N
us           own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
us           own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
us           case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
us           office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
us           office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
ud:send      own      private     N   N   N   N   N   N   N   N   -   -   N   N
ud:send      own      topic       N   N   N   N   N   D   N   N   -   -   N   N
ud:send      own      general     N   N   N   N   N   N   N   N   -   -   N   N
ud:send      own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
ud:send      own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
ud:send      case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
ud:send      office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
ud:send      office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
ev:on        own      private     N   N   N   D   D   N   N   N   -   -   N   N
ev:on        own      topic       N   N   N   N   N   N   N   N   -   -   N   N
ev:on        own      general     N   N   N   N   N   N   N   N   -   -   N   N
ev:on        own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
ev:on        own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
about        own      private     N   N   N   D   N   N   N   N   -   -   N   N
about        own      topic       N   N   N   N   N   N   N   N   -   -   N   N
about        own      general     N   N   N   N   N   N   N   N   -   -   N   N
about        own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
about        own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
about        case2    private     N   N   N   N   D   N   N   N   -   -   N   N
about        office2  private     N   N   N   D   N   N   N   N   -   -   N   N
loc:yes      own      private     N   D   N   N   N   N   N   N   -   -   N   N
loc:yes      own      topic       N   N   N   N   N   N   N   N   -   -   N   N
loc:yes      own      general     N   N   N   N   N   N   N   N   -   -   N   N
loc:yes      own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
loc:yes      own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
loc:yes      case2    private     N   N   D   N   N   N   N   N   -   -   N   N
loc:yes      office2  private     N   N   N   N   N   N   N   N   -   -   N   N
lc:close     own      private     N   N   N   N   N   N   N   N   -   -   N   N
lc:close     own      topic       N   N   N   N   N   D   N   N   -   -   N   N
lc:close     own      general     N   N   N   N   N   N   N   N   -   -   N   N
lc:close     own      otopic      N   N   N   N   N   N   N   N   -   -   N   N
lc:close     own      foreign     N   N   N   N   N   N   N   N   -   -   N   N
lc:close     case2    topic       N   N   N   N   N   N   N   N   -   -   N   N
lc:close     office2  topic       N   N   N   N   N   N   N   N   -   -   N   N
lc:close     office2  otopic      N   N   N   N   N   N   D   N   -   -   N   N
"""
# Closing a case ends it: those rows run last (the other buttons need it open).
LAST = ("lc:",)

# Who presses a button rightfully, and where: the forged and replayed data are tried by them.
RIGHTFUL = {
    "rc": ("stf", "topic"),
    "po:paid": ("stf", "topic"),
    "po:received": ("ret", "private"),
    "po:not_received": ("ret", "private"),
    "ra": ("ret", "private"),
    "mv": ("stf", "topic"),
    "ci": ("ret", "private"),
    "al": ("stf", "topic"),
    "cs": ("stf", "topic"),
    "us": ("stf", "topic"),
    "ud": ("stf", "topic"),
    "ev": ("cou", "private"),
    "about": ("cou", "private"),
    "loc": ("ret", "private"),
    "lc": ("stf", "topic"),
}

# Data the rightful presser could never have been given. Every one is refused.
# {data}: the button's own data; {prefix}:...{rest}: it with its first field (an id) replaced.
FORGED_DATA = {
    "letters for an id": "{prefix}:abc{rest}",
    "id 0": "{prefix}:0{rest}",
    "a negative id": "{prefix}:-1{rest}",
    "an id nothing has": "{prefix}:2000000000{rest}",
    "an id beyond 32 bits": "{prefix}:2147483648{rest}",
    "an id beyond 64 bits": "{prefix}:99999999999999999999{rest}",
    "over-long data": "{data}" + ":x" * 150,
    "the prefix alone": "{prefix}:",
    "empty data": "",
    "no prefix of ours": "hello",
}
# And per button, data that names real things wrongly: FORGED_BY_BUTTON below.


# ---- the world ------------------------------------------------------------------------------


@dataclass
class CaseObjects:
    """One case and an object for each of its buttons, made through the services."""

    code: str
    case_id: int
    returnee: int  # Telegram id
    chat: int  # its office's group
    topic: int = 0
    r_full: int = 0  # receipt approved by rc:full
    r_reason: int = 0  # receipt rejected by a reason
    r_answer: int = 0  # receipt with a question to the returnee (ra)
    p_due: int = 0  # an instalment to mark paid
    p_received: int = 0  # paid, the returnee says it arrived
    p_not_received: int = 0  # paid, the returnee says it did not
    line: int = 0  # a requested move of money
    check_in: int = 0  # asked, waiting for the returnee
    alert: int = 0  # open
    draft: int = 0  # a status update waiting to be sent
    skip_month: int = 2  # a scheduled check-in


@dataclass
class Targets:
    own: CaseObjects
    case2: CaseObjects
    office2: CaseObjects

    def of(self, key: str) -> CaseObjects:
        return {"own": self.own, "case2": self.case2, "office2": self.office2}[key]


@dataclass
class World:
    bot: RunningBot
    targets: Targets
    returnee_token: str  # the invite RO-0007's returnee used
    writes: Writes
    audit_mark: int = 0  # the newest audit event seen
    people: dict[int, int] = field(default_factory=dict)  # Telegram id: person id

    async def know_people(self) -> None:
        async with self.bot.session() as session:
            rows = await session.execute(select(Person.telegram_user_id, Person.id))
            self.people = {telegram_id: id_ for telegram_id, id_ in rows}

    def person_of(self, telegram_id: int) -> int | None:
        return self.people.get(telegram_id) if telegram_id else None

    async def sync(self) -> None:
        """After the test itself changed something (a new link, a receipt moved on): what it
        queued has left, and its audit lines are not the next cell's."""
        await settled(self.bot)
        self.writes.take()
        async with self.bot.session() as session:
            last = await session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
        self.audit_mark = int(last or 0)

    @property
    def api(self) -> FakeBotApi:
        return self.bot.api


def settings_for(api: FakeBotApi, database_url: str) -> Any:
    # The tables send hundreds of replies within a minute: Telegram's windows would make them
    # wait, which is not what is tested here.
    return make_settings(
        api,
        database_url,
        send_group_per_minute=100_000,
        send_private_burst=100_000,
        send_overall_per_second=100_000,
        invite_attempts=1_000,
    )


@pytest.fixture(autouse=True)
def no_update_fails(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A forged update is refused, never a crash: the bot's error handler logs none."""
    yield
    failed = [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.handlers.errors" and r.levelno >= logging.ERROR
    ]
    assert not failed, "updates failed:\n" + "\n".join(failed)


@pytest.fixture
async def world(fake_api: FakeBotApi, database_url: str) -> AsyncIterator[World]:
    bot = RunningBot(create_app(settings_for(fake_api, database_url)), fake_api)
    await bot.start()
    try:
        yield await build_world(bot)
    finally:
        await bot.stop()


async def build_world(bot: RunningBot) -> World:
    api = bot.api
    return_date = utcnow().date() - timedelta(days=20)
    tokens: dict[str, str] = {}
    async with bot.session() as s:
        for code, group in (("RO", GROUP), ("BG", OTHER_GROUP)):
            await offices.add_office(
                s,
                code=code,
                name=f"IOM {code}",
                country=code,
                timezone="Europe/Bucharest",
                languages=["en"],
                group_chat_id=group,
            )
        await people.add_counsellor(
            s, telegram_user_id=222, name="Mette", organisation="CMM", language="en"
        )
        await people.add_counsellor(
            s, telegram_user_id=223, name="Lars", organisation="DRC", language="en"
        )
        await people.add_staff(s, office_code="RO", telegram_user_id=301, name="Ana")
        await people.add_staff(s, office_code="BG", telegram_user_id=401, name="Ivan")
        await people.add_admin(s, telegram_user_id=700, name="Programme manager", language="en")
        await set_programme_budget(s, "dk")
        for code, counsellor, returnee in (
            ("RO-0007", 222, 501),
            ("RO-0008", 223, 502),
            ("BG-0001", 222, 503),
        ):
            await cases.add_case(
                s,
                office_code=code[:2],
                code=code,
                language="en",
                return_date=return_date,
                counsellor_telegram_ids=[counsellor],
                programme="dk",
            )
            issued = await invites.invite_returnee(s, case_code=code, ttl_days=14)
            joined = await invites.redeem(s, token=issued.token, telegram_user_id=returnee)
            assert joined.person is not None
            assert joined.case is not None
            joined.person.language = "en"
            give_consent(s, joined.case, joined.person, language="en")
            tokens[code] = issued.token
        await s.commit()
    # Each returnee shares a location: their case's topic opens, and staff may ask to see it.
    for returnee in (501, 502, 503):
        message = {
            "message_id": api.next_message_id(),
            "date": int(time.time()),
            "chat": private_chat(returnee),
            "from": BY_ID.get(returnee, Actor("x", returnee)).user(),
            "location": {"latitude": 44.43, "longitude": 26.1},
        }
        await api.handled(await api.push_update("message", message))
    await bot.settled()
    objects = [await _objects(bot, code) for code in ("RO-0007", "RO-0008", "BG-0001")]
    await bot.settled()
    world = World(bot, Targets(*objects), tokens["RO-0007"], Writes(bot.app.engine))
    world.audit_mark = (await snapshot(bot))[1]
    await world.know_people()
    return world


BY_ID = {actor.telegram_id: actor for actor in ACTORS if actor.telegram_id}


def private_chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": f"Profile{user_id}"}


def group_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": "A group", "is_forum": True}


async def _objects(bot: RunningBot, code: str) -> CaseObjects:
    """Receipts, payouts, a move of money, a check-in asked and answered with an alert and
    a draft update for the case, each through its service, as staff and returnee make them."""
    api = bot.api
    async with bot.session() as s:
        case = await cases.get_case(s, code)
        assert case.returnee is not None
        assert case.topic_id is not None
        staff = await s.scalar(
            select(Person).where(Person.office_id == case.office_id, Person.role == Role.STAFF)
        )
        assert staff is not None
        returnee = case.returnee
        objects = CaseObjects(
            code, case.id, returnee.telegram_user_id, case.inbox_chat_id or 0, case.topic_id
        )
        numbers: list[int] = []
        for n in range(5):
            photo: dict[str, Any] = {
                "message_id": api.next_message_id(),
                "date": int(time.time()),
                "chat": private_chat(returnee.telegram_user_id),
                "photo": [
                    {
                        "file_id": f"f{code}{n}",
                        "file_unique_id": f"u{code}{n}",
                        "width": 9,
                        "height": 9,
                    }
                ],
            }
            api.user_messages[(returnee.telegram_user_id, photo["message_id"])] = photo
            receipt = await receipts.submit(
                s,
                case,
                returnee,
                category="housing",
                amount=Decimal("100"),
                currency="DKK",
                description=f"rent part {n + 1}",
                files=[
                    ReceiptFileRef(
                        photo["photo"][0]["file_unique_id"],
                        returnee.telegram_user_id,
                        photo["message_id"],
                    )
                ],
                on=utcnow().date(),
            )
            numbers.append(receipt.id)
        # Numbers 2 and 3 stay open for /reject 2 and /ask 3.
        objects.r_full, objects.r_reason, objects.r_answer = numbers[0], numbers[3], numbers[4]
        await receipts.ask(s, objects.r_answer, staff, "which shop is this from?")
        due = list(
            await s.scalars(
                select(Payout)
                .where(Payout.case_id == case.id, Payout.status == PayoutStatus.DUE)
                .order_by(Payout.id)
            )
        )
        objects.p_due = due[0].id
        for payout, attribute in ((due[1], "p_received"), (due[2], "p_not_received")):
            await receipts.mark_paid(s, case, payout.id, staff, utcnow().date())
            setattr(objects, attribute, payout.id)
        line = await reallocations.request(s, case, returnee, "housing", "business", Decimal(50))
        objects.line = line.id
        first = await s.scalar(
            select(CheckIn).where(CheckIn.case_id == case.id).order_by(CheckIn.month)
        )
        assert first is not None
        await checkins.ask_due(s, first.due_at)
        await s.refresh(first)
        assert first.status is CheckInStatus.ASKED
        objects.check_in = first.id
        answered = await checkins.answer(s, first.id, returnee, "safe", "no")
        assert answered.alert
        objects.alert = int(
            await s.scalar(select(func.max(CheckInAlert.id)).where(CheckInAlert.case_id == case.id))
            or 0
        )
        draft = await updates.draft_status(s, case, staff, "settling_in")
        objects.draft = draft.id
        await s.commit()
    return objects


# ---- updates as Telegram sends them ---------------------------------------------------------

_ids = itertools.count(1)


def place_of(world: World, place: str, actor: Actor) -> tuple[dict[str, Any], int | None]:
    """The chat and the topic an update comes from."""
    targets = world.targets
    if place == "private":
        return private_chat(actor.telegram_id), None
    if place == "topic":
        return group_chat(GROUP), targets.own.topic
    if place == "general":
        return group_chat(GROUP), None
    if place == "otopic":
        return group_chat(OTHER_GROUP), targets.office2.topic
    return group_chat(FOREIGN_GROUP), None


def case_of_place(world: World, place: str) -> int | None:
    return {"topic": world.targets.own.case_id, "otopic": world.targets.office2.case_id}.get(place)


def message_from(world: World, actor: Actor, place: str, text: str) -> dict[str, Any]:
    chat, thread = place_of(world, place, actor)
    now = int(time.time())
    message: dict[str, Any] = {
        "message_id": world.api.next_message_id(),
        "date": now,
        "chat": chat,
        "from": actor.user(in_group=place != "private"),
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
    }
    if actor.sender_chat == "group":
        message["sender_chat"] = {k: chat[k] for k in ("id", "type", "title")}
    elif actor.sender_chat == "channel":
        message["sender_chat"] = CHANNEL
        message["is_automatic_forward"] = True
        message["forward_origin"] = {
            "type": "channel",
            "date": now,
            "chat": CHANNEL,
            "message_id": 7,
        }
    if thread is not None:
        message["message_thread_id"] = thread
        message["is_topic_message"] = True
        # In a topic, a message that replies to nothing "replies" to the topic's first one.
        message["reply_to_message"] = {
            "message_id": thread,
            "date": now,
            "chat": chat,
            "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
            "forum_topic_created": {"name": "topic", "icon_color": 7322096},
        }
    return message


def bot_message_at(world: World, actor: Actor, place: str) -> dict[str, Any]:
    """A message of the bot's where the actor presses: in a private chat, it answers a message
    of the actor's (as the counsellor's "which case?" does)."""
    api = world.api
    chat, thread = place_of(world, place, actor)
    params: dict[str, Any] = {"chat_id": chat["id"], "text": "A message of the bot's"}
    if thread is not None:
        params["message_thread_id"] = thread
    if place == "private":
        own: dict[str, Any] = {
            "message_id": api.next_message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": actor.user(),
            "text": "About my case",
        }
        api.user_messages[(chat["id"], own["message_id"])] = own
        params["reply_parameters"] = {"message_id": own["message_id"]}
    # The fake's own way of making a message: it then knows it, as Telegram knows its own.
    message = api._new_message(chat["id"], params)
    message["text"] = params["text"]
    return api._store(chat["id"], message)


def press(actor: Actor, message: dict[str, Any], data: str) -> dict[str, Any]:
    return {
        "id": f"authz-{next(_ids)}",
        "from": actor.user(in_group=message["chat"]["type"] != "private"),
        "chat_instance": f"ci{actor.telegram_id}",
        "message": message,
        "data": data,
    }


# ---- what changed ---------------------------------------------------------------------------

# The audit log, dialog state, and the ids of the bot's own messages in private chats (written
# for every answer, a refusal's too, so that a chat can be cleared): none says what was refused.
SKIPPED_TABLES = ("audit_events", "fsm_records", "sent_messages")
Snapshot = dict[str, tuple[list[str], list[tuple[Any, ...]]]]
_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


class Writes:
    """The tables written by committed transactions, as the bot's database engine runs them:
    a refusal that wrote and rolled back changed nothing; one that committed did. (Cheaper
    than reading every row after each of the thousands of cells; cells that must show an
    effect read the rows as well.)"""

    def __init__(self, engine: AsyncEngine) -> None:
        self._open: dict[int, set[str]] = {}
        self.committed: list[str] = []
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._statement)
        event.listen(sync, "commit", self._commit)
        event.listen(sync, "rollback", self._rollback)

    def _statement(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        found = _WRITE.match(statement)
        if found:
            self._open.setdefault(id(connection), set()).add(found[1])

    def _commit(self, connection: Any) -> None:
        self.committed.extend(sorted(self._open.pop(id(connection), set())))

    def _rollback(self, connection: Any) -> None:
        self._open.pop(id(connection), None)

    def take(self) -> list[str]:
        taken, self.committed = self.committed, []
        return sorted(set(taken))


async def snapshot(bot: RunningBot) -> tuple[Snapshot, int]:
    """Every row of every table but the audit log and dialog state; and the newest audit id."""
    found: Snapshot = {}
    async with bot.session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in SKIPPED_TABLES:
                continue
            rows = await session.execute(select(table).order_by(*table.primary_key.columns))
            found[table.name] = (list(table.c.keys()), [_frozen(row) for row in rows])
        last = await session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
    return found, int(last or 0)


def _frozen(row: Any) -> tuple[Any, ...]:
    """A row that can be compared and put in a set (JSON columns hold dicts and lists)."""
    return tuple(
        json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
        for value in row
    )


def changed_tables(before: Snapshot, after: Snapshot) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def changed_cases(before: Snapshot, after: Snapshot) -> set[int]:
    """The cases some of whose rows were added, changed or removed."""
    cases_: set[int] = set()
    for name, (columns, rows) in before.items():
        key = "id" if name == "cases" else "case_id"
        if key not in columns:
            continue
        index = columns.index(key)
        for row in set(rows) ^ set(after[name][1]):
            if row[index] is not None:
                cases_.add(row[index])
    return cases_


def new_rows(before: Snapshot | None, after: Snapshot | None, table: str) -> list[dict[str, Any]]:
    assert before is not None
    assert after is not None
    columns, rows = after[table]
    old = set(before[table][1])
    return [dict(zip(columns, row, strict=True)) for row in rows if row not in old]


async def audits_since(bot: RunningBot, mark: int) -> list[tuple[str, int | None, int | None, int]]:
    """The audit events written since `mark`: action, actor, case, id."""
    async with bot.session() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.actor_person_id, AuditEvent.case_id, AuditEvent.id)
            .where(AuditEvent.id > mark)
            .order_by(AuditEvent.id)
        )
        return [(row[0], row[1], row[2], row[3]) for row in rows]


@dataclass
class Observed:
    actor: Actor
    person: int | None  # the actor's person id, when Homeward knows them
    place: str
    chat_id: int  # where the update came from
    case_id: int | None  # the case the action is about, when there is one
    own_case: int | None  # the actor's own case (a returnee's)
    writes: list[str]  # tables written by committed transactions (audit log and dialogs aside)
    before: Snapshot | None  # every row, where what was done must be looked at
    after: Snapshot | None
    calls: list[Call]  # what the bot asked of Telegram meanwhile
    audits: list[tuple[str, int | None, int | None]]
    message_id: int | None = None  # the message the actor sent
    callback_id: str | None = None  # or the press

    @property
    def unchanged(self) -> list[str]:
        return [f"rows written in {', '.join(self.writes)}"] if self.writes else []

    def only_to_actor(self, *, strict: bool) -> list[str]:
        """Nothing reached anyone but the actor: a reply where they wrote, their private chat,
        and for a press its answer (`strict`: nothing but the answer)."""
        problems = []
        answers = [c for c in self.calls if c.method == "answerCallbackQuery"]
        if self.callback_id is not None and [c["callback_query_id"] for c in answers] != [
            self.callback_id
        ]:
            problems.append(f"the press got {len(answers)} answers, not one")
        for call in self.calls:
            if call.method == "answerCallbackQuery":
                continue
            chat = call.get("chat_id")
            reply = (call.get("reply_parameters") or {}).get("message_id")
            to_actor = (self.place == "private" and chat == self.actor.telegram_id) or (
                chat == self.chat_id and self.message_id is not None and reply == self.message_id
            )
            if strict:
                problems.append(f"{call.method} to {chat} for a refused press")
            elif not to_actor:
                problems.append(f"{call.method} to {chat} reached someone else")
        return problems

    def no_audit(self) -> list[str]:
        return [f"audited {self.audits}"] if self.audits else []

    def other_cases_unchanged(self, *allowed: int | None) -> list[str]:
        assert self.before is not None
        assert self.after is not None
        others = changed_cases(self.before, self.after) - set(allowed)
        return [f"rows of other cases changed: {sorted(others)}"] if others else []


def check_denied(o: Observed) -> list[str]:
    problems = o.unchanged + o.only_to_actor(strict=o.callback_id is not None)
    denials = [a for a in o.audits if a[0].startswith("denied.")]
    if len(denials) != len(o.audits):
        problems.append(f"audited more than the denial: {o.audits}")
    # A stranger outside an office's group leaves nothing behind, not even this.
    if o.person is None and o.chat_id not in OFFICE_GROUPS:
        if o.audits:
            problems.append(f"a stranger left an audit event: {o.audits}")
        return problems
    if len(denials) != 1:
        return [*problems, f"{len(denials)} denial(s) audited, not one: {o.audits}"]
    _action, actor, case = denials[0]
    if actor != o.person:
        problems.append(f"the denial names person {actor}, not {o.person}")
    if case not in (None, o.case_id):
        problems.append(f"the denial names case {case}, not {o.case_id}")
    return problems


def check_answered(o: Observed) -> list[str]:
    return o.unchanged + o.only_to_actor(strict=False) + o.no_audit()


def check_ignored(o: Observed) -> list[str]:
    calls = [c.method for c in o.calls]
    return o.unchanged + ([f"the bot called {calls}"] if calls else []) + o.no_audit()


def check_same_again(o: Observed) -> list[str]:
    return o.unchanged + o.only_to_actor(strict=False) + o.no_audit()


def check_relayed(o: Observed) -> list[str]:
    queued = [
        r
        for r in new_rows(o.before, o.after, "outbox")
        if r["case_id"] == o.own_case and r["direction"] == Direction.FROM_RETURNEE.value
    ]
    problems = [] if queued else ["nothing was queued for the returnee's own office"]
    denials = [a for a in o.audits if a[0].startswith("denied.")]
    return (
        problems
        + o.other_cases_unchanged(o.own_case)
        + ([f"audited as a denial: {denials}"] if denials else [])
    )


# ---- what "done" means, per action ------------------------------------------------------------

Effect = Callable[[Observed], list[str]]


def said(containing: str = "") -> Effect:
    """The bot wrote where the actor is (or edited its message there)."""

    def effect(o: Observed) -> list[str]:
        for call in o.calls:
            if call.get("chat_id") == o.chat_id and containing in str(call.params):
                return []
        return [f"nothing{' with ' + containing if containing else ''} was said there"]

    return effect


def audited(action: str) -> Effect:
    def effect(o: Observed) -> list[str]:
        for found, actor, case in o.audits:
            if found == action and actor == o.person and case == o.case_id:
                return []
        return [f"no {action} by person {o.person} on case {o.case_id}: {o.audits}"]

    return effect


def queued(direction: Direction) -> Effect:
    def effect(o: Observed) -> list[str]:
        for row in new_rows(o.before, o.after, "outbox"):
            if row["case_id"] == o.case_id and row["direction"] == direction.value:
                return []
        return [f"nothing queued {direction.value} for case {o.case_id}"]

    return effect


def table_changed(table: str) -> Effect:
    def effect(o: Observed) -> list[str]:
        assert o.before is not None
        assert o.after is not None
        return [] if o.before[table] != o.after[table] else [f"no row of {table} changed"]

    return effect


def asked_returnee(data_prefix: str) -> Effect:
    def effect(o: Observed) -> list[str]:
        for call in o.calls:
            if call.method == "sendMessage" and data_prefix in str(call.get("reply_markup")):
                return []
        return [f"the returnee was not asked (no {data_prefix} button sent)"]

    return effect


def kept(o: Observed) -> list[str]:
    assert o.before is not None
    assert o.after is not None
    tables = changed_tables(o.before, o.after)
    changed = [f"rows changed in {tables}"] if tables else []
    return changed + ([f"the bot called {[c.method for c in o.calls]}"] if o.calls else [])


def events_on(o: Observed) -> list[str]:
    assert o.after is not None
    columns, rows = o.after["persons"]
    mine = [r for r in rows if r[columns.index("id")] == o.person]
    return [] if mine and mine[0][columns.index("events")] else ["events are not on"]


EFFECTS: dict[str, Effect] = {
    "/start": said(),
    "/menu": said(),
    "/questions": said(),
    "/receipt": said(),
    "/language": said(),
    "/privacy": said(),
    "/help": said(),
    "/cases": said(),
    "/search": said(),
    "/settings": said("ev:"),
    "/stats": said("📊"),
    "/note": kept,
    "/card": said("Status"),
    "/claim": audited("case.assigned"),
    "/assign": audited("case.assigned"),
    "/close": audited("case.topic_closed"),
    "/close-case": said("lc:"),
    "/s": said(),
    "/s-save": table_changed("saved_replies"),
    "/s-send": queued(Direction.TO_RETURNEE),
    "/s-delete": table_changed("saved_replies"),
    "/kb": queued(Direction.TO_RETURNEE),
    "/location": asked_returnee("loc:"),
    "/paid": said("po:"),
    "/reject": audited("receipt.rejected"),
    "/ask": audited("receipt.asked"),
    "/budget": said("housing"),
    "/update": said("us:"),
    "/plan": said("ud:"),
    "/drop": said("lc:"),
    "/checkins": said("cs:"),
    "rc:full": audited("receipt.approved"),
    "po:paid": audited("money.payout_paid"),
    "po:received": audited("money.received"),
    "po:not_received": audited("money.not_received"),
    "ra": said(),
    "mv:yes": audited("money.reallocation_approved"),
    "ci": said(),
    "al": audited("checkin.alert_taken"),
    "cs:skip": audited("checkin.skipped"),
    "us": table_changed("case_updates"),
    "ud:send": audited("update.status"),
    "ev:on": events_on,
    "about": queued(Direction.FROM_COUNSELLOR),
    "loc:yes": queued(Direction.FROM_RETURNEE),
    "lc:close": audited("case.closed"),
    "explained": lambda o: said()(o) + o.unchanged + o.no_audit(),
    "invite:returnee": audited("invite.redeemed.returnee"),
    "invite:staff": audited("invite.redeemed.staff"),
}


def check_done(action: str) -> Effect:
    def check(o: Observed) -> list[str]:
        return EFFECTS[action](o) + o.other_cases_unchanged(o.case_id, o.own_case)

    return check


CHECKS: dict[str, Callable[[str], Effect]] = {
    "D": check_done,
    "N": lambda _action: check_denied,
    "A": lambda _action: check_answered,
    "I": lambda _action: check_ignored,
    "R": lambda _action: check_relayed,
    "S": lambda _action: check_same_again,
}


# ---- trying a cell --------------------------------------------------------------------------


@dataclass
class Attempt:
    """One update to send and what it is about."""

    kind: str  # "message" or "callback_query"
    payload: dict[str, Any]
    case_id: int | None


def own_case_of(world: World, actor: Actor) -> int | None:
    return {501: world.targets.own.case_id, 502: world.targets.case2.case_id}.get(actor.telegram_id)


async def attempt(
    world: World, label: str, actor: Actor, place: str, expected: str, action: str, make: Attempt
) -> list[str]:
    """Send the update, wait until the bot has handled it, and check the cell's rule."""
    bot, api = world.bot, world.api
    rows_needed = expected in ("D", "R")
    before = await snapshot(bot) if rows_needed else None
    audit_mark = world.audit_mark if before is None else before[1]
    world.writes.take()
    call_mark = len(api.calls)
    await api.handled(await api.push_update(make.kind, make.payload))
    if rows_needed:
        # What it queued has left (and was recorded) before anything is looked at.
        await settled(bot)
    calls = [c for c in api.calls[call_mark:] if c.method != "getUpdates"]
    written = world.writes.take()
    writes = [table for table in written if table not in SKIPPED_TABLES]
    after = await snapshot(bot) if rows_needed else None
    if rows_needed:
        await world.know_people()  # someone who joined by a link is known now
    audits = await audits_since(bot, audit_mark) if "audit_events" in written else []
    world.audit_mark = max([audit_mark, *(a[3] for a in audits)])
    is_press = make.kind == "callback_query"
    chat = make.payload["message"]["chat"] if is_press else make.payload["chat"]
    observed = Observed(
        actor=actor,
        person=world.person_of(actor.telegram_id),
        place=place,
        chat_id=chat["id"],
        case_id=make.case_id,
        own_case=own_case_of(world, actor),
        writes=writes,
        before=before[0] if before else None,
        after=after[0] if after else None,
        calls=calls,
        audits=[a[:3] for a in audits],
        message_id=None if is_press else make.payload["message_id"],
        callback_id=make.payload["id"] if is_press else None,
    )
    problems = CHECKS[expected](action)(observed)
    return [f"{label} · {actor.key}: expected {expected}: {p}" for p in problems]


def in_order(rows: list[Row]) -> list[tuple[Row, Actor]]:
    """Denials and the rest first, on a world where the rightful action would still work;
    then what is done, in table order, with what ends a case last."""
    cells = [(row, actor) for row in rows for actor in ACTORS if row.cells[actor.key] != "-"]
    waiting = [(row, actor) for row, actor in cells if row.cells[actor.key] != "D"]
    done = [(row, actor) for row, actor in cells if row.cells[actor.key] == "D"]
    done.sort(key=lambda cell: cell[0].action.startswith(LAST))
    return waiting + done


async def settled(bot: RunningBot) -> None:
    """The sender has nothing it could do now, twice in a row (RunningBot.settled, in finer
    steps: the tables wait for it a few hundred times)."""
    deadline = time.monotonic() + 10
    quiet = 0
    while quiet < 2:
        quiet = 0 if await bot.app.sender.has_work_now() else quiet + 1
        assert time.monotonic() < deadline, "the sender never settled"
        await asyncio.sleep(0.01)


def fail_on(problems: list[str], tried: int) -> None:
    assert not problems, f"{len(problems)} of {tried} cells broke their rule:\n" + "\n".join(
        problems
    )


# ---- the command table ------------------------------------------------------------------------


def command_text(world: World, action: str, place: str) -> str:
    staff = "Ivan" if place == "otopic" else "Ana"
    return COMMAND_TEXTS.get(action, action).format(staff=staff, place=place)


async def test_every_command_as_every_actor_in_every_place(world: World) -> None:
    rows = parse_table(COMMAND_TABLE, with_target=False)
    problems: list[str] = []
    cells = in_order(rows)
    for row, actor in cells:
        text = command_text(world, row.action, row.place)
        message = message_from(world, actor, row.place, text)
        problems += await attempt(
            world,
            f"{row.action} · {row.place}",
            actor,
            row.place,
            row.cells[actor.key],
            row.action,
            Attempt("message", message, case_of_place(world, row.place)),
        )
    fail_on(problems, len(cells))


# ---- the button table -------------------------------------------------------------------------


async def button_data(world: World, action: str, o: CaseObjects) -> str:
    """The data the bot puts on this button for this case's object."""
    from bot.handlers.counsellor import CaseChoice
    from bot.handlers.location import LocationAnswer

    if action == "rc:full":
        async with world.bot.session() as session:
            receipt = await session.get(Receipt, o.r_full)
            assert receipt is not None
            return ReceiptPress(
                receipt=o.r_full, version=receipt.version, action="full", value="bank"
            ).pack()
    made: dict[str, CallbackData] = {
        "po:paid": PayoutPress(payout=o.p_due, action="paid"),
        "po:received": PayoutPress(payout=o.p_received, action="received"),
        "po:not_received": PayoutPress(payout=o.p_not_received, action="not_received"),
        "ra": AnswerPress(receipt=o.r_answer),
        "mv:yes": MovePress(line=o.line, approve=True),
        "ci": CheckInPress(check_in=o.check_in),
        "al": AlertPress(alert=o.alert),
        "cs:skip": CheckInStaffPress(case=o.case_id, month=o.skip_month, action="skip"),
        "us": StatusPress(case=o.case_id, status="housing_found"),
        "ud:send": UpdatePress(update=o.draft, action="send"),
        "ev:on": EventsPress(on=True),
        "about": CaseChoice(case_id=o.case_id),
        "loc:yes": LocationAnswer(case_id=o.case_id, share=True),
        "lc:close": LifecyclePress(case=o.case_id, action="close"),
    }
    return made[action].pack()


async def pressing(
    world: World, actor: Actor, place: str, action: str, target: str, data: str | None = None
) -> Attempt:
    objects = world.targets.of(target)
    payload = press(
        actor,
        bot_message_at(world, actor, place),
        data if data is not None else await button_data(world, action, objects),
    )
    # An events switch is about the counsellor's own settings, no case.
    return Attempt("callback_query", payload, None if action == "ev:on" else objects.case_id)


async def test_every_button_as_every_actor_in_every_place(world: World) -> None:
    rows = parse_table(BUTTON_TABLE, with_target=True)
    problems: list[str] = []
    cells = in_order(rows)
    for row, actor in cells:
        problems += await attempt(
            world,
            f"{row.action} · {row.target} · {row.place}",
            actor,
            row.place,
            row.cells[actor.key],
            row.action,
            await pressing(world, actor, row.place, row.action, row.target),
        )
    fail_on(problems, len(cells))


# ---- forged data --------------------------------------------------------------------------------


def _version_then(
    shift: int, action: str, value: str
) -> Callable[[World, CaseObjects], Awaitable[str]]:
    """The receipt's data with its version moved by `shift`: under review already (version 2),
    so that version 1 is a real one from the past."""

    async def make(world: World, o: CaseObjects) -> str:
        async with world.bot.session() as session:
            receipt = await session.get(Receipt, o.r_full)
            assert receipt is not None
            if receipt.version == 1:
                staff = await session.scalar(select(Person).where(Person.telegram_user_id == 301))
                assert staff is not None
                await receipts.start_review(session, receipt.id, staff)
                await session.commit()
            await world.sync()
            return f"rc:{receipt.id}:{receipt.version + shift}:{action}:{value}"

    return make


def _plain(text: str) -> Callable[[World, CaseObjects], Awaitable[str]]:
    async def make(world: World, o: CaseObjects) -> str:
        return text.format(o=o)

    return make


FORGED_BY_BUTTON: dict[str, dict[str, Callable[[World, CaseObjects], Awaitable[str]]]] = {
    "rc:full": {
        "a version from the past": _version_then(-1, "full", "bank"),
        "a version from the future": _version_then(5, "full", "bank"),
        "a way of paying that does not exist": _version_then(0, "full", "gold"),
        "another amount paid a way that does not exist": _version_then(0, "amount", "gold"),
        "a reason that is not on the list": _version_then(0, "reason", "lost"),
        "an over-long reason": _version_then(0, "reason", "x" * 200),
        "an action that does not exist": _plain("rc:{o.r_full}:1:burn:"),
    },
    "cs:skip": {
        "a month never planned": _plain("cs:{o.case_id}:99:skip"),
        "a month beyond 64 bits": _plain("cs:{o.case_id}:99999999999999999999:skip"),
        "an action that does not exist": _plain("cs:{o.case_id}:2:burn"),
    },
    "us": {
        "a status not on the list": _plain("us:{o.case_id}:famous"),
        "an over-long status": _plain("us:{o.case_id}:" + "x" * 200),
    },
    "ud:send": {"an action that does not exist": _plain("ud:{o.draft}:burn")},
    "lc:close": {
        "a reason not on the list": _plain("lc:{o.case_id}:drop:lost"),
        "an action that does not exist": _plain("lc:{o.case_id}:erase:"),
    },
    "po:paid": {"the returnee's action pressed by staff": _plain("po:{o.p_received}:received")},
    "loc:yes": {"a case id beyond 64 bits": _plain("loc:99999999999999999999:1")},
}


def forged_variants(data: str, action: str) -> dict[str, str]:
    prefix, _sep, fields = data.partition(":")
    _first, sep, rest = fields.partition(":")
    values = {
        name: template.format(prefix=prefix, rest=sep + rest, data=data)
        for name, template in FORGED_DATA.items()
    }
    if action == "ev:on":
        values.pop("id 0")  # "ev:0" is the counsellor's own switch turned off: allowed
    return values


BUTTON_ACTIONS = sorted({row.action for row in parse_table(BUTTON_TABLE, with_target=True)})


def rightful(action: str) -> tuple[Actor, str]:
    key = action if action in RIGHTFUL else action.split(":")[0]
    who, where = RIGHTFUL[key]
    return BY_KEY[who], where


async def test_forged_button_data_changes_nothing(world: World) -> None:
    """Each button pressed by the one who may press it, where they may, with data the bot
    never gave: ids of nothing, of another kind, beyond the database's integers, over-long
    data, values not on any list, a version from the past. Each is refused and audited."""
    problems: list[str] = []
    tried = 0
    for action in BUTTON_ACTIONS:
        actor, place = rightful(action)
        data = await button_data(world, action, world.targets.own)
        forged = forged_variants(data, action)
        for name, make in FORGED_BY_BUTTON.get(action, {}).items():
            forged[name] = await make(world, world.targets.own)
        for name, value in forged.items():
            tried += 1
            problems += await attempt(
                world,
                f"{action} · {name}",
                actor,
                place,
                "N",
                action,
                await pressing(world, actor, place, action, "own", value),
            )
    fail_on(problems, tried)


# ---- pressed twice ------------------------------------------------------------------------------

# What the second press of a button does: a decision counts once (N), a button that only shows
# something shows it again (S). A status chosen twice makes a second draft: nothing of it
# leaves before Send, which counts once.
REPLAYS = {
    "rc:full": "N",
    "po:paid": "N",
    "po:received": "N",
    "po:not_received": "N",
    "ra": "S",
    "mv:yes": "N",
    "ci": "S",
    "al": "N",
    "cs:skip": "N",
    "us": "D",
    "ud:send": "N",
    "ev:on": "S",
    "about": "S",
    "loc:yes": "S",
    "lc:close": "N",
}


async def test_a_button_pressed_twice_counts_once(world: World) -> None:
    problems: list[str] = []
    for action, again in REPLAYS.items():
        actor, place = rightful(action)
        first = await pressing(world, actor, place, action, "own")
        problems += await attempt(world, f"{action} · first", actor, place, "D", action, first)
        second = replace(first, payload=first.payload | {"id": f"authz-{next(_ids)}"})
        problems += await attempt(world, f"{action} · again", actor, place, again, action, second)
    fail_on(problems, 2 * len(REPLAYS))


# ---- invite links ------------------------------------------------------------------------------

DEEP_LINK_TABLE = """
#                              str ret ore cou oco stf ost mem ano cha bot mgr
garbage         private         N   N   N   N   N   N   N   N   -   -   -   N
over-long       private         N   N   N   N   N   N   N   N   -   -   -   N
used            private         N   D   N   N   N   N   N   N   -   -   -   N
case2-link      private         D   N   D   N   N   N   N   D   -   -   -   N
staff-link      private         D   N   N   N   N   D   N   D   -   -   -   N
"""
# A link is the key to what it grants, whoever holds it (README: invite links): a stranger with
# a valid link joins, a registered account only where its one role allows. Strangers who join
# are new accounts in each line.
LINK_EFFECTS = {"used": "/start", "case2-link": "invite:returnee", "staff-link": "invite:staff"}


async def link_text(world: World, row: Row) -> str:
    if row.action == "garbage":
        return "/start hello"
    if row.action == "over-long":
        return "/start " + "A" * 4000
    if row.action == "used":
        return f"/start {world.returnee_token}"
    async with world.bot.session() as session:
        if row.action == "case2-link":
            issued = await invites.invite_returnee(session, case_code="RO-0008", ttl_days=1)
        else:
            issued = await invites.invite_staff(session, office_code="RO", name="Dana", ttl_days=1)
        await session.commit()
    await world.sync()
    return f"/start {issued.token}"


async def test_invite_links_are_checked_against_who_opens_them(world: World) -> None:
    rows = parse_table(DEEP_LINK_TABLE, with_target=False)
    problems: list[str] = []
    cells = in_order(rows)
    for row, actor in cells:
        if actor.key in ("str", "mem"):
            actor = replace(actor, telegram_id=9000 + 10 * rows.index(row) + (actor.key == "mem"))
        case = world.targets.case2.case_id if row.action == "case2-link" else None
        message = message_from(world, actor, "private", await link_text(world, row))
        problems += await attempt(
            world,
            f"{row.action}",
            actor,
            "private",
            row.cells[actor.key],
            LINK_EFFECTS.get(row.action, "/start"),
            Attempt("message", message, case),
        )
    fail_on(problems, len(cells))


# ---- the tables cover everything there is ---------------------------------------------------


def registered_commands() -> set[str]:
    """Every command a router takes (Command(...) filters, /start included) and every command
    a menu shows (bot/commands.py)."""
    names: set[str] = set()

    def walk(router: Any) -> None:
        for observer in (router.message, router.edited_message):
            for handler in observer.handlers:
                for found in handler.filters or []:
                    if isinstance(found.callback, Command):
                        names.update(
                            c if isinstance(c, str) else c.pattern for c in found.callback.commands
                        )
        for sub in router.sub_routers:
            walk(sub)

    walk(build_router())
    for menu in (
        command_menus.RETURNEE_COMMANDS,
        command_menus.COUNSELLOR_COMMANDS,
        command_menus.STAFF_COMMANDS,
        command_menus.MANAGER_COMMANDS,
    ):
        names.update(name for name, _description in menu)
    return names


def callback_data_classes() -> list[type[CallbackData]]:
    """Every CallbackData of Homeward: bot/telegram/callbacks.py and the handlers' own."""
    for module in pkgutil.iter_modules(bot.handlers.__path__):
        __import__(f"bot.handlers.{module.name}")
    found: list[type[CallbackData]] = []
    pending = list(CallbackData.__subclasses__())
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if kind.__module__.startswith(("bot.", "dialogs.")):
            found.append(kind)
    return found


# Buttons whose pressing by the wrong person, from the wrong place, forged or replayed is proven
# in a module of their own, because the rightful press ends the world this table runs in: the
# erasure button deletes the case (tests/test_erasure.py: stranger, another office's staff,
# forged and replayed presses change nothing).
PROVEN_ELSEWHERE = {"er"}


def test_every_command_and_every_button_has_its_rows() -> None:
    commands = parse_table(COMMAND_TABLE, with_target=False)
    in_table = {row.action.lstrip("/").split("-")[0] for row in commands}
    missing = registered_commands() - in_table
    assert not missing, f"commands without rows in COMMAND_TABLE: {sorted(missing)}"
    for action in {row.action for row in commands}:
        assert {r.place for r in commands if r.action == action} == set(PLACES), action
    buttons = parse_table(BUTTON_TABLE, with_target=True)
    prefixes = {row.action.split(":")[0] for row in buttons}
    classes = callback_data_classes()
    assert len(classes) >= 13
    unlisted = sorted(
        k.__name__ for k in classes if k.__prefix__ not in prefixes | PROVEN_ELSEWHERE
    )
    assert not unlisted, f"buttons without rows in BUTTON_TABLE: {unlisted}"
    for action in BUTTON_ACTIONS:
        assert {r.place for r in buttons if r.action == action and r.target == "own"} == set(
            PLACES
        ), action
    assert set(BUTTON_ACTIONS) <= set(REPLAYS), "every button is pressed twice"
    done = {r.action for r in commands + buttons if "D" in r.cells.values()}
    assert done <= set(EFFECTS), f"what done means is missing for {sorted(done - set(EFFECTS))}"


# ---- the dialogs' buttons -----------------------------------------------------------------------
# aiogram-dialog's buttons (menus, wizards) carry the dialog's id and the widget's, and a Select's
# item; the dialog is looked up in the presser's own chat, and the item is passed on as it came.
# Forged: another returnee's dialog, and items no window ever showed.


def dialog_button(world: World, user_id: int, widget: str) -> tuple[dict[str, Any], str]:
    """The newest message in the chat with a button of this widget, and that button's data."""
    view = world.api.chats[user_id]
    for message_id in reversed(view.touched):
        message = view.messages.get(message_id, {})
        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data", "")
                if f"\x1d{widget}:" in data:
                    return message, data
    raise AssertionError(f"no {widget} button in chat {user_id}")


def with_item(data: str, item: str) -> str:
    return data.rsplit(":", 1)[0] + ":" + item


async def test_forged_dialog_buttons_change_nothing(world: World) -> None:
    maria, other = BY_KEY["ret"], BY_KEY["ore"]
    api = world.api
    problems: list[str] = []
    await api.handled(
        await api.push_update("message", message_from(world, maria, "private", "/language"))
    )
    await world.sync()
    window, danish = dialog_button(world, maria.telegram_id, "language")

    # Another returnee presses Maria's language button: her dialog is not in his chat.
    problems += await attempt(
        world,
        "another returnee's dialog",
        other,
        "private",
        "A",
        "dialog",
        Attempt(
            "callback_query", press(other, bot_message_at(world, other, "private"), danish), None
        ),
    )
    # Maria's own dialog, with languages it never showed.
    for name, code in (("a language not shipped", "xx"), ("an over-long code", "x" * 60)):
        problems += await attempt(
            world,
            name,
            maria,
            "private",
            "A",
            "dialog",
            Attempt("callback_query", press(maria, window, with_item(danish, code)), None),
        )

    # A question meant for counsellors, asked for from the returnee's questions.
    await api.handled(
        await api.push_update("message", message_from(world, maria, "private", "/questions"))
    )
    await world.sync()
    topics, topic = dialog_button(world, maria.telegram_id, "topic")
    await api.handled(
        await api.push_update("callback_query", press(maria, topics, with_item(topic, "programme")))
    )
    await world.sync()
    questions, entry = dialog_button(world, maria.telegram_id, "entry")
    mark = len(api.calls)
    problems += await attempt(
        world,
        "a counsellors' question",
        maria,
        "private",
        "A",
        "dialog",
        Attempt(
            "callback_query",
            press(maria, questions, with_item(entry, "prepare-returnee")),
            None,
        ),
    )
    knowledge = world.bot.app.dispatcher["knowledge"]
    secret = knowledge.text("en", "prepare-returnee").answer[:40]
    if any(secret in str(c.params) for c in api.calls[mark:]):
        problems.append("a counsellors' answer was shown to a returnee")

    # A check-in answer no question has.
    own = world.targets.own
    opened = press(
        maria, bot_message_at(world, maria, "private"), CheckInPress(check_in=own.check_in).pack()
    )
    await api.handled(await api.push_update("callback_query", opened))
    await world.sync()
    checkin, feeling = dialog_button(world, maria.telegram_id, "answer_feeling")
    problems += await attempt(
        world,
        "a check-in answer not on the list",
        maria,
        "private",
        "A",
        "dialog",
        Attempt(
            "callback_query", press(maria, checkin, with_item(feeling, "garbage")), own.case_id
        ),
    )
    fail_on(problems, 5)


# ---- numbers typed into commands --------------------------------------------------------------

FORGED_NUMBERS = (
    "/reject 99999999999999999999 the photo cannot be read",
    "/reject ² the photo cannot be read",
    "/reject -1 the photo cannot be read",
    "/ask 2147483648 which shop?",
    "/ask R-RO-0008-2 which shop?",  # another case's receipt, named by its code
    "/checkins move 99999999999999999999 2027-01-20",
    "/checkins move ² 2027-01-20",
    "/checkins move 13 2027-01-20",
)


async def test_numbers_typed_into_commands_are_checked_before_they_are_looked_up(
    world: World,
) -> None:
    """Staff type receipt numbers and months: one beyond what the database holds, in digits
    int() cannot read, of another case, or of no check-in gets the command's own explanation,
    and nothing changes (a mistake, not a denial: nothing is audited)."""
    staff = BY_KEY["stf"]
    problems: list[str] = []
    for text in FORGED_NUMBERS:
        problems += await attempt(
            world,
            text,
            staff,
            "topic",
            "D",
            "explained",
            Attempt(
                "message", message_from(world, staff, "topic", text), world.targets.own.case_id
            ),
        )
    fail_on(problems, len(FORGED_NUMBERS))
