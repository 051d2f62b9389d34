"""Callback data of the bot's buttons: typed, and only ids. What an id points to is looked up
and checked against who pressed, and where (bot/services/, bot/telegram/refusals.py), so a
forged or replayed button changes nothing it may not.

Telegram passes on whatever data a client sends: an id is a row id the database can hold, a
word is short, and data that does not fit is no button of ours (the fallback refuses it)."""

from __future__ import annotations

from typing import Annotated, Literal

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# A row id: the databases' INTEGER (PostgreSQL's is 32 bits); 0, negatives and more are forged.
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
# A word from one of the bot's lists (a way of paying, a reason, a status).
Word = Annotated[str, Field(max_length=32)]

ReceiptAction = Literal[
    "approve",  # show the ways of paying
    "method",  # a way of paying chosen (value): full amount, another amount, or a rate
    "full",  # approve the full amount, paid by `value`
    "amount",  # ask staff for another amount, paid by `value`
    "reject",  # show the reasons
    "reason",  # reject with reason `value`
    "other",  # ask staff for their own reason
    "ask",  # ask staff for a question to the returnee
    "back",  # the receipt's own buttons again
]


class ReceiptPress(CallbackData, prefix="rc"):
    """A staff member's press on a receipt's card; `version` makes an old card's buttons void."""

    receipt: RowId
    version: RowId
    action: ReceiptAction
    value: Word = ""


class PayoutPress(CallbackData, prefix="po"):
    """Paid (staff, in the topic), received or not received (the returnee)."""

    payout: RowId
    action: Literal["paid", "received", "not_received"]


class AnswerPress(CallbackData, prefix="ra"):
    """The returnee will answer the office's question about a receipt."""

    receipt: RowId


class MovePress(CallbackData, prefix="mv"):
    """Staff approve or refuse a returnee's request to move money between categories."""

    line: RowId
    approve: bool


class CheckInPress(CallbackData, prefix="ci"):
    """The returnee opens a check-in to answer it."""

    check_in: RowId


class AlertPress(CallbackData, prefix="al"):
    """A staff member takes a check-in alert."""

    alert: RowId


class CheckInStaffPress(CallbackData, prefix="cs"):
    """Staff ask a check-in now, or skip it, from /checkins."""

    case: RowId
    month: Annotated[int, Field(ge=1, le=12)]  # check-ins stop after a year
    action: Literal["now", "skip"]


class StatusPress(CallbackData, prefix="us"):
    """Staff chose a status for a new status update of the case."""

    case: RowId
    status: Word


class UpdatePress(CallbackData, prefix="ud"):
    """Staff go on with a drafted status update or plan: no note, send it, or cancel it."""

    update: RowId
    action: Literal["no_note", "send", "cancel"]


class LifecyclePress(CallbackData, prefix="lc"):
    """Staff close the case, or mark it dropped out for a reason."""

    case: RowId
    action: Literal["close", "drop"]
    reason: Word = ""


class EventsPress(CallbackData, prefix="ev"):
    """A counsellor turns events as they happen on or off."""

    on: bool


class ErasePress(CallbackData, prefix="er"):
    """Staff erase a case at its returnee's request, or refuse, from the note in the topic.
    `request` is the request's audit line: a press counts only while that request is the
    case's latest word on erasure, so a replayed or out-of-date button changes nothing."""

    request: int
    erase: bool
