"""The console's front door: log in (a user's e-mail and password, or an API key), log
out, the home page by role, and the one stylesheet."""

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from smsledger.api.console.web import (
    ADMIN,
    FINANCE,
    SESSION_COOKIE,
    SUPPORT,
    CallerDep,
    ConsoleError,
    ConsoleRoute,
    check_csrf,
    login_cookie,
    login_csrf_token,
    login_nonce,
    page,
    read_form,
    redirect,
    session_cookie,
)
from smsledger.api.deps import ServicesDep, is_operator_token
from smsledger.domain.errors import AuthenticationError, RateLimitedError

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

STYLESHEET = files("smsledger.api.templates").joinpath("console.css").read_bytes()


def _safe_next(target: str) -> str:
    """Where to go after logging in: a console path only, never another site."""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


@router.get("/static/console.css")
async def stylesheet() -> Response:
    return Response(
        STYLESHEET,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, next: Annotated[str, Query(max_length=300)] = "/console"
) -> Response:
    nonce, new = login_nonce(request)
    response = page(
        request,
        "console_login.html",
        title="Log in",
        csrf=login_csrf_token(nonce),
        next=_safe_next(next),
        email="",
    )
    if new:
        login_cookie(response, request, nonce)
    return response


@router.post("/login", response_class=HTMLResponse)
async def log_in(request: Request, services: ServicesDep) -> Response:
    form = await read_form(request)
    nonce, new = login_nonce(request)
    if new:
        raise ConsoleError(403, "this form has no valid CSRF token; reload the page and retry")
    check_csrf(form, login_csrf_token(nonce))
    target = _safe_next(form.get("next", ""))
    key, email = form.get("key", "").strip(), form.get("email", "").strip()

    def again(status: int, message: str) -> Response:
        return page(
            request,
            "console_login.html",
            status=status,
            title="Log in",
            csrf=login_csrf_token(nonce),
            next=target,
            email=email,
            message=message,
        )

    if key:
        if is_operator_token(services, key):
            return again(401, "the operator token does not open the console; use an account key")
        principal = await run_in_threadpool(services.keys.authenticate, key)
        if principal is None or not principal.is_account_role:
            return again(401, "unknown or revoked key")
        ttl = services.people.session_ttl
        opened = await run_in_threadpool(
            services.sessions.open_key_session, principal, services.clock(), ttl
        )
        token, seconds = opened.token, int(ttl.total_seconds())
    else:
        try:
            session = await run_in_threadpool(
                services.people.log_in, email, form.get("password", "")
            )
        except AuthenticationError:
            return again(401, "wrong email or password")
        except RateLimitedError:
            return again(429, "too many failed logins for this address; try again later")
        token = session.token
        seconds = int((session.expires_at - services.clock()).total_seconds())
    response = redirect(target)
    session_cookie(response, request, token, max(seconds, 1))
    response.delete_cookie(
        "smsledger_console_login", path="/console", httponly=True, samesite="strict"
    )
    return response


@router.post("/logout")
async def log_out(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    form = await read_form(request)
    check_csrf(form, caller.csrf)
    await run_in_threadpool(services.people.log_out, caller.session_token)
    response = redirect("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="strict")
    return response


@router.get("")
def home(caller: CallerDep) -> Response:
    """Each role starts where its work is."""
    if caller.may(SUPPORT):
        return redirect("/console/messages")
    if caller.may(FINANCE) or caller.may(ADMIN):
        return redirect(f"/console/accounts/{caller.account_id}")
    if caller.role == "sender":
        return redirect(f"/console/accounts/{caller.account_id}/contacts")
    raise ConsoleError(403, f"the role {caller.role!r} has nothing to see in the console")
