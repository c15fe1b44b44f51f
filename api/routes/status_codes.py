"""The 31 status codes, for anyone."""

from fastapi import APIRouter

from smsledger.api.present import status_codes
from smsledger.api.schemas import StatusCodePublic

router = APIRouter(prefix="/v1/status-codes", tags=["status-codes"])

_CODES = status_codes()


@router.get("", response_model=list[StatusCodePublic])
def list_status_codes() -> list[dict[str, object]]:
    return _CODES
