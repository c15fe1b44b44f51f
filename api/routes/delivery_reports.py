"""Delivery reports from gateways: each one applied, a duplicate, superseded, or refused."""

from typing import Annotated, Any

from fastapi import APIRouter, Response

from smsledger.api.deps import AuthFirstRoute, ServicesDep, allow, answer_position
from smsledger.api.errors import problems
from smsledger.api.schemas import DeliveryReportBatch, ReportResults
from smsledger.domain.access import Principal

router = APIRouter(
    prefix="/v1/delivery-reports", tags=["delivery-reports"], route_class=AuthFirstRoute
)

Gateway = Annotated[Principal, allow("gateway", "operator")]


@router.post("", response_model=ReportResults, responses=problems(401, 403, 409, 413, 503))
def post_delivery_reports(
    body: DeliveryReportBatch, services: ServicesDep, response: Response, _: Gateway
) -> dict[str, Any]:
    """Apply carrier reports in order. A bad report is an ``invalid`` outcome for that
    report alone; an unknown id is ``unknown_message``; a repeat is ``duplicate``."""
    written = services.ledger.record_delivery_reports([r.model_dump() for r in body.reports])
    answer_position(response, services.ledger, written.position)
    return {"results": written.value}
