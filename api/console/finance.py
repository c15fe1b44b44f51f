"""Finance's pages: the balance now and over time, the ledger, invoices drilled down
to their messages, the reconciliation of a month, and CSV downloads of the three."""

from collections.abc import Iterator
from typing import Annotated, Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import TypeAdapter

from smsledger.api.console.money import KIND_COLOURS, balance_chart, csv_text
from smsledger.api.console.web import (
    FINANCE,
    Caller,
    CallerDep,
    ConsoleRoute,
    own,
    page,
    require,
    url_with,
)
from smsledger.api.deps import ServicesDep
from smsledger.api.schemas import Cursor, Period
from smsledger.bootstrap import Services
from smsledger.domain.times import utc_text

router = APIRouter(prefix="/console/accounts", include_in_schema=False, route_class=ConsoleRoute)

PAGE = 100
CHART_POINTS = 500
_PERIOD: TypeAdapter[Any] = TypeAdapter(Period)
PeriodQuery = Annotated[str, Query(max_length=7)]
PeriodPath = Annotated[str, Path(max_length=7)]
CursorQuery = Annotated[Cursor | None, Query()]
LineQuery = Annotated[str, Query(max_length=300)]


def _period(text: str) -> str | None:
    return _PERIOD.validate_python(text.strip()) if text.strip() else None


class AccountFacts(NamedTuple):
    """What the pages show of the account, from its view row (one index probe; loading
    the aggregate replays up to a snapshot's hundred events)."""

    id: UUID
    name: str
    payment_model: str
    currency: str
    timezone: str
    balance: int


def _account(services: Services, caller: Caller, account_id: UUID) -> AccountFacts:
    require(caller, FINANCE)
    own(caller, account_id)
    rows, _ = services.queries.accounts(account_id, 1)
    if rows:
        return AccountFacts(**rows[0])
    a = services.ledger.get_account(account_id)  # not projected yet (or unknown: 404)
    return AccountFacts(a.id, a.name, a.payment_model, a.currency, a.timezone, a.balance)


