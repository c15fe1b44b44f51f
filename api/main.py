"""The FastAPI app: ``create_app(services)`` wires routers, errors and middleware.

The services (ledger, stores, workers) come from ``smsledger.bootstrap``; this module
builds nothing but the HTTP layer around them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from smsledger.api import errors
from smsledger.api import openapi as openapi_extras
from smsledger.api.console import admin as console_admin
from smsledger.api.console import finance as console_finance
from smsledger.api.console import pages as console_pages
from smsledger.api.console import support as console_support
from smsledger.api.metrics import Metrics
from smsledger.api.middleware import BodyLimitMiddleware, ObserveMiddleware
from smsledger.api.responses import OrjsonResponse
from smsledger.api.routes import (
    accounts,
    add_ons,
    banned_keywords,
    batches,
    blocklist,
    campaigns,
    contacts,
    delivery_reports,
    docs,
    gateway_keys,
    health,
    inbound,
    invoices,
    keys,
    ledger,
    messages,
    password_page,
    reconciliation,
    senders,
    sessions,
    status_codes,
    stop_service,
    users,
    webhooks,
)

if TYPE_CHECKING:
    from smsledger.bootstrap import Services

DESCRIPTION = """\
The back office of an SMS provider. Authenticate with `Authorization: Bearer <token>`:
an API key (`sk_<role>_...`) or the operator token. Errors are
`application/problem+json`. Every write answers `X-Ledger-Position`; a read that sends
`X-Ledger-Min-Position` waits (up to 5 s) for the projections to reach it.
"""


def _document_settings(app: FastAPI, services: Services) -> None:
    """The OpenAPI document states the limits this deployment enforces."""
    standard = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = standard()  # built once, then kept in app.openapi_schema
        if first:
            batch = schema["components"]["schemas"]["BatchCreate"]
            batch["properties"]["recipients"]["maxItems"] = services.settings.max_recipients
            openapi_extras.document_problems(schema)
            openapi_extras.document_links(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="smsledger",
        version="1.0.0",
        description=DESCRIPTION,
        default_response_class=OrjsonResponse,
        openapi_url="/openapi.json",
        docs_url=None,  # api.routes.docs serves it from the installed package
        redoc_url=None,
    )
    app.state.services = services
    _document_settings(app, services)
    app.state.metrics = Metrics(services)
    errors.install(app)
    # Routes match in order, one regex each: the hottest reads first. Each route
    # documents the error codes it can answer itself.
    for module in (
        messages,
        accounts,
        keys,
        gateway_keys,
        blocklist,
        users,
        add_ons,
        contacts,
        sessions,
        password_page,
        docs,
        campaigns,
        senders,
        banned_keywords,
        stop_service,
        batches,
        delivery_reports,
        inbound,
        ledger,
        invoices,
        reconciliation,
        status_codes,
        webhooks,
        health,
        console_pages,
        console_support,
        console_finance,
        console_admin,
    ):
        app.include_router(module.router)
    # Added last = outermost: the body limit runs before anything reads the body, and
    # every answer (a 413 included) is counted and logged.
    app.add_middleware(BodyLimitMiddleware, limit=services.settings.max_body_bytes)
    app.add_middleware(ObserveMiddleware, metrics=app.state.metrics)
    return app
