"""The people of an account: the ``User`` aggregate and the password rule.

A user belongs to one account and has one of the account roles. The administrator (or
the operator) invites them; they set their own password from an emailed one-time link.
The password rule is the domain's (``check_password``); the hash is made by an adapter
(argon2id) and only the hash ever reaches an event. The user's id is derived from the
e-mail address, so an address is one user across the platform: the event store's own
key refuses a second invitation of it, with no read model to race.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Literal

from eventsourcing.domain import Aggregate, event

from smsledger.domain.access import ACCOUNT_ROLES, Role
from smsledger.domain.errors import ConflictError, InvalidRequestError, PasswordRuleError
from smsledger.domain.text import check_line, illegal_character

if TYPE_CHECKING:
    from datetime import datetime

UserState = Literal["invited", "active", "disabled"]
MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path
MAX_USER_NAME_LENGTH = 200
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1_024  # far beyond any passphrase; bounds the hash's work
_USERS = uuid.UUID("6c1d2f63-8f0e-4a8c-9d3e-5b7a1e0c4f21")  # the namespace of user ids


def normalise_email(email: object) -> str:
    """An address as one user is known by: trimmed, lower-case. Syntax is the HTTP
    layer's (``email-validator``); here only what no stored text may hold."""
    if isinstance(email, str):
        email = email.strip().lower()
    text = check_line(email, "email", min_length=3, max_length=MAX_EMAIL_LENGTH)
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or " " in text:
        msg = f"email {text!r} is not an e-mail address"
        raise InvalidRequestError(msg)
    return text


def user_id_for(email: str) -> uuid.UUID:
    """The id of the user with this (normalised) address: the same on every call."""
    return uuid.uuid5(_USERS, normalise_email(email))


def check_password(password: object) -> str:
    """``password`` if it keeps the rule: at least 10 characters, one digit and one
    capital letter; ``PasswordRuleError`` naming the first part it breaks."""
    if not isinstance(password, str):
        msg = "the password must be a string"
        raise InvalidRequestError(msg)
    if len(password) > MAX_PASSWORD_LENGTH:
        msg = f"the password may have at most {MAX_PASSWORD_LENGTH} characters"
        raise InvalidRequestError(msg)
    if illegal_character(password) is not None:
        msg = "the password holds a control character"
        raise InvalidRequestError(msg)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRuleError(f"at least {MIN_PASSWORD_LENGTH} characters")
    if not any(ch.isdigit() for ch in password):
        raise PasswordRuleError("at least one digit")
    if not any(ch.isupper() for ch in password):
        raise PasswordRuleError("at least one capital letter")
    return password


def check_user_role(role: object) -> Role:
    for known in ACCOUNT_ROLES:
        if role == known:
            return known
    msg = f"role must be one of {', '.join(ACCOUNT_ROLES)}, got {role!r}"
    raise InvalidRequestError(msg)


def check_user_name(name: object) -> str:
    if isinstance(name, str):
        name = name.strip()
    return check_line(name, "name", max_length=MAX_USER_NAME_LENGTH)


class User(Aggregate):
    TOPIC = "smsledger:User"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:User.Created"

    @event("Invited", topic="smsledger:User.Invited")
    def __init__(
        self,
        id: uuid.UUID,
        account_id: uuid.UUID,
        email: str,
        name: str,
        role: Role,
        timestamp: datetime,
    ) -> None:
        self.account_id = account_id
        self.email = email
        self.name = name
        self.role: Role = role
        self.state: UserState = "invited"
        self.password_hash: str | None = None

    @classmethod
    def invite(
        cls, account_id: uuid.UUID, email: str, name: str, role: str, timestamp: datetime
    ) -> User:
        address = normalise_email(email)
        return cls(
            id=user_id_for(address),
            account_id=account_id,
            email=address,
            name=check_user_name(name),
            role=check_user_role(role),
            timestamp=timestamp,
        )

    def set_password(self, password_hash: str, timestamp: datetime) -> None:
        """Keep a new password's hash (checked against the rule before it was hashed);
        an invited user becomes active."""
        if self.state == "disabled":
            msg = "a disabled user cannot set a password"
            raise ConflictError(msg)
        if not isinstance(password_hash, str) or not password_hash.startswith("$argon2"):
            msg = "only an argon2 hash of a password is ever kept"
            raise InvalidRequestError(msg)
        self._password_set(password_hash, timestamp)

    @event("PasswordSet", topic="smsledger:User.PasswordSet")
    def _password_set(self, password_hash: str, timestamp: datetime) -> None:
        self.password_hash = password_hash
        self.state = "active"

    def change(self, name: str | None, role: str | None, timestamp: datetime) -> bool:
        """Rename or change the role; ``False`` if nothing changes."""
        new_name = self.name if name is None else check_user_name(name)
        new_role = self.role if role is None else check_user_role(role)
        if (new_name, new_role) == (self.name, self.role):
            return False
        self._changed(new_name, new_role, timestamp)
        return True

    @event("Changed", topic="smsledger:User.Changed")
    def _changed(self, name: str, role: Role, timestamp: datetime) -> None:
        self.name = name
        self.role = role

    def disable(self, timestamp: datetime) -> bool:
        if self.state == "disabled":
            return False
        self._disabled(timestamp)
        return True

    @event("Disabled", topic="smsledger:User.Disabled")
    def _disabled(self, timestamp: datetime) -> None:
        self.state = "disabled"

    def enable(self, timestamp: datetime) -> bool:
        if self.state != "disabled":
            return False
        self._enabled("invited" if self.password_hash is None else "active", timestamp)
        return True

    @event("Enabled", topic="smsledger:User.Enabled")
    def _enabled(self, state: UserState, timestamp: datetime) -> None:
        """``state``: what the user is again (recorded, so a read model needs no history)."""
        self.state = state

    @property
    def can_log_in(self) -> bool:
        return self.state == "active" and self.password_hash is not None
