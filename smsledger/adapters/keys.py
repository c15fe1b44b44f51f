"""API keys: bearer tokens stored only as hashes, each with one role.

A key looks like ``sk_<role>_<random>``; the random part carries 256 bits, so a plain
sha256 of the whole key is a safe thing to store and look up (no salt or slow hash is
needed for a secret nobody chose). Account roles (``admin``, ``sender``, ``support``,
``finance``) belong to one account; ``operator`` and ``gateway`` belong to none.

Authentication reads the ``api_keys`` table on every request, so revoking a key takes
effect at once in every process sharing the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast
from uuid import UUID, uuid4

from smsledger.domain.access import ACCOUNT_ROLES, ROLES, Principal, Role
from smsledger.projections import store_for
from smsledger.projections.queries import (
    MESSAGE_COLUMNS,
    message_dict,
    read_time_id_cursor,
    time_id_cursor,
)

_KEYED_MESSAGE_COLUMNS = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS.split(", "))

if TYPE_CHECKING:
    from collections.abc import Sequence

    from smsledger.projections.db import ViewDatabase

MAX_KEY_LENGTH = 200  # longer than any key we issue; longer input is not looked up


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: the only time its plain text exists outside the caller's hands."""

    id: UUID
    role: Role
    account_id: UUID | None
    key: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_text(role: Role) -> str:
    return f"sk_{role}_{secrets.token_urlsafe(32)}"


def lookup_hash(key: str) -> str | None:
    """What ``api_keys.key_hash`` holds for ``key``; ``None`` for text that is no key of ours."""
    if not key.startswith("sk_") or len(key) > MAX_KEY_LENGTH:
        return None
    return hash_key(key)


def principal_from_row(row: Sequence[Any]) -> Principal:
    """A ``Principal`` from an ``api_keys`` row's ``id, role, account_id``."""
    return Principal(_uuid(row[0]), cast(Role, row[1]), _uuid_or_none(row[2]))


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison, so a wrong token's timing tells nothing."""
    return hmac.compare_digest(given.encode(), expected.encode())


class KeyInfo(NamedTuple):
    """What may be shown of a key once it exists: never the key, never its hash."""

    id: UUID
    role: str
    created_at: datetime
    revoked_at: datetime | None


class KeyStore:
    """The ``api_keys`` table, through the plain view connections of the same database."""

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self._pg = views.dialect == "postgres"
        self._store = store_for(views.dialect)
        self._ph = "%s" if self._pg else "?"

    def _id(self, value: UUID | None) -> object:
        if value is None:
            return None
        return value if self._pg else str(value)

    def _time(self, at: datetime) -> object:
        return at if self._pg else at.isoformat()

    def issue(self, role: Role, account_id: UUID | None, now: datetime | None = None) -> IssuedKey:
        """Create a key. Account roles need an account, platform roles must not have one."""
        if role not in ROLES:
            msg = f"unknown role {role!r}"
            raise ValueError(msg)
        if (role in ACCOUNT_ROLES) != (account_id is not None):
            msg = f"role {role!r} {'needs' if role in ACCOUNT_ROLES else 'cannot have'} an account"
            raise ValueError(msg)
        key_id = uuid4()
        text = new_key_text(role)
        at = now or datetime.now(UTC)
        ph = self._ph
        with self.views.transaction() as cur:
            cur.execute(
                "INSERT INTO api_keys (id, key_hash, role, account_id, created_at) "
                f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph})",
                (self._id(key_id), hash_key(text), role, self._id(account_id), self._time(at)),
            )
        return IssuedKey(key_id, role, account_id, text)

    def list_keys(
        self, account_id: UUID, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[KeyInfo], str | None]:
        """An account's keys, oldest first, revoked ones included, never a secret or its
        hash; and the cursor of the next page."""
        ph, where = self._ph, f"account_id = {self._ph}"
        args: list[object] = [self._id(account_id)]
        if cursor:
            after = read_time_id_cursor(cursor)
            where += f" AND (created_at > {ph} OR (created_at = {ph} AND id > {ph}))"
            args += [self._time(after[0]), self._time(after[0]), self._id(after[1])]
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT id, role, created_at, revoked_at FROM api_keys WHERE {where} "
                f"ORDER BY created_at, id LIMIT {int(limit) + 1}",
                args,
            )
            rows = [KeyInfo._make(r) for r in cur.fetchall()]
        to_time = self._store.to_time
        keys = [
            KeyInfo(
                _uuid(r.id),
                r.role,
                to_time(r.created_at),
                None if r.revoked_at is None else to_time(r.revoked_at),
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return keys, time_id_cursor(keys[-1].created_at, keys[-1].id) if more else None

    def authenticate(self, key: str) -> Principal | None:
        """The principal of a live key, or ``None`` (unknown, malformed or revoked)."""
        key_hash = lookup_hash(key)
        if key_hash is None:
            return None
        with self.views.reading() as cur:
            cur.execute(
                "SELECT id, role, account_id FROM api_keys "
                f"WHERE key_hash = {self._ph} AND revoked_at IS NULL",
                (key_hash,),
            )
            row = cur.fetchone()
        return None if row is None else principal_from_row(row)

    def find(self, key_id: UUID) -> Principal | None:
        """A live key by id (its role and account), or ``None``."""
        with self.views.reading() as cur:
            cur.execute(
                "SELECT id, role, account_id FROM api_keys "
                f"WHERE id = {self._ph} AND revoked_at IS NULL",
                (self._id(key_id),),
            )
            row = cur.fetchone()
        return None if row is None else principal_from_row(row)

    def revoke(self, key_id: UUID, now: datetime | None = None) -> bool:
        """Revoke a live key; ``False`` if there is none with that id."""
        at = now or datetime.now(UTC)
        ph = self._ph
        with self.views.transaction() as cur:
            cur.execute(
                f"UPDATE api_keys SET revoked_at = {ph} WHERE id = {ph} AND revoked_at IS NULL",
                (self._time(at), self._id(key_id)),
            )
            return bool(cur.rowcount)

    def message_for_key(
        self, message_id: UUID, key_hash: str
    ) -> tuple[Principal, dict[str, Any] | None] | None:
        """The live key whose hash is ``key_hash`` and, in the same round trip, the message
        it may see: ``None`` for no such live key, the message ``None`` when it is unknown
        or another account's. The key is read on every call, so a revocation counts at once.
        """
        s = self._store
        query = (
            f"SELECT k.id, k.role, k.account_id, {_KEYED_MESSAGE_COLUMNS} FROM api_keys k "
            f"LEFT JOIN view_messages m ON m.id = {s.ph} "
            "AND (k.account_id IS NULL OR m.account_id = k.account_id) "
            f"WHERE k.key_hash = {s.ph} AND k.revoked_at IS NULL"
        )
        with self.views.reading() as cur:
            cur.execute(query, (s.uuid(message_id), key_hash))
            row = cur.fetchone()
        if row is None:
            return None
        found = None if row[3] is None else message_dict(s, row[3:])
        return principal_from_row(row[:3]), found

    def has_live_role(self, role: Role) -> bool:
        """Whether any live key has ``role`` (say, the operator token generated earlier)."""
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT 1 FROM api_keys WHERE role = {self._ph} AND revoked_at IS NULL LIMIT 1",
                (role,),
            )
            return cur.fetchone() is not None


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _uuid_or_none(value: object) -> UUID | None:
    return None if value is None else _uuid(value)
