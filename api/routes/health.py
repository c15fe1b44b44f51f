"""Operations: health (database and projections), for anyone, and Prometheus metrics,
for the operator or the holder of ``SMSLEDGER_METRICS_TOKEN``: they show platform-wide
counts, which no tenant may see."""

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smsledger.api.deps import (
    Credentials,
    ServicesDep,
    bearer_token,
    check_role,
    principal_of,
    services_of,
)
from smsledger.api.errors import problems
from smsledger.api.schemas import HealthPublic
from smsledger.domain.access import Role

router = APIRouter(tags=["operations"])
_OPERATOR: frozenset[Role] = frozenset({"operator"})
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
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"},
        **problems(401, 403, 503),
    },
)
def metrics(request: Request, credentials: Credentials) -> Response:
    """Requests, latencies, messages by status, projection lag: Prometheus text format.

    Bearer the metrics token (``SMSLEDGER_METRICS_TOKEN``, for a scraper) or the
    operator's; another account's key is 403."""
    collected = request.app.state.metrics
    if not collected.accepts(bearer_token(credentials)):
        check_role(principal_of(services_of(request), credentials), _OPERATOR)
    body = generate_latest(collected.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
