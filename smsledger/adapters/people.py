"""Users' credentials that are not domain facts, in the views database: one-time links
(invitations and password resets), sessions, and the failed-login throttle.

Every secret here is a 256-bit random token shown once (in a mail or a login answer)
and stored only as its SHA-256: a token has far too much entropy for a slow hash to add
anything, and a lookup by hash stays one index probe. Sessions carry the user's role
and account; disabling a user or changing their role revokes them at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from smsledger.domain.access import Principal
from smsledger.projections import store_for

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from smsledger.domain.access import Role
    from smsledger.projections.db import ViewDatabase

SESSION_PREFIX = "ss_"
LINK_PREFIX = "lt_"
MAX_TOKEN_LENGTH = 100
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_MAX_FAILURES = 5


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _token_hash(token: object, prefix: str) -> str | None:
    if not isinstance(token, str) or not token.startswith(prefix) or len(token) > MAX_TOKEN_LENGTH:
        return None
    return _digest(token)


def email_key(email: str) -> str:
    """What the throttle keys a (normalised) address by: no address is stored in clear."""
    return _digest("login:" + email)


class Link(NamedTuple):
    user_id: UUID
    purpose: str


class OpenedSession(NamedTuple):
    token: str
    expires_at: datetime


class SessionRow(NamedTuple):
    user_id: object
    account_id: object
    role: str
    key_id: object


class ThrottleRow(NamedTuple):
    failures: int
    window_started_at: object


class PeopleStore:
    """``user_links``, ``user_sessions`` and ``login_failures``; thread-safe."""

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.store = store_for(views.dialect)
        self.ph = self.store.ph

    # --- one-time links -----------------------------------------------------------------

    def issue_link(self, user_id: UUID, purpose: str, now: datetime, ttl: timedelta) -> str:
        """A new one-time link token for ``user_id``; earlier unused ones of the same
        purpose stop working (only the newest mail's link does)."""
        token = LINK_PREFIX + secrets.token_urlsafe(32)
        s, ph = self.store, self.ph
        with self.views.transaction() as cur:
            cur.execute(
                f"UPDATE user_links SET used_at = {ph} "
                f"WHERE user_id = {ph} AND purpose = {ph} AND used_at IS NULL",
                [s.time(now), s.uuid(user_id), purpose],
            )
            cur.execute(
                "INSERT INTO user_links (token_hash, user_id, purpose, created_at, expires_at) "
                f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph})",
                [_digest(token), s.uuid(user_id), purpose, s.time(now), s.time(now + ttl)],
            )
        return token

    def last_link_at(self, user_id: UUID, purpose: str) -> datetime | None:
        """When the newest link of this purpose was made for the user."""
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT MAX(created_at) FROM user_links WHERE user_id = {self.ph} "
                f"AND purpose = {self.ph}",
                [self.store.uuid(user_id), purpose],
            )
            found = cur.fetchone()
        return None if found is None or found[0] is None else self.store.to_time(found[0])

    def claim_link(self, token: object, now: datetime) -> Link | None:
        """Use a link once: its user and purpose, or ``None`` if it is unknown, used or
        expired. Two requests with one token: exactly one gets it."""
        token_hash = _token_hash(token, LINK_PREFIX)
        if token_hash is None:
            return None
        s, ph = self.store, self.ph
        with self.views.transaction() as cur:
            cur.execute(
                f"SELECT user_id, purpose FROM user_links WHERE token_hash = {ph} "
                f"AND used_at IS NULL AND expires_at > {ph}",
                [token_hash, s.time(now)],
            )
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(
                f"UPDATE user_links SET used_at = {ph} WHERE token_hash = {ph} AND used_at IS NULL",
                [s.time(now), token_hash],
            )
            if cur.rowcount != 1:
                return None
        return Link(s.to_uuid(row[0]), str(row[1]))

    def release_link(self, token: str) -> None:
        """Give a claimed link back (the change it was claimed for did not happen)."""
        with self.views.transaction() as cur:
            cur.execute(
                f"UPDATE user_links SET used_at = NULL WHERE token_hash = {self.ph}",
                [_digest(token)],
            )

    # --- sessions -----------------------------------------------------------------------

    def open_session(
        self, user_id: UUID, account_id: UUID, role: Role, now: datetime, ttl: timedelta
    ) -> OpenedSession:
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        s, ph = self.store, self.ph
        with self.views.transaction() as cur:
            cur.execute(
                "INSERT INTO user_sessions "
                "(token_hash, user_id, account_id, role, created_at, expires_at) "
                f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})",
                [
                    _digest(token),
                    s.uuid(user_id),
                    s.uuid(account_id),
                    role,
                    s.time(now),
                    s.time(now + ttl),
                ],
            )
        return OpenedSession(token, now + ttl)

    def open_key_session(self, key: Principal, now: datetime, ttl: timedelta) -> OpenedSession:
        """A session for a person who logged in to the console with an API key: the
        cookie holds this token, never the key, and revoking the key ends the session."""
        if key.key_id is None or key.account_id is None or not key.is_account_role:
            msg = "only an account's API key opens a console session"
            raise ValueError(msg)
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        s, ph = self.store, self.ph
        with self.views.transaction() as cur:
            cur.execute(
                "INSERT INTO user_sessions "
                "(token_hash, user_id, account_id, role, created_at, expires_at, key_id) "
                f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph})",
                [
                    _digest(token),
                    s.uuid(key.key_id),
                    s.uuid(key.account_id),
                    key.role,
                    s.time(now),
                    s.time(now + ttl),
                    s.uuid(key.key_id),
                ],
            )
        return OpenedSession(token, now + ttl)

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        """The principal of a live session, or ``None``."""
        token_hash = _token_hash(token, SESSION_PREFIX)
        if token_hash is None:
            return None
        s, ph = self.store, self.ph
        columns = ", ".join(f"s.{name}" for name in SessionRow._fields)
        with self.views.reading() as cur:
            # A key's session lives only as long as its key (one primary-key probe).
            cur.execute(
                f"SELECT {columns} FROM user_sessions s "
                "LEFT JOIN api_keys k ON k.id = s.key_id "
                f"WHERE s.token_hash = {ph} AND s.revoked_at IS NULL AND s.expires_at > {ph} "
                "AND (s.key_id IS NULL OR (k.id IS NOT NULL AND k.revoked_at IS NULL))",
                [token_hash, s.time(now)],
            )
            found = cur.fetchone()
        if found is None:
            return None
        row = SessionRow._make(found)
        role: Role = row.role  # type: ignore[assignment]  # the table's CHECK
        account_id = s.to_uuid(row.account_id)
        if row.key_id is not None:
            return Principal(s.to_uuid(row.key_id), role, account_id)
        return Principal(None, role, account_id, user_id=s.to_uuid(row.user_id))

    def end_session(self, token: str, now: datetime) -> bool:
        token_hash = _token_hash(token, SESSION_PREFIX)
        if token_hash is None:
            return False
        with self.views.transaction() as cur:
            cur.execute(
                f"UPDATE user_sessions SET revoked_at = {self.ph} "
                f"WHERE token_hash = {self.ph} AND revoked_at IS NULL",
                [self.store.time(now), token_hash],
            )
            return bool(cur.rowcount)

    def end_sessions_of(self, user_id: UUID, now: datetime) -> int:
        """Revoke every live session of a user; how many there were."""
        with self.views.transaction() as cur:
            cur.execute(
                f"UPDATE user_sessions SET revoked_at = {self.ph} "
                f"WHERE user_id = {self.ph} AND revoked_at IS NULL",
                [self.store.time(now), self.store.uuid(user_id)],
            )
            return int(cur.rowcount)

    # --- failed logins ------------------------------------------------------------------

    def blocked_until(self, key: str, now: datetime) -> datetime | None:
        """When logins for this address may be tried again, if they are throttled now."""
        with self.views.reading() as cur:
            cur.execute(
                "SELECT failures, window_started_at FROM login_failures "
                f"WHERE email_key = {self.ph}",
                [key],
            )
            found = cur.fetchone()
        if found is None:
            return None
        row = ThrottleRow._make(found)
        ends = self.store.to_time(row.window_started_at) + LOGIN_WINDOW
        if int(row.failures) >= LOGIN_MAX_FAILURES and now < ends:
            return ends
        return None

    def record_failure(self, key: str, now: datetime) -> None:
        """Count a failed login; a window older than ``LOGIN_WINDOW`` starts again."""
        s, ph = self.store, self.ph
        window_start = s.time(now - LOGIN_WINDOW)
        with self.views.transaction() as cur:
            cur.execute(
                "INSERT INTO login_failures (email_key, failures, window_started_at) "
                f"VALUES ({ph}, 1, {ph}) ON CONFLICT (email_key) DO UPDATE SET "
                "failures = CASE WHEN login_failures.window_started_at <= "
                f"{ph} THEN 1 ELSE login_failures.failures + 1 END, "
                "window_started_at = CASE WHEN login_failures.window_started_at <= "
                f"{ph} THEN excluded.window_started_at ELSE login_failures.window_started_at END",
                [key, s.time(now), window_start, window_start],
            )

    def clear_failures(self, key: str) -> None:
        with self.views.transaction() as cur:
            cur.execute(f"DELETE FROM login_failures WHERE email_key = {self.ph}", [key])
