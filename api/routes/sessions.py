"""People log in and set passwords: sessions, password resets, and passwords from a
mailed one-time link. Open routes (no bearer token needed), each answering the same
for an address that exists and one that does not."""

from fastapi import APIRouter, Request, Response, status

from smsledger.adapters.people import SESSION_PREFIX
from smsledger.api.deps import OpenJsonRoute, ServicesDep, credentials_of
from smsledger.api.errors import problems, unauthorized
from smsledger.api.schemas import PasswordCreate, PasswordResetCreate, SessionCreate, SessionPublic

router = APIRouter(tags=["sessions"], route_class=OpenJsonRoute)


@router.post(
    "/v1/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionPublic,
    responses=problems(401, 413, 429, 503),
)
def log_in(body: SessionCreate, services: ServicesDep) -> dict[str, object]:
    """Log in with e-mail and password: a bearer token with the user's role. A wrong
    address and a wrong password answer the same 401; five failures in 15 minutes for an
    address answer 429 until the window ends."""
    session = services.people.log_in(body.email, body.password)
    return {
        "token": session.token,
        "role": session.user.role,
        "account_id": session.user.account_id,
        "expires_at": session.expires_at,
    }


@router.delete(
    "/v1/sessions/current",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 503),
)
def log_out(request: Request, services: ServicesDep) -> Response:
    """End the session whose token authorises this request."""
    credentials = credentials_of(request)
    token = credentials.credentials if credentials is not None else ""
    if not token.startswith(SESSION_PREFIX) or not services.people.log_out(token):
        raise unauthorized("not a live session")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/password-resets",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=problems(413, 503),
)
def request_password_reset(body: PasswordResetCreate, services: ServicesDep) -> Response:
    """Mail a reset link if a user has this address. Always 202: the answer never tells
    whether the address exists."""
    services.people.request_reset(body.email)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/v1/passwords",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 409, 413, 503),
)
def set_password(body: PasswordCreate, services: ServicesDep) -> Response:
    """Set a password with the token of a mailed link (it works once). A password that
    breaks the rule is 422 naming the rule, and the link still works; an unknown, used
    or expired link is 401."""
    services.people.set_password(body.token, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
