"""Every error the API answers, mapped to ``application/problem+json`` in ONE place.

Domain errors (``domain.errors``) map by family: not found → 404, conflict → 409,
invalid request or a rejected value → 422. Request validation (malformed JSON, wrong
types, out-of-range numbers, bad UUIDs) is 422. ``ApiError`` carries the API's own
answers (401, 403, 404, 413, 503). The database being unavailable (a lost or refused
connection, a restart, a pool timeout, SQLite's "database is locked":
``smsledger.adapters.storage.unavailable`` decides) is 503 with ``Retry-After``.
Anything else is a bug: logged, answered 500.
"""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing import persistence
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from smsledger.adapters.storage import unavailable
from smsledger.api.responses import ProblemResponse
from smsledger.domain.errors import (
    AccountNotFoundError,
    AddOnNotFoundError,
    AuthenticationError,
    BatchNotFoundError,
    ConcurrentUpdateError,
    ConflictError,
    ContactNotFoundError,
    InvalidRequestError,
    MessageNotFoundError,
    MessageRejectedError,
    NotFoundError,
    PasswordRuleError,
    RateLimitedError,
    SmsLedgerError,
    UserNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fastapi import FastAPI, Request
    from starlette.responses import Response

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://smsledger.example/problems/"
_NOT_FOUND: dict[type[Exception], str] = {
    AccountNotFoundError: "no such account",
    MessageNotFoundError: "no such message",
    BatchNotFoundError: "no such batch",
    UserNotFoundError: "no such user",
    AddOnNotFoundError: "no such add-on",
    ContactNotFoundError: "no such contact",
}


class ApiError(Exception):
    """An answer other than success, raised anywhere below a route handler."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})


def unauthorized(detail: str = "a valid bearer token is required") -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str = "this role may not do that") -> ApiError:
    return ApiError(403, detail)


def not_found(detail: str = "no such resource") -> ApiError:
    return ApiError(404, detail)


_WHEN: dict[int, str] = {
    401: "No token, or an unknown or revoked one",
    403: "The caller's role may not do this",
    404: "An unknown id, or another account's id (the same answer)",
    409: "A conflict with the current state",
    413: "The request body is over the size limit",
    422: "Malformed input: not JSON, wrong types, values out of range or control characters",
    503: (
        "Not now: the database cannot be reached, or the read models did not reach "
        "X-Ledger-Min-Position within 5 s; retry after Retry-After seconds"
    ),
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    409: {
        "Retry-After": {
            "description": "Seconds to wait: only on a conflict with concurrent changes, "
            "where the same request again may succeed",
            "schema": {"type": "string"},
        }
    },
    503: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}},
}
PROBLEM_REF = "#/components/schemas/Problem"
VALIDATION_PROBLEM_REF = "#/components/schemas/ValidationProblem"


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response: a problem document under ``application/problem+json``."""
    ref = VALIDATION_PROBLEM_REF if status == 422 else PROBLEM_REF
    entry: dict[str, Any] = {
        "description": description or _WHEN.get(status) or HTTPStatus(status).phrase,
        "content": {"application/problem+json": {"schema": {"$ref": ref}}},
    }
    if status in _HEADERS:
        entry["headers"] = _HEADERS[status]
    return entry


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's error answers for its ``responses=``: exactly the codes it can give.

    A 422 needs no listing: ``api.main`` documents it on every route that takes input
    (where FastAPI would put its own ``application/json`` one)."""
    return {status: problem_response(status) for status in statuses}


def _slug(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "-")


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + _slug(status),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    if status == 422 and "errors" not in body:  # the documented shape of every 422
        body["errors"] = [{"loc": [], "msg": detail, "type": "invalid_request"}]
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def status_of(error: SmsLedgerError) -> int:
    """The one table from the domain's error hierarchy to HTTP."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, InvalidRequestError | MessageRejectedError):
        return 422
    if isinstance(error, AuthenticationError):
        return 401
    if isinstance(error, RateLimitedError):
        return 429
    return 400


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.detail, title=exc.title, headers=exc.headers)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SmsLedgerError)
    status = status_of(exc)
    # A not-found never says whose id it was: the same words for "unknown" and "not yours".
    if status == 404:
        detail = _NOT_FOUND.get(type(exc), "no such resource")
    else:
        detail = str(exc) or HTTPStatus(status).phrase
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, exc.retry_after))
    if isinstance(exc, ConcurrentUpdateError):
        # Lost the race for an account many times over: nothing was written, and the
        # same request again is safe and likely to succeed.
        headers["Retry-After"] = "1"
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    extra = None
    if isinstance(exc, PasswordRuleError):
        extra = {"errors": [{"loc": ["body", "password"], "msg": detail, "type": "password_rule"}]}
    return problem(status, detail, headers=headers, extra=extra)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()[:50]
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return problem(422, detail, extra={"errors": errors})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, detail, headers=exc.headers)


UNAVAILABLE_RETRY_AFTER = "2"
"""Seconds a client waits after a 503 for an unavailable database: a restart takes a
few, and the pools reconnect in the background meanwhile."""

# The classes a database failure arrives as. Handled by class, so the answer is made
# where FastAPI handles errors, inside the app: an error that reaches the outermost
# handler (``Exception``) is re-raised after its answer, and uvicorn then drops the
# keep-alive connection under the client's next request (issue 11 saw those resets).
_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.Error,
    persistence.PersistenceError,
    persistence.ConnectionPoolClosedError,
    sqlite3.Error,
)


def unavailable_problem() -> ProblemResponse:
    return problem(
        503,
        "the database is unavailable for a moment; retry after Retry-After seconds",
        title="Service Unavailable",
        headers={"Retry-After": UNAVAILABLE_RETRY_AFTER},
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    if unavailable(exc):
        # One line, no traceback: during an outage every request says the same.
        log.warning(
            "database unavailable on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        )
        return unavailable_problem()
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if unavailable(exc):  # wrapped in something else on its way up
        return await _database_error(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "an unexpected error; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(SmsLedgerError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in _DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unexpected)
