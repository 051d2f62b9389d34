"""Errors a service raises when a request breaks a rule; the message is safe to show an admin."""


class RuleViolation(Exception):
    """The request was refused; nothing was written."""


class NotFound(RuleViolation):
    """The named office, case or person does not exist."""
