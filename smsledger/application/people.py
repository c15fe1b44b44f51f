"""People: invitations, passwords, sessions and password resets (use cases).

Thin like the ledger: load the ``User``, let the domain decide, save, and do the one
side effect each step has (a one-time link and its mail, a session). The stores are
ports; ``smsledger.bootstrap`` wires the adapters (``adapters.people``,
``adapters.mail``, ``adapters.passwords``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple, Protocol

from smsledger.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    RateLimitedError,
)
from smsledger.domain.users import check_password, normalise_email

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from uuid import UUID

    from smsledger.application.ledger import Ledger, Written
    from smsledger.domain.access import Role
    from smsledger.domain.users import User

INVITE_TTL = timedelta(hours=72)
RESET_TTL = timedelta(hours=2)
RESET_EVERY = timedelta(minutes=1)  # at most one reset mail a minute per user
_BAD_LOGIN = "wrong email or password"
_BAD_LINK = "this link is unknown, used or expired; ask for a new one"


class Link(Protocol):
    @property
    def user_id(self) -> UUID: ...
    @property
    def purpose(self) -> str: ...


class Opened(Protocol):
    @property
    def token(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...


class CredentialStore(Protocol):
    """One-time links, sessions and the failed-login throttle."""

    def issue_link(self, user_id: UUID, purpose: str, now: datetime, ttl: timedelta) -> str: ...
    def claim_link(self, token: object, now: datetime) -> Link | None: ...
    def release_link(self, token: str) -> None: ...
    def last_link_at(self, user_id: UUID, purpose: str) -> datetime | None: ...
    def open_session(
        self, user_id: UUID, account_id: UUID, role: Role, now: datetime, ttl: timedelta
    ) -> Opened: ...
    def end_session(self, token: str, now: datetime) -> bool: ...
    def end_sessions_of(self, user_id: UUID, now: datetime) -> int: ...
    def blocked_until(self, key: str, now: datetime) -> datetime | None: ...
    def record_failure(self, key: str, now: datetime) -> None: ...
    def clear_failures(self, key: str) -> None: ...


class MailOutbox(Protocol):
    def enqueue(self, to_addr: str, subject: str, body: str, now: datetime) -> UUID: ...


class Session(NamedTuple):
    token: str
    expires_at: datetime
    user: User


@dataclass
class People:
    ledger: Ledger
    credentials: CredentialStore
    outbox: MailOutbox
    hash_password: Callable[[str], str]
    verify_password: Callable[[str | None, str], bool]
    throttle_key: Callable[[str], str]
    public_url: str
    admins_of: Callable[[UUID], list[str]]
    session_ttl: timedelta = timedelta(hours=12)

    # --- invitations ------------------------------------------------------------------

    def invite(self, account_id: UUID, email: str, name: str, role: str) -> Written[User]:
        """A new user, and the mail with their one-time link to set a password."""
        written = self.ledger.invite_user(account_id, email, name, role)
        self._mail_invitation(written.value)
        return written

    def resend_invitation(self, user: User) -> None:
        """A new link for a user who has not set a password yet (the old one stops)."""
        if user.state != "invited":
            msg = "only an invited user gets an invitation; use a password reset"
            raise ConflictError(msg)
        self._mail_invitation(user)

    def _mail_invitation(self, user: User) -> None:
        now = self.ledger.now()
        account = self.ledger.get_account(user.account_id)
        token = self.credentials.issue_link(user.id, "invite", now, INVITE_TTL)
        self.outbox.enqueue(
            user.email,
            f"You are invited to {account.name} on smsledger",
            f"Hello {user.name},\n\n"
            f"you have been added to {account.name} on smsledger as {user.role}.\n"
            "Choose your password here (the link works once, for 72 hours):\n\n"
            f"{self._link(token)}\n\n"
            "If you did not expect this mail, you can ignore it.\n",
            now,
        )

    def _link(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/password?token={token}"

    def mail_admins(self, account_id: UUID, subject: str, body: str) -> int:
        """A mail to every active admin user of the account (none: nobody to tell, and
        the log has it); how many were written to the outbox."""
        now = self.ledger.now()
        addresses = self.admins_of(account_id)
        for address in addresses:
            self.outbox.enqueue(address, subject, body, now)
        return len(addresses)

    # --- passwords ----------------------------------------------------------------------

    def set_password(self, token: object, password: object) -> Written[User]:
        """Set a password from a one-time link (an invitation or a reset). The rule is
        checked before the link is used, so a rejected password keeps the link."""
        checked = check_password(password)
        now = self.ledger.now()
        link = self.credentials.claim_link(token, now)
        if link is None:
            raise AuthenticationError(_BAD_LINK)
        assert isinstance(token, str)
        try:
            password_hash = self.hash_password(checked)

            def change(user: User) -> User:
                user.set_password(password_hash, now)
                return user

            written = self.ledger.on_user(link.user_id, change)
        except BaseException:
            self.credentials.release_link(token)
            raise
        # A new password ends every session the old one opened.
        self.credentials.end_sessions_of(link.user_id, now)
        return written

    def request_reset(self, email: object) -> None:
        """Mail a reset link if a user has this address; the same silence either way."""
        try:
            address = normalise_email(email)
        except InvalidRequestError:
            return  # a malformed address is one nobody has
        user = self.ledger.find_user(address)
        if user is None or user.state == "disabled":
            return
        now = self.ledger.now()
        last = self.credentials.last_link_at(user.id, "reset")
        if last is not None and now - last < RESET_EVERY:
            return  # a mail a minute at most: nobody can flood an inbox through us
        token = self.credentials.issue_link(user.id, "reset", now, RESET_TTL)
        self.outbox.enqueue(
            user.email,
            "Reset your smsledger password",
            f"Hello {user.name},\n\n"
            "someone (we hope you) asked to reset your smsledger password.\n"
            "Choose a new one here (the link works once, for 2 hours):\n\n"
            f"{self._link(token)}\n\n"
            "If it was not you, ignore this mail: your password stays as it is.\n",
            now,
        )

    # --- sessions -----------------------------------------------------------------------

    def log_in(self, email: object, password: object) -> Session:
        """A session for the user with this address and password. A wrong address and a
        wrong password read the same and cost the same; five failures in 15 minutes
        for an address make it wait (429)."""
        now = self.ledger.now()
        try:
            address = normalise_email(email)
        except InvalidRequestError:
            raise AuthenticationError(_BAD_LOGIN) from None  # nobody has such an address
        key = self.throttle_key(address)
        until = self.credentials.blocked_until(key, now)
        if until is not None:
            wait = math.ceil((until - now).total_seconds())
            msg = "too many failed logins for this address; try again later"
            raise RateLimitedError(msg, wait)
        user = self.ledger.find_user(address)
        known = user is not None and user.can_log_in
        given = password if isinstance(password, str) else ""
        ok = self.verify_password(user.password_hash if known and user else None, given)
        if not (ok and known and user is not None):
            self.credentials.record_failure(key, now)
            raise AuthenticationError(_BAD_LOGIN)
        self.credentials.clear_failures(key)
        opened = self.credentials.open_session(
            user.id, user.account_id, user.role, now, self.session_ttl
        )
        return Session(opened.token, opened.expires_at, user)

    def log_out(self, token: str) -> bool:
        return self.credentials.end_session(token, self.ledger.now())

    # --- administration -----------------------------------------------------------------

    def change(
        self, user_id: UUID, name: str | None, role: str | None, state: str | None
    ) -> Written[User]:
        """Rename, change the role, disable or enable. A new role or a disabled user
        ends the user's sessions at once."""
        now = self.ledger.now()

        def apply(user: User) -> User:
            before = user.role
            user.change(name, role, now)
            if state == "disabled":
                user.disable(now)
            elif state == "active":
                user.enable(now)
            if user.role != before:
                self.credentials.end_sessions_of(user.id, now)
            return user

        written = self.ledger.on_user(user_id, apply)
        if written.value.state == "disabled":
            self.credentials.end_sessions_of(user_id, now)
        return written