def _this_month(services: Services, timezone: str) -> str:
    return services.clock().astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def _csv_headers(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


def _csv(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=_csv_headers(filename)
    )


@router.get("/{account_id}", response_class=HTMLResponse)
def account_page(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    period: PeriodQuery = "",
    cursor: CursorQuery = None,
) -> Response:
    """Balance now, its chart (the last 500 movements, or the period's), the ledger."""
    account = _account(services, caller, account_id)
    chosen = _period(period)
    entries, next_cursor = services.queries.ledger(account_id, chosen, PAGE, cursor)
    recent = services.queries.ledger_recent(account_id, chosen, CHART_POINTS)
    return page(
        request,
        "console_account.html",
        caller,
        title=f"{account.name}: money",
        account_name=account.name,
        account=account,
        period=chosen or "",
        entries=entries,
        chart=balance_chart(recent, account.currency),
        colours=KIND_COLOURS,
        csv_url=url_with(f"/console/accounts/{account_id}/ledger.csv", period=chosen),
        next_url=url_with(request.url.path, period=chosen, cursor=next_cursor)
        if next_cursor
        else None,
    )


@router.get("/{account_id}/ledger.csv")
def ledger_csv(
    account_id: UUID, services: ServicesDep, caller: CallerDep, period: PeriodQuery = ""
) -> Response:
    """The whole ledger of the period (or of the account), streamed a page of 1,000
    entries at a time: a million-entry ledger never sits in memory at once."""
    account = _account(services, caller, account_id)
    chosen = _period(period)
    header = ["seq", "at", "kind", "amount", "balance_after", "currency", "message_id"]

    def pages() -> Iterator[bytes]:
        yield csv_text([*header, "reference"], []).encode()
        cursor = None
        while True:
            entries, cursor = services.queries.ledger(account_id, chosen, 1000, cursor)
            rows = (
                [
                    e["seq"],
                    utc_text(e["at"]),
                    e["kind"],
                    e["amount"],
                    e["balance_after"],
                    account.currency,
                    str(e.get("message_id") or ""),
                    e.get("reference") or "",
                ]
                for e in entries
            )
            yield csv_text(None, rows).encode()
            if cursor is None:
                return

    return StreamingResponse(
        pages(),
        media_type="text/csv; charset=utf-8",
        headers=_csv_headers(f"ledger-{account_id}-{chosen or 'all'}.csv"),
    )


@router.get("/{account_id}/invoices", response_class=HTMLResponse)
def invoices(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
) -> Response:
    account = _account(services, caller, account_id)
    items, next_cursor = services.queries.invoices(account_id, 24, cursor)
    return page(
        request,
        "console_invoices.html",
        caller,
        title="Invoices",
        account_name=account.name,
        account=account,
        items=items,
        this_month=_this_month(services, account.timezone),
        next_url=url_with(request.url.path, cursor=next_cursor) if next_cursor else None,
    )


@router.get("/{account_id}/invoices/{period}.csv")
def invoice_csv(
    account_id: UUID,
    period: Annotated[str, Path(max_length=11)],
    services: ServicesDep,
    caller: CallerDep,
) -> Response:
    _account(services, caller, account_id)
    chosen = _PERIOD.validate_python(period.removesuffix(".csv"))
    head = services.queries.invoice(account_id, chosen)
    currency = head["currency"]
    rows: list[list[object]] = [
        [chosen, line["kind"], line["description"], line["quantity"], line["amount"], currency]
        for line in head["lines"]
    ]
    rows.append([chosen, "total", "", "", head["total"], currency])
    header = ["period", "kind", "description", "quantity", "amount", "currency"]
    return _csv(csv_text(header, rows), f"invoice-{chosen}.csv")


@router.get("/{account_id}/invoices/{period}", response_class=HTMLResponse)
def invoice(
    request: Request,
    account_id: UUID,
    period: PeriodPath,
    services: ServicesDep,
    caller: CallerDep,
) -> Response:
    """The invoice's lines; each line with messages links to them."""
    account = _account(services, caller, account_id)
    chosen = _PERIOD.validate_python(period)
    head = services.queries.invoice(account_id, chosen)
    lines = services.queries.invoice_lines(account_id, chosen)
    return page(
        request,
        "console_invoice.html",
        caller,
        title=f"Invoice {chosen}",
        account_name=account.name,
        account=account,
        invoice=head,
        lines=lines,
        base=f"/console/accounts/{account_id}/invoices/{chosen}",
    )


@router.get("/{account_id}/invoices/{period}/messages", response_class=HTMLResponse)
def invoice_line(
    request: Request,
    account_id: UUID,
    period: PeriodPath,
    services: ServicesDep,
    caller: CallerDep,
    line: LineQuery = "",
    cursor: CursorQuery = None,
) -> Response:
    """One line's messages, each linking to its timeline."""
    account = _account(services, caller, account_id)
    chosen = _PERIOD.validate_python(period)
    found = {r.line_key: r for r in services.queries.invoice_lines(account_id, chosen)}
    items, next_cursor = services.queries.invoice_line_messages(
        account_id, chosen, line, PAGE, cursor
    )
    return page(
        request,
        "console_invoice_line.html",
        caller,
        title=f"Invoice {chosen}: line",
        account_name=account.name,
        account=account,
        period=chosen,
        line=found[line],
        items=items,
        next_url=url_with(request.url.path, line=line, cursor=next_cursor) if next_cursor else None,
    )


@router.get("/{account_id}/reconciliation", response_class=HTMLResponse)
def reconciliation(
    request: Request,
    account_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    period: PeriodQuery = "",
) -> Response:
    """The month's reconciliation; every discrepancy a highlighted row, linked to its
    message's timeline."""
    account = _account(services, caller, account_id)
    chosen = _period(period) or _this_month(services, account.timezone)
    report = services.queries.reconciliation(chosen, account_id)
    return page(
        request,
        "console_reconciliation.html",
        caller,
        title=f"Reconciliation {chosen}",
        account_name=account.name,
        account=account,
        period=chosen,
        ok=report["ok"],
        figures=_figures(report),
        discrepancies=report["accounts"][0]["discrepancies"] if report["accounts"] else [],
        csv_url=f"/console/accounts/{account_id}/reconciliation.csv?period={chosen}",
    )


FIGURES = (
    "messages_charged",
    "charged_to_balance",
    "charged_to_invoice",
    "refunded_to_balance",
    "refunded_on_invoice",
    "top_ups",
    "fees",
    "invoice_total",
    "balance_movement",
)


def _figures(report: dict[str, Any]) -> list[tuple[str, int]]:
    first = report["accounts"][0] if report["accounts"] else {}
    return [(name, int(first.get(name, 0))) for name in FIGURES]


@router.get("/{account_id}/reconciliation.csv")
def reconciliation_csv(
    account_id: UUID, services: ServicesDep, caller: CallerDep, period: PeriodQuery = ""
) -> Response:
    """The figures (one row each: name, value, currency) then every discrepancy."""
    account = _account(services, caller, account_id)
    chosen = _period(period) or _this_month(services, account.timezone)
    report = services.queries.reconciliation(chosen, account_id)
    rows: list[list[object]] = [
        [chosen, "figure", name, value, "" if name == "messages_charged" else account.currency, ""]
        for name, value in _figures(report)
    ]
    for d in report["accounts"][0]["discrepancies"] if report["accounts"] else []:
        message_id = str(d.get("message_id") or "")
        rows.append([chosen, "discrepancy", d["kind"], d["detail"], "", message_id])
    text = csv_text(["period", "row", "name", "value", "currency", "message_id"], rows)
    return _csv(text, f"reconciliation-{chosen}.csv")
