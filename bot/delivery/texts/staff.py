"""Words the bot writes for office staff: the case card, the topic's name and the short notes in
a case's topic, in the office's language."""

from __future__ import annotations

from typing import Any

from aiogram.utils.i18n import I18n

from bot.delivery.split import utf16_length
from bot.delivery.texts.checkins import ANSWER_LABELS
from bot.formatting import format_date
from bot.i18n import N_
from bot.languages import SHIPPED_LANGUAGES
from storage.models import Case, CaseStatus, Office

NOTICES = {
    "location_shared": N_(
        "📍 The returnee shared a location. It is not shown here, to keep them safe. "
        "If you need it, ask them."
    ),
    "not_passed_on": N_(
        "🚫 The returnee sent something that cannot be passed on: {kind}. It is not shown "
        "here; they were told."
    ),
    "not_passed_on_counsellor": N_(
        "🚫 The counsellor {name} ({organisation}) sent something that cannot be passed on: "
        "{kind}. It is not shown here; they were told."
    ),
    "relay_late": N_(
        "⏳ Returnees' messages are reaching this group about {minutes} min late, because "
        "Telegram limits how fast a bot may post in one group. Nothing is lost; they arrive in "
        "order."
    ),
    "location_declined": N_("📍 The returnee chose not to share the location."),
    "knowledge_suggested": N_(
        '💡 This may be answered by the programme question "{question}". Send it to the '
        "returnee in their language with /kb {entry}"
    ),
    "knowledge_answered": N_(
        '💡 The returnee got the automatic answer to "{question}" (/kb {entry}). Add to it '
        "if it does not fit."
    ),
    "knowledge_asked": N_(
        '❓ The returnee read the programme answer to "{question}" (/kb {entry}) and asks a '
        "person about it. Their next message follows."
    ),
    "danger": N_(
        "🚨 Urgent: this returnee's message may mean they are in danger. They were sent the "
        "safety answer with the office's emergency contact. Please look at it now:"
    ),
    "returnee_blocked": N_(
        "⚠️ The returnee has blocked the bot. Your messages are kept and will be delivered if "
        "they write again."
    ),
    "receipt_answered": N_("💬 The returnee answers about {receipt}:\n\n{answer}"),
    "money_not_received": N_(
        "🚨 The returnee says the payout of {amount} ({category}) did not reach them. "
        "Please look into it now."
    ),
    "payout_overdue": N_(
        "⏰ Overdue: {amount} was approved more than {days} days ago and is not marked paid. "
        "Press Paid on the card, or write /paid, once it is paid."
    ),
    "reallocation_requested": N_(
        "🔁 The returnee asks to move {amount} from {from_category} to {category}."
    ),
    "checkin_alert": N_(
        "🚨 Check-in {month}: the returnee answered {answer}. Please contact them today."
    ),
    "checkin_alert_again": N_(
        "🚨 Still open, nobody has taken it: check-in {month}, the returnee answered {answer}."
    ),
    "checkins_paused": N_(
        "⏸️ The returnee paused the monthly check-ins. Talk to them, then /checkins resume."
    ),
    "checkins_stopped": N_(
        "⏹️ The returnee stopped the monthly check-ins. Talk to them, then /checkins resume."
    ),
    "checkin_missed": N_(
        "📭 Check-in {month} was not answered within ten days, after two reminders."
    ),
    "checkin_summary": N_(
        "📋 Check-in {month}, answered.\nHow they are: {feeling}\nSafe: {safe}\n"
        "Housing: {housing}\nWork, school or business: {activity}\nMoney this month: {money}\n"
        "Wants contact: {contact}\nAnything else: {note}"
    ),
    "message_refused": N_(
        "⚠️ Telegram refused this message, so it was not delivered; please send it again in "
        "another way."
    ),
    "sensitive_not_deleted": N_(
        "⚠️ This message was marked sensitive, but Telegram did not let the bot delete it from "
        "the returnee's chat. Ask the returnee to delete it themselves."
    ),
    "erasure_requested": N_(
        "🗑️ The returnee asks to have their data erased. Erasing deletes for good the case, "
        "its messages, receipts, payments, check-ins, updates and this topic; only the figures "
        "for the programme's statistics are kept, without the case. Their contact persons are "
        "told. Erase now, or refuse and talk to them?"
    ),
}

