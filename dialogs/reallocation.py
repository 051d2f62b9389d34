"""Asking to move money between two budget categories the programme lets the returnee move:
from which, to which, how much, then a last look. Staff decide in the topic."""

from __future__ import annotations

import operator
from decimal import Decimal
from typing import Any

from aiogram.enums import ContentType
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n, gettext
from aiogram_dialog import Dialog, DialogManager, ShowMode, Window
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Back, Button, Cancel, Column, Select
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.formatting import format_amount, format_money
from bot.knowledge.facts import CATEGORY_LABELS
from bot.services import ledger, reallocations
from bot.services.amounts import NotAnAmount, parse_amount
from bot.services.cases import case_of_returnee
from bot.services.errors import RuleViolation
from bot.services.unit_of_work import UnitOfWork
from dialogs.states import Reallocation
from dialogs.widgets import Tr
from storage.models import Person

__all__ = ["reallocation_dialog"]


def _locale(manager: DialogManager) -> str:
    i18n: I18n = manager.middleware_data["i18n"]
    return i18n.current_locale


async def _movable(manager: DialogManager) -> list[ledger.Balance]:
    session: AsyncSession = manager.middleware_data["session"]
    case = await case_of_returnee(session, manager.middleware_data["person"])
    if case is None:
        return []
    return [b for b in (await ledger.statement(session, case)).balances if b.reallocatable]


def _item(b: ledger.Balance, locale: str) -> tuple[str, str]:
    return (
        b.category,
        gettext("{category} (left: {left})").format(
            category=gettext(CATEGORY_LABELS[b.category]),
            left=format_money(b.left, b.currency, locale),
        ),
    )


async def source_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    locale = _locale(dialog_manager)
    items = [_item(b, locale) for b in await _movable(dialog_manager) if b.left > 0]
    return {"categories": items}


async def target_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    locale, source = _locale(dialog_manager), dialog_manager.dialog_data.get("source")
    items = [_item(b, locale) for b in await _movable(dialog_manager) if b.category != source]
    return {"categories": items}


async def summary_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    data = dialog_manager.dialog_data
    balances = {b.category: b for b in await _movable(dialog_manager)}
    currency = balances[data["source"]].currency if data.get("source") in balances else "USD"
    return {
        "source": gettext(CATEGORY_LABELS.get(data.get("source", ""), "")),
        "target": gettext(CATEGORY_LABELS.get(data.get("target", ""), "")),
        "amount": format_money(Decimal(data.get("amount", "0")), currency, _locale(dialog_manager)),
        "example": format_amount(Decimal("100"), _locale(dialog_manager)),
    }


async def on_source(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, item: str
) -> None:
    manager.dialog_data["source"] = item
    await manager.switch_to(Reallocation.target)


async def on_target(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, item: str
) -> None:
    manager.dialog_data["target"] = item
    await manager.switch_to(Reallocation.amount)


async def on_amount(message: Message, _: MessageInput, manager: DialogManager) -> None:
    try:
        amount = parse_amount(message.text or "", _locale(manager))
    except NotAnAmount:
        await message.answer(
            gettext(
                "That is not an amount I can read. Write only the number, e.g. {example}."
            ).format(example=format_amount(Decimal("100"), _locale(manager)))
        )
        manager.show_mode = ShowMode.SEND
        return
    manager.dialog_data["amount"] = str(amount)
    await manager.switch_to(Reallocation.confirm, show_mode=ShowMode.SEND)


async def on_send(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    session: AsyncSession = manager.middleware_data["session"]
    work: UnitOfWork = manager.middleware_data["work"]
    person: Person = manager.middleware_data["person"]
    data = manager.dialog_data
    case = await case_of_returnee(session, person)
    if case is None:
        await manager.done()
        return
    try:
        await reallocations.request(
            session, case, person, data["source"], data["target"], Decimal(data["amount"])
        )
    except RuleViolation:
        await session.rollback()
        await manager.switch_to(Reallocation.refused)
        return
    await work.commit()
    await manager.switch_to(Reallocation.sent)


def reallocation_dialog() -> Dialog:
    return Dialog(
        Window(
            Tr("Move money from which part of your budget?"),
            Column(
                Select(
                    Format("{item[1]}"),
                    id="source",
                    item_id_getter=operator.itemgetter(0),
                    items="categories",
                    on_click=on_source,
                )
            ),
            Cancel(Tr("Cancel")),
            state=Reallocation.source,
            getter=source_getter,
        ),
        Window(
            Tr("To which part?"),
            Column(
                Select(
                    Format("{item[1]}"),
                    id="target",
                    item_id_getter=operator.itemgetter(0),
                    items="categories",
                    on_click=on_target,
                )
            ),
            Back(Tr("Back")),
            Cancel(Tr("Cancel")),
            state=Reallocation.target,
            getter=target_getter,
        ),
        Window(
            Tr("How much? Write the number only, e.g. {example}."),
            MessageInput(on_amount, content_types=[ContentType.TEXT]),
            Back(Tr("Back")),
            Cancel(Tr("Cancel")),
            state=Reallocation.amount,
            getter=summary_getter,
        ),
        Window(
            Tr("Ask the office to move {amount} from {source} to {target}?"),
            Button(Tr("Send"), id="send", on_click=on_send),
            Back(Tr("Back")),
            Cancel(Tr("Cancel")),
            state=Reallocation.confirm,
            getter=summary_getter,
        ),
        Window(
            Tr("Your request has reached the office. You get a message here when they decide."),
            Cancel(Tr("Back to the menu")),
            state=Reallocation.sent,
        ),
        Window(
            Tr(
                "This move is not possible: there is not that much left, or the programme does "
                "not allow it. Nothing was sent."
            ),
            Cancel(Tr("Back to the menu")),
            state=Reallocation.refused,
        ),
    )
