"""Marking strings for extraction without importing the Telegram framework."""


def N_(msgid: str) -> str:
    """Marks a message id for extraction where it is defined apart from where it is shown."""
    return msgid
