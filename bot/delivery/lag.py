"""How late returnees' messages reach their office's group, and telling the office when late."""

from __future__ import annotations

import logging
import time

from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n

from bot.delivery.gateway import Gateway
from bot.delivery.texts import notice_text, office_locale
from storage.models import Case

logger = logging.getLogger(__name__)

ALERT_EVERY_SECONDS = 3600


class LagWatch:
    def __init__(self, gateway: Gateway, i18n: I18n, alert_seconds: float) -> None:
        self.gateway = gateway
        self.i18n = i18n
        self.alert_seconds = alert_seconds
        # Per group: the latest relay lag (seconds from receiving to posting) and the last alert.
        self.lag: dict[int, float] = {}
        self._alerted: dict[int, float] = {}

    def quiet_for_a_while(self, chat_id: int) -> None:
        """No alert for an hour: a group that refused the bot is late because of that, not
        because of Telegram's rate."""
        self._alerted[chat_id] = time.monotonic()

    async def observe(self, chat_id: int, lag: float, case: Case | None) -> None:
        """Tell the office, at most once an hour, when returnees' messages arrive late."""
        self.lag[chat_id] = lag
        if lag < self.alert_seconds or case is None:
            return
        if time.monotonic() - self._alerted.get(chat_id, -ALERT_EVERY_SECONDS) < (
            ALERT_EVERY_SECONDS
        ):
            return
        self._alerted[chat_id] = time.monotonic()
        logger.warning("relay lag in group %s is %.0f s", chat_id, lag)
        text = notice_text(
            self.i18n,
            office_locale(case.office, self.i18n),
            "relay_late",
            {"minutes": max(1, round(lag / 60))},
        )
        # Office-wide, so in General; it names no case and no person.
        await self.gateway.call(chat_id, SendMessage(chat_id=chat_id, text=text))
