"""An account's banned keywords, beside the platform's: a body holding one is 404."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response

from smsledger.api.deps import AuthFirstRoute, LedgerDep, allow, answer_position, owned
from smsledger.api.errors import problems
from smsledger.api.schemas import BannedKeywordsPublic, BannedKeywordsUpdate
from smsledger.domain.access import Principal
from smsledger.domain.account import Account
from smsledger.domain.rules import PLATFORM_BANNED_KEYWORDS

router = APIRouter(
    prefix="/v1/accounts/{account_id}/banned-keywords",
    tags=["banned keywords"],
    route_class=AuthFirstRoute,
)

Editor = Annotated[Principal, allow("operator", "admin")]


def _public(account: Account) -> dict[str, object]:
    return {"keywords": list(account.banned_keywords), "platform": list(PLATFORM_BANNED_KEYWORDS)}


@router.get("", response_model=BannedKeywordsPublic, responses=problems(401, 403, 404, 503))
def read_banned_keywords(account_id: UUID, ledger: LedgerDep, caller: Editor) -> dict[str, object]:
    return _public(ledger.get_account(owned(caller, account_id)))


@router.put(
    "", response_model=BannedKeywordsPublic, responses=problems(401, 403, 404, 409, 413, 503)
)
def set_banned_keywords(
    account_id: UUID,
    body: BannedKeywordsUpdate,
    ledger: LedgerDep,
    response: Response,
    caller: Editor,
) -> dict[str, object]:
    """Replace the account's own list (kept lower-case, each once)."""
    owned(caller, account_id)
    written = ledger.set_banned_keywords(account_id, body.keywords)
    answer_position(response, ledger, written.position)
    return _public(written.value)
