"""Operations: health (database and projections) and Prometheus metrics."""

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smsledger.api.deps import ServicesDep
from smsledger.api.schemas import HealthPublic

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get(
    "/healthz",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database cannot be reached"}},
)
def healthz(services: ServicesDep, response: Response) -> dict[str, Any]:
    """The database, and each projection's position and lag behind the log."""
    try:
        progress = services.runner.progress()
    except Exception:
        log.warning("health check: database unavailable", exc_info=True)
        response.status_code = 503
        return {"status": "degraded", "database": "unavailable", "projections": {}}
    return {
        "status": "ok",
        "database": "ok",
        "projections": {p.name: {"position": p.position, "lag": p.lag} for p in progress},
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(request: Request) -> Response:
    """Requests, latencies, messages by status, projection lag: Prometheus text format."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
