"""Words the bot writes privately to a returnee or a counsellor about their own messages."""

from __future__ import annotations

from bot.marks import N_

# To a returnee or counsellor, in reply to their own message that Telegram refused.
MESSAGE_REFUSED = N_(
    "⚠️ Telegram did not let this message reach the office; please send it again in another way."
)
