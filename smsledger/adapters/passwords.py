"""Password hashing: argon2id through ``argon2-cffi``, with its default (RFC 9106
"low-memory") parameters. The rule a password must keep is the domain's
(``smsledger.domain.users.check_password``); this only hashes and verifies."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()

DUMMY_PHRASE = "not a password of anyone's 0A"
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$9mgVqRdKhspGlZ9GE5B1Xw"
    "$5UIRJeHcXN6howPWy39tSR3qLd+wCI6UHhalm2nbFsM"
)
"""``DUMMY_PHRASE`` hashed with the hasher's parameters, once, here: hashing it at import
cost every process (``serve``, each of its ``--workers``, each command) 0.15-0.3 s of its
start (argon2id, 64 MiB)."""

# Verified against when no user has the address, so that a wrong address costs the same
# time as a wrong password and a login never tells which one it was. Were the library's
# default parameters ever to differ from the kept hash's, it is hashed anew at import, so
# the dummy always costs what a real hash costs.
_DUMMY = DUMMY_HASH if not _HASHER.check_needs_rehash(DUMMY_HASH) else _HASHER.hash(DUMMY_PHRASE)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """``True`` if ``password`` is the one ``password_hash`` was made of; with no hash,
    the same work and ``False``."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
