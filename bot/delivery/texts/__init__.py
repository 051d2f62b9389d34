"""What the bot writes itself, one module per audience: `staff` (the case card and notes in a
case's topic), `people` (a returnee or counsellor, about their own messages), `managers`
(programme managers, about an office's staff group)."""

from bot.delivery.texts.managers import GROUP_REFUSED, group_refused_text
from bot.delivery.texts.people import MESSAGE_REFUSED
from bot.delivery.texts.staff import (
    CONTENT_KINDS,
    NOTICES,
    STATUS,
    case_card,
    copyable,
    notice_text,
    office_locale,
    topic_name,
    with_mentions,
)

__all__ = [
    "CONTENT_KINDS",
    "GROUP_REFUSED",
    "MESSAGE_REFUSED",
    "NOTICES",
    "STATUS",
    "case_card",
    "copyable",
    "group_refused_text",
    "notice_text",
    "office_locale",
    "topic_name",
    "with_mentions",
]
