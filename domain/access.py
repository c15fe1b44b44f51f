"""Who may act: the roles of the contract and the caller they describe.

``operator`` and ``gateway`` belong to the platform; the account roles (``admin``,
``sender``, ``support``, ``finance``) each belong to one account and see only it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from uuid import UUID

Role = Literal["operator", "gateway", "admin", "sender", "support", "finance"]
ACCOUNT_ROLES: tuple[Role, ...] = ("admin", "sender", "support", "finance")
PLATFORM_ROLES: tuple[Role, ...] = ("operator", "gateway")
ROLES: tuple[Role, ...] = (*PLATFORM_ROLES, *ACCOUNT_ROLES)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key's id and role, and its account for the account roles; for
    a person logged in, the user's id (and no key)."""

    key_id: UUID | None  # None: the operator token, or a user's session
    role: Role
    account_id: UUID | None
    user_id: UUID | None = None

    @property
    def is_account_role(self) -> bool:
        return self.role in ACCOUNT_ROLES
