"""Dependencies shared by the routers: the services, the caller, roles, consistency.

``CurrentKey`` is the authenticated caller; ``allow(...)`` narrows it to some roles (403
otherwise); ``owned(...)`` turns another account's id into a plain 404, so an account
role can never learn that a foreign id exists. ``MinPosition`` makes a projected read
wait for ``X-Ledger-Min-Position``.
"""

# No ``from __future__ import annotations`` in the api package's FastAPI modules: FastAPI
# and pydantic read these annotations at runtime.
import email.message
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar
from uuid import UUID

import orjson
from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from smsledger.adapters.keys import tokens_equal
from smsledger.adapters.people import SESSION_PREFIX
from smsledger.api.errors import ApiError, forbidden, unauthorized
from smsledger.api.schemas import DIGITS
from smsledger.application.ledger import Ledger
from smsledger.bootstrap import Services
from smsledger.domain.access import Principal, Role
from smsledger.domain.errors import AccountNotFoundError

POSITION_HEADER = "X-Ledger-Position"
MIN_POSITION_WAIT = 5.0
MAX_POSITION = 2**63 - 1

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`sk_<role>_...`), a user's session (`ss_...`, from "
    "`POST /v1/sessions`) or the operator token.",
)


# Dependencies that never block are ``async def``: FastAPI runs a plain ``def`` dependency
# in the thread pool, a hop per dependency per request.


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


async def get_ledger(request: Request) -> Ledger:
    return services_of(request).ledger


ServicesDep = Annotated[Services, Depends(get_services)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


OPERATOR = Principal(None, "operator", None)


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The token of ``Authorization: Bearer``; 401 without one."""
    if credentials is None or not credentials.credentials:
        raise unauthorized()
    return credentials.credentials


def is_operator_token(services: Services, token: str) -> bool:
    operator_token = services.settings.operator_token
    return operator_token is not None and tokens_equal(token, operator_token)


def principal_of(services: Services, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller, from ``Authorization: Bearer``; 401 for a missing, unknown or revoked key."""
    token = bearer_token(credentials)
    if is_operator_token(services, token):
        return OPERATOR
    if token.startswith(SESSION_PREFIX):
        principal = services.sessions.authenticate(token, services.clock())
    else:
        principal = services.keys.authenticate(token)
    if principal is None:
        raise unauthorized("unknown or revoked token")
    return principal


def check_role(principal: Principal, allowed: frozenset[Role]) -> Principal:
    """``principal`` if its role is one of ``allowed``; 403 otherwise."""
    if principal.role not in allowed:
        raise forbidden(f"role {principal.role!r} may not do this; allowed: {sorted(allowed)}")
    return principal


def current_key(request: Request, credentials: Credentials) -> Principal:
    """The caller (a plain ``def``: the key lookup reads the database)."""
    return principal_of(services_of(request), credentials)


CurrentKey = Annotated[Principal, Depends(current_key)]


class RoleCheck:
    """The dependency ``allow`` makes; its ``roles`` also tell ``AuthFirstRoute`` whom a
    route lets in before it reads the body."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    async def __call__(self, principal: CurrentKey) -> Principal:
        return check_role(principal, self.roles)


def allow(*roles: Role) -> Any:
    """A dependency: the caller, if its role is one of ``roles``; 403 otherwise."""
    return Depends(RoleCheck(frozenset(roles)))


def credentials_of(request: Request) -> HTTPAuthorizationCredentials | None:
    """``Authorization: Bearer`` read as ``HTTPBearer(auto_error=False)`` reads it."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)


def _roles_of(dependant: Dependant) -> frozenset[Role] | None:
    """The roles a route's ``allow(...)`` lets in; ``None`` if it checks none."""
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleCheck):
            return sub.call.roles
        found = _roles_of(sub)
        if found is not None:
            return found
    return None