# What cannot be passed on (bot/telegram/incoming.py NOT_PASSED_ON), named for people.
CONTENT_KINDS = {
    "poll": N_("a poll"),
    "dice": N_("an animated dice or game emoji"),
    "game": N_("a game"),
    "story": N_("a story"),
    "paid_media": N_("a paid photo or video"),
    "web_app_data": N_("data from a mini app"),
}

STATUS = {
    CaseStatus.PREPARING: N_("preparing return"),
    CaseStatus.RETURNED: N_("returned"),
    CaseStatus.CLOSED: N_("closed"),
    CaseStatus.DROPPED_OUT: N_("dropped out"),
}


def office_locale(office: Office, i18n: I18n) -> str:
    """Staff read the bot's notes in the office's first shipped language."""
    return next(
        (code for code in office.languages if code in SHIPPED_LANGUAGES), i18n.default_locale
    )


def topic_name(case: Case) -> str:
    # Code and language only: a topic name is visible in notifications and chat lists.
    return f"{case.code} · {case.language}"


def notice_text(i18n: I18n, locale: str, key: str, values: dict[str, Any]) -> str:
    if values.get("kind") in CONTENT_KINDS:
        values = {**values, "kind": i18n.gettext(CONTENT_KINDS[values["kind"]], locale=locale)}
    # A check-in's answers travel as keys ("safe.no") and are worded in the reader's language.
    values = {
        name: i18n.gettext(ANSWER_LABELS[value], locale=locale)
        if isinstance(value, str) and value in ANSWER_LABELS
        else value
        for name, value in values.items()
    }
    return i18n.gettext(NOTICES[key], locale=locale).format(**values)


def copyable(text: str, fragments: list[str]) -> list[dict[str, Any]]:
    """Monospace entities over each fragment found in the text: one tap copies it whole.

    A command with an argument such as "/kb payout-when" is otherwise tappable only up to "/kb".
    """
    entities = []
    for fragment in fragments:
        at = text.find(fragment)
        if at >= 0:
            entities.append(
                {
                    "type": "code",
                    "offset": utf16_length(text[:at]),
                    "length": utf16_length(fragment),
                }
            )
    return entities


def with_mentions(text: str, people: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The text followed by the people's names, each a mention that notifies them."""
    entities: list[dict[str, Any]] = []
    for person in people:
        text += " " if entities else "\n"
        entities.append(
            {
                "type": "text_mention",
                "offset": utf16_length(text),
                "length": utf16_length(person["name"]),
                "user": {"id": person["user_id"], "is_bot": False, "first_name": person["name"]},
            }
        )
        text += person["name"]
    return text, entities


def case_card(i18n: I18n, case: Case, locale: str, plan: str | None = None) -> str:
    def _(msgid: str) -> str:
        return i18n.gettext(msgid, locale=locale)

    organisations = sorted({c.organisation for c in case.counsellors if c.organisation})
    lines = [
        _("Case {code}").format(code=case.code),
        _("Language: {language}").format(language=case.language),
        _("Status: {status}").format(status=_(STATUS[case.status])),
        _("Return date: {date}").format(
            date=format_date(case.return_date, locale) if case.return_date else "—"
        ),
        _("Assigned to: {staff}").format(
            staff=case.assigned_staff.display_name if case.assigned_staff else "—"
        ),
        _("Counsellor: {organisation}").format(organisation=", ".join(organisations) or "—"),
    ]
    if plan:
        lines += ["", _("Reintegration plan:"), plan]
    return "\n".join(lines)
