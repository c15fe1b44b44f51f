"""The console's plumbing: the session cookie, CSRF tokens, forms, pages and errors.

The cookie holds an opaque session token from the people store (``ss_...``, kept there
only as its SHA-256), HttpOnly, SameSite=Strict, Secure when the request came over
https, scoped to ``/console``. Every POST form carries a synchronizer token bound to
that session: an HMAC of the session token, which only the holder of the cookie can
compute, compared in constant time; the login form's token is bound the same way to a
short-lived random pre-login cookie. A form without its token is 403 and changes
nothing. Errors are HTML pages with the API's own status codes (another account's id is
the same 404 as an unknown one); a client that asks for JSON gets the API's problem+json.
"""

# No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smsledger.adapters.people import SESSION_PREFIX
from smsledger.api.console.money import money, money_plain
from smsledger.api.deps import services_of
from smsledger.api.errors import ApiError, problem, status_of
from smsledger.domain.access import Principal, Role
from smsledger.domain.errors import NotFoundError, SmsLedgerError
from smsledger.domain.times import utc_text

SESSION_COOKIE = "smsledger_console"
LOGIN_COOKIE = "smsledger_console_login"
MAX_FORM_BYTES = 8192
MAX_FIELD_LENGTH = 1024

# What each part of the console shows, by role: the API's own rules for the same reads.
SUPPORT: frozenset[Role] = frozenset({"admin", "support"})
FINANCE: frozenset[Role] = frozenset({"admin", "finance"})
ADMIN: frozenset[Role] = frozenset({"admin"})

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    # No script at all, and nothing from anywhere else: the stylesheet is ours.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

PAGES = Environment(
    loader=PackageLoader("smsledger.api", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
PAGES.filters["money"] = money
PAGES.filters["money_plain"] = money_plain
PAGES.filters["utc"] = lambda at: "" if at is None else utc_text(at)


def _mac(secret: str, purpose: bytes) -> str:
    return hmac.new(secret.encode(), purpose, hashlib.sha256).hexdigest()


def csrf_token(session_token: str) -> str:
    """The synchronizer token of a session's forms."""
    return _mac(session_token, b"smsledger-console-csrf")


def login_csrf_token(login_nonce: str) -> str:
    return _mac(login_nonce, b"smsledger-console-login")


def tokens_match(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Caller:
    """A logged-in person: who they are, and the token their forms are bound to."""

    def __init__(self, principal: Principal, session_token: str) -> None:
        self.principal = principal
        self.session_token = session_token
        self.csrf = csrf_token(session_token)

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def account_id(self) -> Any:
        return self.principal.account_id

    def may(self, roles: frozenset[Role]) -> bool:
        return self.role in roles


class LoginRequired(Exception):  # noqa: N818  # a redirect, not an error
    """No live session: the browser goes to the login page."""


class ConsoleError(Exception):
    """An answer other than a page, with its status (403 without a CSRF token, say)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def page(
    request: Request,
    template: str,
    caller: Caller | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = PAGES.get_template(template).render(
        caller=caller,
        path=request.url.path,
        ADMIN=ADMIN,
        SUPPORT=SUPPORT,
        FINANCE=FINANCE,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def url_with(path: str, **query: object) -> str:
    """``path`` with the query parameters that are set."""
    given = {k: str(v) for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


def _session_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not token.startswith(SESSION_PREFIX) or len(token) > 100:
        return None
    return token


def caller_of(request: Request) -> Caller:
    """The logged-in caller (a plain ``def``: the session lookup reads the database)."""
    services = services_of(request)
    token = _session_token(request)
    if token is None:
        raise LoginRequired
    principal = services.sessions.authenticate(token, services.clock())
    if principal is None or principal.account_id is None:
        raise LoginRequired
    return Caller(principal, token)


CallerDep = Annotated[Caller, Depends(caller_of)]


def require(caller: Caller, roles: frozenset[Role]) -> Caller:
    if not caller.may(roles):
        raise ConsoleError(403, f"the role {caller.role!r} may not see this page")
    return caller


def own(caller: Caller, account_id: Any) -> Any:
    """Another account's id reads exactly as an unknown one."""
    if caller.account_id != account_id:
        raise NotFoundError("no such account")
    return account_id


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form, bounded: the first value of each field, at most 1 KiB each."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise ConsoleError(413, "the form is too large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConsoleError(422, "the form is not UTF-8") from None
    fields = parse_qs(text, max_num_fields=20, keep_blank_values=True)
    form = {k: v[0] for k, v in fields.items() if v}
    if any(len(v) > MAX_FIELD_LENGTH for v in form.values()):
        raise ConsoleError(422, "a field is too long")
    return form


def check_csrf(form: Mapping[str, str], expected: str) -> None:
    given = form.get("csrf", "")
    if not given or not tokens_match(given, expected):
        raise ConsoleError(403, "this form has no valid CSRF token; reload the page and retry")


def session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def login_nonce(request: Request) -> tuple[str, bool]:
    """The pre-login nonce of this browser, and whether it is new (to be set)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if len(nonce) == 43 and nonce.replace("-", "").replace("_", "").isalnum():
        return nonce, False
    return secrets.token_urlsafe(32), True


def login_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _error_page(request: Request, status: int, detail: str) -> Response:
    accept = request.headers.get("accept", "")
    if "json" in accept and "text/html" not in accept:
        # A script asking for JSON gets the API's own problem document.
        return problem(status, detail)
    services = getattr(request.app.state, "services", None)
    caller = None
    if services is not None and status != 401:
        token = _session_token(request)
        principal = (
            None if token is None else services.sessions.authenticate(token, services.clock())
        )
        if principal is not None:
            caller = Caller(principal, token or "")
    return page(
        request,
        "console_error.html",
        caller,
        status=status,
        title=HTTPStatus(status).phrase,
        detail=detail,
    )


class ConsoleRoute(APIRoute):
    """A console route: errors are HTML pages with the API's status codes, and a
    request without a live session is sent to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await standard(request)
            except LoginRequired:
                if request.method == "GET":
                    return redirect(url_with("/console/login", next=request.url.path))
                return await run_in_threadpool(
                    _error_page, request, 401, "your session has ended; log in again"
                )
            except ConsoleError as e:
                return await run_in_threadpool(_error_page, request, e.status, e.detail)
            except ApiError as e:
                return await run_in_threadpool(_error_page, request, e.status, e.detail)
            except SmsLedgerError as e:
                status = status_of(e)
                detail = "no such page: an unknown id" if status == 404 else str(e)
                return await run_in_threadpool(_error_page, request, status, detail)
            except (RequestValidationError, ValidationError) as e:
                errors = list(e.errors())
                first: Mapping[str, Any] = errors[0] if errors else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                message = str(first.get("msg", "invalid input"))
                detail = f"{where}: {message}" if where else message
                return await run_in_threadpool(_error_page, request, 422, detail)

        return handle
