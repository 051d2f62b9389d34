"""Words about an erasure (bot/services/erasure.py): to the returnee, in their language, that
their data is erased or that the office refused; to a counsellor, in theirs, that a case of
theirs was erased (its code is all they are told)."""

from __future__ import annotations

from bot.marks import N_

# The last message in the returnee's chat, after the bot deleted what it could there.
ERASED_FOR_RETURNEE = N_(
    "🗑️ As you asked, your data has been erased from Homeward: your case, your messages, "
    "receipts, check-ins and budget records. The bot deleted what it could in this chat "
    "(Telegram does not let it delete messages older than two days). To remove the rest, "
    "delete this chat. If you need your office again, ask them for a new invitation."
)

ERASED_FOR_COUNSELLOR = N_("Case {code} was erased at the returnee's request.")

# News to the returnee (bot/services/outbox.py NewsPayload), looked up beside the money's.
ERASURE_NEWS = {
    "erasure_refused": N_(
        "Your office did not erase your data now. Write to them here to talk about it; you can "
        "ask again from the menu (Privacy)."
    ),
}

# Under the request's note in the case's topic.
ERASE_BUTTONS = {
    "erase_yes": N_("🗑️ Erase the case"),
    "erase_no": N_("❌ Refuse"),
}
