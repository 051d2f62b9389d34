"""One update's work: what a handler changed is committed, and then the sender looks at once for
anything it queued, instead of waiting for its next round."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class Wakeable(Protocol):
    def wake(self) -> None: ...


class UnitOfWork:
    def __init__(self, session: AsyncSession, sender: Wakeable) -> None:
        self.session = session
        self._sender = sender

    async def commit(self) -> None:
        """Commit first: the sender only ever sees what is committed."""
        await self.session.commit()
        self._sender.wake()

    async def rollback(self) -> None:
        await self.session.rollback()