def _takes_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this content type as JSON (its own rule)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class AuthFirstRoute(APIRoute):
    """A route whose JSON body is parsed only after the caller is known to be allowed.

    FastAPI parses the body before it solves any dependency, so malformed JSON answered
    422 to anyone, token or not, and invalid UTF-8 or a 5,000-deep document answered an
    undocumented 400. Here the body is parsed first with orjson (strict UTF-8, no NaN, a
    depth limit of 1,024) and handed on parsed; when it is not JSON, the caller is
    authenticated (401) and checked (403) before the 422 — an extra key lookup on that
    error path only. Everything else is the standard route.
    """

    open_to_anyone: ClassVar[bool] = False
    """A route anyone may call (logging in): no caller to check before the 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()
        if self.body_field is None:
            return standard
        roles = _roles_of(self.dependant)
        admit = not self.open_to_anyone

        async def handle(request: Request) -> Response:
            raw = await request.body()
            if raw and _takes_json(request.headers.get("content-type")):
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError as e:
                    if admit:
                        await run_in_threadpool(_admit, request, roles)
                    raise _json_invalid(e) from None
                request._json = parsed  # what ``Request.json()`` keeps, read by FastAPI
            return await standard(request)

        return handle


class OpenJsonRoute(AuthFirstRoute):
    """``AuthFirstRoute``'s strict JSON for a route anyone may call."""

    open_to_anyone = True


def _admit(request: Request, roles: frozenset[Role] | None) -> None:
    principal = principal_of(services_of(request), credentials_of(request))
    if roles is not None:
        check_role(principal, roles)


def _json_invalid(error: orjson.JSONDecodeError) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", error.pos),
                "msg": f"JSON decode error: {error.msg}",
                "input": {},
            }
        ]
    )


def authenticate(
    services: Services, credentials: HTTPAuthorizationCredentials | None, *roles: Role
) -> Principal:
    """``allow(*roles)`` as a plain call, for the hottest reads: a handler that
    authenticates itself does the key lookup and its read in ONE thread-pool hop, where
    a ``def`` dependency costs a hop of its own (about a sixth of a message read)."""
    return check_role(principal_of(services, credentials), frozenset(roles))


def owned(principal: Principal, account_id: UUID) -> UUID:
    """``account_id`` if the caller may reach it; another account's id reads as unknown."""
    if principal.account_id is not None and principal.account_id != account_id:
        raise AccountNotFoundError(str(account_id))
    if principal.role == "gateway":
        raise forbidden()
    return account_id


def scope_of(principal: Principal) -> UUID | None:
    """The account a caller's reads are limited to; ``None`` for the operator."""
    if principal.account_id is None and principal.role != "operator":
        raise forbidden()
    return principal.account_id


MinPositionHeader = Annotated[
    int | None,
    Header(
        ge=0,
        le=MAX_POSITION,
        description="Wait (up to 5 s) until the projections have reached this position.",
    ),
    DIGITS,
]


async def min_position(request: Request, x_ledger_min_position: MinPositionHeader = None) -> None:
    if x_ledger_min_position:
        await run_in_threadpool(wait_for, services_of(request), x_ledger_min_position)


def wait_for(services: Services, position: int | None) -> None:
    """Block until the projections include ``position`` where the reads come from (the
    standby of ``SMSLEDGER_READ_DATABASE_URL``: its own replayed tracking positions); 503
    if they do not within 5 s, never a stale answer presented as current."""
    if not position:
        return
    # A client only learns positions from our writes, so one beyond the head was never
    # written: no point waiting for it.
    if not (
        position <= services.runner.head() and services.reads.wait(position, MIN_POSITION_WAIT)
    ):
        raise ApiError(
            503,
            f"the projections have not reached position {position} yet",
            headers={"Retry-After": "1"},
        )


def catch_up_reads(services: Services, position: int | None = None) -> None:
    """Bring the views to ``position`` (default: the head) for a read that follows a
    write, and wait for the standby to replay it when reads come from one (503 if not
    within 5 s)."""
    services.runner.catch_up(position)
    if services.read_runner is not None:
        wait_for(services, position if position is not None else services.runner.head())


MinPosition = Depends(min_position)


def answer_position(response: Response, ledger: Ledger, position: int | None) -> None:
    """Every write answers where the log got to; a write that changed nothing, the head."""
    if position is None:
        position = int(ledger.recorder.max_notification_id() or 0)
    response.headers[POSITION_HEADER] = str(position)
