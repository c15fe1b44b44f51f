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
    is_operator_token,
    principal_of,
    services_of,
)
from smsledger.api.errors import UNAVAILABLE_RETRY_AFTER, problems
from smsledger.api.schemas import HealthPublic
from smsledger.domain.access import Role
from smsledger.projections.runner import Failure

router = APIRouter(tags=["operations"])
_OPERATOR: frozenset[Role] = frozenset({"operator"})
log = logging.getLogger(__name__)


@router.get(
    "/healthz",
    response_model=HealthPublic,
    response_model_exclude_none=True,
    responses={
        503: {
            "model": HealthPublic,
            "description": "The database cannot be reached",
            "headers": {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
            },
        }
    },
)
def healthz(services: ServicesDep, response: Response, credentials: Credentials) -> dict[str, Any]:
    """The database, and each projection's position, lag and skipped events.

    A projection that skipped an event it could not apply makes the status `degraded`
    with 200: the service still answers (every other read model is current), and a 503
    would take every instance out of a load balancer for one bad event. Anyone sees the
    position and topic of each; the operator token also shows whose and why."""
    try:
        health = services.runner.health()
    except Exception:
        log.warning("health check: database unavailable", exc_info=True)
        response.status_code = 503
        response.headers["Retry-After"] = UNAVAILABLE_RETRY_AFTER
        return {"status": "degraded", "database": "unavailable", "projections": {}}
    operator = credentials is not None and is_operator_token(services, credentials.credentials)
    return {
        "status": "ok" if all(h.healthy for h in health) else "degraded",
        "database": "ok",
        "projections": {
            h.name: {
                "position": h.position,
                "lag": h.lag,
                "failed_events": h.failed,
                "failures": [_failure(f, operator=operator) for f in h.failures],
            }
            for h in health
        },
    }


def _failure(failure: Failure, *, operator: bool) -> dict[str, Any]:
    public: dict[str, Any] = {"position": failure.position, "topic": failure.topic}
    if operator:
        public |= {
            "originator_id": failure.originator_id,
            "account_id": failure.account_id,
            "error": failure.error,
            "first_seen": failure.first_seen,
        }
    return public


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
