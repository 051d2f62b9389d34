"""Sending a receipt: the category, the photos or PDF, the amount, the currency, what was
bought, and a last look before it goes. Every step says what is wrong and keeps what was given.

The rules are the service's (bot/services/receipts.py); this wizard only asks and explains.
"""

from __future__ import annotations

import operator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.enums import ContentType
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n, gettext
from aiogram_dialog import Dialog, DialogManager, ShowMode, Window
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Back, Button, Cancel, Column, Row, Select, SwitchTo
from aiogram_dialog.widgets.text import Format
from babel.numbers import get_territory_currencies
from sqlalchemy.ext.asyncio import AsyncSession

from bot.formatting import format_amount, format_money
from bot.knowledge.facts import CATEGORY_LABELS
from bot.services import ledger, receipts
from bot.services.amounts import NotAnAmount, parse_amount
from bot.services.cases import case_of_returnee
from bot.services.errors import RuleViolation
from bot.services.receipts import MAX_FILE_BYTES, MAX_FILES, ReceiptFileRef
from bot.services.unit_of_work import UnitOfWork
from dialogs.states import ReceiptAnswer, Receipts
from dialogs.widgets import Tr
from storage.models import Case, Person

__all__ = ["receipt_answer_dialog", "receipt_dialog"]

PDF = "application/pdf"


def _session(manager: DialogManager) -> AsyncSession:
    session: AsyncSession = manager.middleware_data["session"]
    return session


def _locale(manager: DialogManager) -> str:
    i18n: I18n = manager.middleware_data["i18n"]
    return i18n.current_locale


async def _case(manager: DialogManager) -> Case | None:
    return await case_of_returnee(_session(manager), manager.middleware_data["person"])


async def _balances(manager: DialogManager, case: Case) -> dict[str, ledger.Balance]:
    return {b.category: b for b in (await ledger.statement(_session(manager), case)).balances}


def local_currency(case: Case) -> str | None:
    found = get_territory_currencies(case.office.country.upper(), date.today())
    return found[0] if found else None


# ---- getters -------------------------------------------------------------------------------


async def category_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    case = await _case(dialog_manager)
    locale = _locale(dialog_manager)
    shut = {"categories": [], "closed": False, "no_budget": False, "none_left": False}
    if case is None or not ledger.takes_new_receipts(case):
        return shut | {"closed": True, "open": False}
    balances = list((await _balances(dialog_manager, case)).values())
    if not balances:
        return shut | {"no_budget": True, "open": False}
    open_ones = receipts.receipt_categories(balances)
    items = [
        (
            b.category,
            gettext("{category} (left: {left})").format(
                category=gettext(CATEGORY_LABELS[b.category]),
                left=format_money(b.left, b.currency, locale),
            ),
        )
        for b in open_ones
    ]
    return shut | {"categories": items, "none_left": not items, "open": bool(items)}


async def files_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    count = len(dialog_manager.dialog_data.get("files", []))
    return {"count": count, "has_files": count > 0}


async def currency_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    case = await _case(dialog_manager)
    data = dialog_manager.dialog_data
    currencies: list[str] = []
    if case is not None:
        balance = (await _balances(dialog_manager, case)).get(data.get("category", ""))
        if balance is not None:
            currencies.append(balance.currency)
        local = local_currency(case)
        if local and local not in currencies:
            currencies.append(local)
    return {"currencies": [(c, c) for c in currencies]}


async def example_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    return {"example": format_amount(Decimal("1234.50"), _locale(dialog_manager))}


async def summary_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    data = dialog_manager.dialog_data
    locale = _locale(dialog_manager)
    label = CATEGORY_LABELS.get(data.get("category", ""))
    amount = Decimal(data["amount"]) if data.get("amount") else Decimal(0)
    return {
        "category": gettext(label) if label else "",
        "amount": format_money(amount, data.get("currency", "USD"), locale),
        "description": data.get("description", ""),
        "count": len(data.get("files", [])),
    }


# ---- steps ---------------------------------------------------------------------------------


async def on_category(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, category: str
) -> None:
    manager.dialog_data["category"] = category
    await manager.switch_to(Receipts.files)


