"""Words the bot writes privately to programme managers: the office only, never a case or a
person."""

from __future__ import annotations

from aiogram.utils.i18n import I18n

from bot.delivery.refusals import GroupRefusal
from bot.marks import N_
from storage.models import Office

# To programme managers, once per outage of a staff group. No case, no person: the office only.
GROUP_REFUSED = {
    GroupRefusal.REMOVED: N_(
        "⚠️ The bot was removed from the staff group of {office} ({code}), chat {group}. "
        "Messages for the group are kept and will be delivered once the bot is back: please add "
        "it to the group again and make it an administrator with Manage topics, Delete messages "
        "and Pin messages."
    ),
    GroupRefusal.RIGHTS: N_(
        "⚠️ The bot may not post in the staff group of {office} ({code}), chat {group}. "
        "Messages for the group are kept and will be delivered once this is fixed: please check "
        "that Topics are on and make the bot an administrator with Manage topics, Delete "
        "messages and Pin messages."
    ),
}


def group_refused_text(
    i18n: I18n, locale: str, refusal: GroupRefusal, office: Office, chat_id: int
) -> str:
    return i18n.gettext(GROUP_REFUSED[refusal], locale=locale).format(
        office=office.name, code=office.code, group=chat_id
    )
