"""The stop service: how a recipient opts out. ``sms_stop`` (STOP to the account's
virtual number) needs a virtual number add-on, ``unsubscribe_link`` (a link in every
message) an unsubscribe link add-on; a post-invoicing subscription includes both."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response

from smsledger.api.deps import AuthFirstRoute, LedgerDep, allow, answer_position, owned
from smsledger.api.errors import problems
from smsledger.api.schemas import StopServicePublic, StopServiceUpdate
from smsledger.application.ledger import Ledger
from smsledger.domain.access import Principal
from smsledger.domain.account import Account

router = APIRouter(
    prefix="/v1/accounts/{account_id}/stop-service",
    tags=["stop service"],
    route_class=AuthFirstRoute,
)

Editor = Annotated[Principal, allow("operator", "admin")]
Reader = Annotated[Principal, allow("operator", "admin", "support")]


def _public(ledger: Ledger, account: Account) -> dict[str, bool]:
    sms_stop, unsubscribe_link = ledger.stop_service(account, ledger.now())
    return {"sms_stop": sms_stop, "unsubscribe_link": unsubscribe_link}


@router.get("", response_model=StopServicePublic, responses=problems(401, 403, 404, 503))
def read_stop_service(account_id: UUID, ledger: LedgerDep, caller: Reader) -> dict[str, bool]:
    """What works now: a part switched on whose add-on has ended reads `false`."""
    return _public(ledger, ledger.get_account(owned(caller, account_id)))


@router.put("", response_model=StopServicePublic, responses=problems(401, 403, 404, 409, 413, 503))
def set_stop_service(
    account_id: UUID,
    body: StopServiceUpdate,
    ledger: LedgerDep,
    response: Response,
    caller: Editor,
) -> dict[str, bool]:
    """Switch each part on or off. Switching one on without its add-on running today (or a
    post-invoicing subscription) is 409 and changes nothing."""
    owned(caller, account_id)
    written = ledger.set_stop_service(
        account_id, sms_stop=body.sms_stop, unsubscribe_link=body.unsubscribe_link
    )
    answer_position(response, ledger, written.position)
    return _public(ledger, written.value)