async def on_file(message: Message, _: MessageInput, manager: DialogManager) -> None:
    files: list[dict[str, Any]] = manager.dialog_data.setdefault("files", [])
    if len(files) >= MAX_FILES:
        await message.answer(gettext("That is the most one receipt can have. Press Next to go on."))
        return
    if message.photo:
        photo = message.photo[-1]  # the largest size
        unique, size = photo.file_unique_id, photo.file_size
    elif message.document and (
        message.document.mime_type == PDF or (message.document.mime_type or "").startswith("image/")
    ):
        unique, size = message.document.file_unique_id, message.document.file_size
    else:
        await message.answer(
            gettext("Please send a photo of the receipt, or the receipt as a PDF file.")
        )
        return
    if size is not None and size > MAX_FILE_BYTES:
        await message.answer(
            gettext(
                "This file is larger than 20 MB, too large for the office to open here. Please "
                "send a photo of the receipt instead, or a smaller PDF."
            )
        )
        return
    files.append({"unique": unique, "chat_id": message.chat.id, "message_id": message.message_id})
    manager.show_mode = ShowMode.SEND  # the count below the photo, not on an old message


async def on_not_file(message: Message, _: MessageInput, manager: DialogManager) -> None:
    await message.answer(
        gettext("Please send a photo of the receipt, or the receipt as a PDF file.")
    )
    manager.show_mode = ShowMode.SEND


async def on_amount(message: Message, _: MessageInput, manager: DialogManager) -> None:
    try:
        amount = parse_amount(message.text or "", _locale(manager))
    except NotAnAmount:
        await message.answer(
            gettext(
                "That is not an amount I can read. Write only the number on the receipt, for "
                "example {example}."
            ).format(example=format_amount(Decimal("1234.50"), _locale(manager)))
        )
        manager.show_mode = ShowMode.SEND
        return
    manager.dialog_data["amount"] = str(amount)
    await manager.switch_to(Receipts.currency, show_mode=ShowMode.SEND)


async def on_currency(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, currency: str
) -> None:
    manager.dialog_data["currency"] = currency
    await manager.switch_to(Receipts.description)


async def on_description(message: Message, _: MessageInput, manager: DialogManager) -> None:
    text = " ".join((message.text or "").split())
    if not text or len(text) > receipts.DESCRIPTION_LIMIT:
        await message.answer(
            gettext("Please write in a few words (at most 200 letters) what you bought.")
        )
        manager.show_mode = ShowMode.SEND
        return
    manager.dialog_data["description"] = text
    await manager.switch_to(Receipts.confirm, show_mode=ShowMode.SEND)


