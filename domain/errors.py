"""The domain's error hierarchy.

The HTTP layer maps these to status codes in one place (``api/errors.py``); the
message rules raise the ``MessageRejectedError`` family, which never reaches HTTP:
a rejected recipient becomes a message with its 4xx status.
"""

from __future__ import annotations


class SmsLedgerError(Exception):
    """Base of every error smsledger raises on purpose."""


class NotFoundError(SmsLedgerError):
    """An id that does not exist (or belongs to another account)."""


class AccountNotFoundError(NotFoundError):
    """No account with that id."""


class MessageNotFoundError(NotFoundError):
    """No message with that id."""


class AddOnNotFoundError(NotFoundError):
    """No such add-on, or another account's."""


class UserNotFoundError(NotFoundError):
    """No such user, or another account's."""


class ContactNotFoundError(NotFoundError):
    """No such contact of the account (never created, deleted, or another account's)."""


class BatchNotFoundError(NotFoundError):
    """No batch with that id."""


class ConflictError(SmsLedgerError):
    """The request is well formed but conflicts with the current state."""


class TopUpConflictError(ConflictError):
    """A top-up reference was used before with another amount."""


class AlreadyHandedOffError(ConflictError):
    """The message has reached an upstream gateway and can no longer be canceled."""


class ConcurrentUpdateError(ConflictError):
    """Retries on a version conflict ran out; the caller may retry."""


class PeriodNotEndedError(ConflictError):
    """An invoice period cannot be issued before it has ended."""


class InvalidRequestError(SmsLedgerError):
    """Malformed or out-of-range input (HTTP 422)."""


class PasswordRuleError(InvalidRequestError):
    """A password that breaks the rule (HTTP 422); ``rule`` names which part."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"the password needs {rule}")
        self.rule = rule


class AuthenticationError(SmsLedgerError):
    """Wrong email or password, or a link that is unknown, used or expired (HTTP 401);
    the same words whichever it was."""


class RateLimitedError(SmsLedgerError):
    """Too many failed attempts (HTTP 429); ``retry_after`` seconds until the next."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class EmailTakenError(ConflictError):
    """An address is already a user's (of this or another account)."""


class MessageRejectedError(SmsLedgerError):
    """A message fails an acceptance rule; carries the 4xx status it gets."""

    code: int = 406

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SenderRejectedError(MessageRejectedError):
    """403: sender not allowed (a protected name not verified for the account, or a US or
    Canadian recipient without an active campaign)."""

    code = 403


class ContentRejectedError(MessageRejectedError):
    """404: the body holds a banned keyword."""

    code = 404


class RecipientRejectedError(MessageRejectedError):
    """405: the recipient is blocked or opted out."""

    code = 405


class InvalidSenderError(MessageRejectedError):
    """407: sender too long, illegal characters."""

    code = 407


class InvalidContentError(MessageRejectedError):
    """408: empty, illegal characters or too many parts."""

    code = 408


class InvalidRecipientError(MessageRejectedError):
    """409: the recipient is not a valid MSISDN."""

    code = 409


class MissingSmsSubscriptionError(MessageRejectedError):
    """410: the recipient's subscription cannot receive SMS (a fixed line)."""

    code = 410


class GenericRejectedError(MessageRejectedError):
    """406: rejected for another reason (no price for the destination)."""

    code = 406
