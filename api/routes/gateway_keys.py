"""Keys for gateways, which post delivery reports and inbound SMS."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from smsledger.api.deps import ServicesDep, allow, answer_position
from smsledger.api.errors import not_found, problems
from smsledger.api.schemas import KeyPublic
from smsledger.domain.access import Principal

router = APIRouter(prefix="/v1/gateway-keys", tags=["keys"])

Operator = Annotated[Principal, allow("operator")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyPublic,
    responses=problems(401, 403, 503),
)
def issue_gateway_key(services: ServicesDep, response: Response, _: Operator) -> dict[str, object]:
    key = services.keys.issue("gateway", None, services.clock())
    answer_position(response, services.ledger, None)
    return {"id": key.id, "role": key.role, "key": key.key}


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(401, 403, 404, 503),
)
def revoke_gateway_key(key_id: UUID, services: ServicesDep, _: Operator) -> Response:
    key = services.keys.find(key_id)
    if key is None or key.role != "gateway":
        raise not_found("no such key")
    services.keys.revoke(key_id, services.clock())
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    answer_position(response, services.ledger, None)
    return response
