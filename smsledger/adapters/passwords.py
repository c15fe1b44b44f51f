"""Password hashing: argon2id through ``argon2-cffi``, with its default (RFC 9106
"low-memory") parameters. The rule a password must keep is the domain's
(``smsledger.domain.users.check_password``); this only hashes and verifies."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
# Verified against when no user has the address, so that a wrong address costs the same
# time as a wrong password and a login never tells which one it was.
_DUMMY = _HASHER.hash("not a password of anyone's 0A")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """``True`` if ``password`` is the one ``password_hash`` was made of; with no hash,
    the same work and ``False``."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
