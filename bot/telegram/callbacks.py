"""Callback data of the money buttons: typed, and only ids. What an id points to is looked up
and checked against who pressed (bot/services/receipts.py), so a forged or replayed button
changes nothing it may not."""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData

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

    receipt: int
    version: int
    action: ReceiptAction
    value: str = ""


class PayoutPress(CallbackData, prefix="po"):
    """Paid (staff, in the topic), received or not received (the returnee)."""

    payout: int
    action: Literal["paid", "received", "not_received"]


class AnswerPress(CallbackData, prefix="ra"):
    """The returnee will answer the office's question about a receipt."""

    receipt: int


class MovePress(CallbackData, prefix="mv"):
    """Staff approve or refuse a returnee's request to move money between categories."""

    line: int
    approve: bool


class CheckInPress(CallbackData, prefix="ci"):
    """The returnee opens a check-in to answer it."""

    check_in: int


class AlertPress(CallbackData, prefix="al"):
    """A staff member takes a check-in alert."""

    alert: int


class CheckInStaffPress(CallbackData, prefix="cs"):
    """Staff ask a check-in now, or skip it, from /checkins."""

    case: int
    month: int
    action: Literal["now", "skip"]


class StatusPress(CallbackData, prefix="us"):
    """Staff chose a status for a new status update of the case."""

    case: int
    status: str


class UpdatePress(CallbackData, prefix="ud"):
    """Staff go on with a drafted status update or plan: no note, send it, or cancel it."""

    update: int
    action: Literal["no_note", "send", "cancel"]


class LifecyclePress(CallbackData, prefix="lc"):
    """Staff close the case, or mark it dropped out for a reason."""

    case: int
    action: Literal["close", "drop"]
    reason: str = ""


class EventsPress(CallbackData, prefix="ev"):
    """A counsellor turns events as they happen on or off."""

    on: bool


class ErasePress(CallbackData, prefix="er"):
    """Staff erase a case at its returnee's request, or refuse, from the note in the topic.
    `request` is the request's audit line: a press counts only while that request is the
    case's latest word on erasure, so a replayed or out-of-date button changes nothing."""

    request: int
    erase: bool
