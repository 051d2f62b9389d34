"""aiogram-dialog menus and wizards, and the texts that greet people."""

from aiogram import Router

from dialogs.chat_clearing import chat_clearing_dialog
from dialogs.checkin import checkin_dialog
from dialogs.knowledge import knowledge_dialog
from dialogs.main_menu import main_menu_dialog
from dialogs.onboarding import onboarding_dialog
from dialogs.reallocation import reallocation_dialog
from dialogs.receipt import receipt_answer_dialog, receipt_dialog


def dialogs_router() -> Router:
    router = Router(name="dialogs")
    router.include_routers(
        onboarding_dialog(),
        main_menu_dialog(),
        knowledge_dialog(),
        receipt_dialog(),
        receipt_answer_dialog(),
        reallocation_dialog(),
        checkin_dialog(),
        chat_clearing_dialog(),
    )
    return router