async def on_send(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    session = _session(manager)
    person: Person = manager.middleware_data["person"]
    work: UnitOfWork = manager.middleware_data["work"]
    case = await _case(manager)
    data = manager.dialog_data
    if case is None:
        await manager.done()
        return
    try:
        receipt = await receipts.submit(
            session,
            case,
            person,
            category=data["category"],
            amount=Decimal(data["amount"]),
            currency=data["currency"],
            description=data["description"],
            files=[
                ReceiptFileRef(f["unique"], int(f["chat_id"]), int(f["message_id"]))
                for f in data.get("files", [])
            ],
            # The office's day: "the same day" for duplicates is the day where it is read.
            on=datetime.now(ZoneInfo(case.office.timezone)).date(),
        )
    except RuleViolation:
        await session.rollback()
        await manager.switch_to(Receipts.refused)
        return
    data["code"] = ledger.receipt_code(case, receipt.number)
    await work.commit()
    await manager.switch_to(Receipts.sent)


async def sent_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    return {"code": dialog_manager.dialog_data.get("code", "")}


def receipt_dialog() -> Dialog:
    return Dialog(
        Window(
            Tr(
                "Choose what the receipt is for. Only these parts of your budget are paid "
                "against receipts, and only for what they are meant for, up to what is left.",
                when="open",
            ),
            Tr(
                "No part of your budget that is paid against receipts has money left. Write to "
                "the office here if you think this is wrong.",
                when="none_left",
            ),
            Tr("Your case is closed, so receipts can no longer be sent.", when="closed"),
            Tr(
                "Your office has not set up your budget here yet. Write to them here to ask.",
                when="no_budget",
            ),
            Column(
                Select(
                    Format("{item[1]}"),
                    id="category",
                    item_id_getter=operator.itemgetter(0),
                    items="categories",
                    on_click=on_category,
                )
            ),
            Cancel(Tr("Cancel")),
            state=Receipts.category,
            getter=category_getter,
        ),
        Window(
            Tr(
                "Send one or more photos of the receipt, or the receipt as a PDF (up to 20 MB). "
                "Make sure the amount, the date and the seller can be read."
            ),
            Tr("Received: {count}. Send more, or press Next.", when="has_files"),
            MessageInput(on_file, content_types=[ContentType.PHOTO, ContentType.DOCUMENT]),
            MessageInput(on_not_file),
            Row(
                Back(Tr("Back")),
                SwitchTo(Tr("Next"), id="next", state=Receipts.amount, when="has_files"),
            ),
            Cancel(Tr("Cancel")),
            state=Receipts.files,
            getter=files_getter,
        ),
        Window(
            Tr("What is the total on the receipt? Write the number only, e.g. {example}."),
            MessageInput(on_amount, content_types=[ContentType.TEXT]),
            MessageInput(on_not_file_text),
            Back(Tr("Back")),
            Cancel(Tr("Cancel")),
            state=Receipts.amount,
            getter=example_getter,
        ),
        Window(
            Tr("In which currency?"),
            Column(
                Select(
                    Format("{item[1]}"),
                    id="currency",
                    item_id_getter=operator.itemgetter(0),
                    items="currencies",
                    on_click=on_currency,
                )
            ),
            Back(Tr("Back")),
            Cancel(Tr("Cancel")),
            state=Receipts.currency,
            getter=currency_getter,
        ),
        Window(
            Tr("What did you buy? A few words, e.g. rent for March or a sewing machine."),
            MessageInput(on_description, content_types=[ContentType.TEXT]),
            MessageInput(on_not_file_text),
            Back(Tr("Back")),
            Cancel(Tr("Cancel")),
            state=Receipts.description,
        ),
        Window(
            Tr(
                "Please check:\n{category}\n{amount}\n{description}\nPhotos or files: {count}"
                "\n\nSend it to the office?"
            ),
            Button(Tr("Send"), id="send", on_click=on_send),
            Back(Tr("Back")),
            Cancel(Tr("Cancel")),
            state=Receipts.confirm,
            getter=summary_getter,
        ),
        Window(
            Tr(
                "Thank you. Your receipt {code} has reached the office. They check it and you "
                "get a message here when it is approved, or if they have a question. Keep the "
                "paper receipt until the money is paid."
            ),
            Cancel(Tr("Back to the menu")),
            state=Receipts.sent,
            getter=sent_getter,
        ),
        Window(
            Tr(
                "The receipt could not be sent: the category has no money left, or your case "
                "no longer takes receipts. Nothing was sent. Write to the office here if you "
                "need help."
            ),
            Cancel(Tr("Back to the menu")),
            state=Receipts.refused,
        ),
    )


async def on_not_file_text(message: Message, _: MessageInput, manager: DialogManager) -> None:
    await message.answer(gettext("Please write it as text."))
    manager.show_mode = ShowMode.SEND


# ---- the returnee answers the office's question about a receipt ---------------------------


async def on_answer(message: Message, _: MessageInput, manager: DialogManager) -> None:
    session = _session(manager)
    person: Person = manager.middleware_data["person"]
    work: UnitOfWork = manager.middleware_data["work"]
    start: dict[str, Any] = manager.start_data or {}  # type: ignore[assignment]
    try:
        await receipts.answer(session, int(start["receipt"]), person, message.text or "")
    except RuleViolation:
        await session.rollback()
        await message.answer(
            gettext("This question is already answered or closed. Write to the office here.")
        )
        await manager.done()
        return
    await work.commit()
    await message.answer(gettext("Thank you, your answer has reached the office."))
    await manager.done()


def receipt_answer_dialog() -> Dialog:
    return Dialog(
        Window(
            Tr("Write your answer to the office's question about {code}."),
            MessageInput(on_answer, content_types=[ContentType.TEXT]),
            MessageInput(on_not_file_text),
            Cancel(Tr("Cancel")),
            state=ReceiptAnswer.text,
            getter=answer_getter,
        ),
    )


async def answer_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    start: dict[str, Any] = dialog_manager.start_data or {}  # type: ignore[assignment]
    return {"code": start.get("code", "")}
