"""An account's contact book: contacts (one per number), groups with member counts,
CSV import and export, and groups as the recipients of a send (``expand_groups``).

Reads (lists, groups, export) come from the read models; a single contact, and every
write, from its aggregate. Another account's contact id is 404, as an unknown one.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request, Response, status

from smsledger.api.deps import (
    AuthFirstRoute,
    MinPosition,
    ServicesDep,
    allow,
    answer_position,
    owned,
)
from smsledger.api.errors import ApiError, problems
from smsledger.api.schemas import (
    DIGITS,
    MAX_PAGE,
    ContactCreate,
    ContactHistory,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    Cursor,
    GroupPage,
    GroupRef,
    ImportResultPublic,
)
from smsledger.bootstrap import Services
from smsledger.domain.access import Principal
from smsledger.domain.addressing import check_region, normalise_msisdn
from smsledger.domain.contact_csv import (
    MAX_IMPORT_BYTES,
    export_lines,
    import_id_for,
    parse_contacts_csv,
)
from smsledger.domain.contacts import Contact
from smsledger.domain.errors import InvalidRequestError, MessageRejectedError

router = APIRouter(
    prefix="/v1/accounts/{account_id}", tags=["contacts"], route_class=AuthFirstRoute
)

Reader = Annotated[Principal, allow("admin", "sender", "support")]
Writer = Annotated[Principal, allow("admin", "sender")]
Admin = Annotated[Principal, allow("admin")]
HistoryReader = Annotated[Principal, allow("admin", "support")]
CSV_MEDIA_TYPE = "text/csv"
EXPORT_PAGE = 1_000


def contact_public(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "msisdn": contact.msisdn,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "groups": contact.group_names,
        "source": contact.source,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def _group_id(services: Services, account_id: UUID, ref: str) -> UUID:
    found = services.queries.find_group(account_id, ref)
    if found is None:
        msg = f"unknown group {ref!r}"
        raise InvalidRequestError(msg)
    return found


def expand_groups(
    services: Services, account_id: UUID, recipients: list[str], groups: list[str], limit: int
) -> list[str]:
    """``recipients`` and then every member of ``groups`` not among them (nor another
    group's), each once; read from the read model. ``InvalidRequestError`` for an
    unknown group, or when groups alone name nobody. The result may be over ``limit``
    by one (the caller's cap says so)."""
    if not groups:
        return recipients
    group_ids = list(dict.fromkeys(_group_id(services, account_id, ref) for ref in groups))
    members = services.queries.group_members(group_ids, limit + 1)
    given: set[str] = set()
    for raw in recipients:
        try:
            given.add(normalise_msisdn(raw))
        except MessageRejectedError:
            continue  # stays a recipient of its own, rejected as today
    out = [*recipients, *(m for m in members if m not in given)]
    if not out:
        msg = "the groups have no members and no recipient is given"
        raise InvalidRequestError(msg)
    return out[: limit + 1]


@router.get(
    "/contacts",
    response_model=ContactPage,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def list_contacts(
    account_id: UUID,
    services: ServicesDep,
    caller: Reader,
    group: Annotated[GroupRef | None, Query(description="Only this group's (name or id).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    """The account's contacts in number order; with ``group``, that group's members."""
    services.ledger.get_account(owned(caller, account_id))
    group_id = None if group is None else _group_id(services, account_id, group)
    items, next_cursor = services.queries.contacts(account_id, group_id, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactPublic,
    responses={
        200: {"model": ContactPublic, "description": "The number was a contact: saved onto it"},
        **problems(401, 403, 404, 409, 413, 503),
    },
)
def save_contact(
    account_id: UUID,
    body: ContactCreate,
    services: ServicesDep,
    response: Response,
    caller: Writer,
) -> dict[str, Any]:
    """Save a number as a contact: one per number, so the same number again updates it
    (names replaced, groups joined; never a second contact) and answers 200."""
    written = services.ledger.save_contact(
        owned(caller, account_id),
        body.msisdn,
        first_name=body.first_name,
        last_name=body.last_name,
        groups=body.groups,
        source="manual",
    )
    if written.value.outcome != "created":
        response.status_code = status.HTTP_200_OK
    answer_position(response, services.ledger, written.position)
    return contact_public(written.value.contact)


@router.get(
    "/contacts/export",
    response_class=Response,
    dependencies=[MinPosition],
    responses={
        200: {
            "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "UTF-8 with a byte-order mark; columns msisdn, first_name, "
            "last_name, groups (`|` between groups); imports back unchanged. A name or "
            "group starting with = + - @ is written after a `'`, so a spreadsheet shows "
            "it as text (the import drops that `'`).",
        },
        **problems(401, 403, 404, 503),
    },
)
def export_contacts(account_id: UUID, services: ServicesDep, caller: Admin) -> Response:
    """The whole contact book as CSV, from the read model."""
    services.ledger.get_account(owned(caller, account_id))
    rows: list[tuple[str, str, str, list[str]]] = []
    cursor = None
    while True:
        items, cursor = services.queries.contacts(account_id, None, EXPORT_PAGE, cursor)
        rows.extend((c["msisdn"], c["first_name"], c["last_name"], c["groups"]) for c in items)
        if cursor is None:
            break
    return Response(
        "\ufeff" + "".join(export_lines(rows)),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )


@router.post(
    "/contacts/import",
    response_model=ImportResultPublic,
    responses=problems(401, 403, 404, 409, 413, 415, 503),
)
def import_contacts(
    account_id: UUID,
    data: Annotated[bytes, Body(media_type=CSV_MEDIA_TYPE, description="The CSV file.")],
    request: Request,
    services: ServicesDep,
    response: Response,
    caller: Admin,
    country: Annotated[
        str | None,
        Query(
            pattern="^[A-Z]{2}$",
            description="Read numbers in national form (`070-123 45 67`) as this "
            "country's; without it they are rejected, as the send path does.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Import a CSV file (header row; `,` or `;`; UTF-8 with or without BOM; at most
    2 MiB and 10,000 lines) in one transaction: each good line saved as a contact (the
    same number again updates it), each bad one listed with its line and reason. The
    same file again creates nothing."""
    owned(caller, account_id)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != CSV_MEDIA_TYPE:
        raise ApiError(415, f"send the file as {CSV_MEDIA_TYPE}, not {media or 'nothing'}")
    if len(data) > MAX_IMPORT_BYTES:
        raise ApiError(413, f"an import is at most {MAX_IMPORT_BYTES} bytes")
    ledger = services.ledger
    ledger.get_account(account_id)
    region = None if country is None else check_region(country)
    parsed = parse_contacts_csv(data, region=region)
    written = ledger.import_contacts(account_id, parsed, import_id_for(account_id, data))
    answer_position(response, ledger, written.position)
    result = written.value
    return {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": [{"line": r.line, "reason": r.reason} for r in result.rejected],
    }


@router.get(
    "/contacts/{contact_id}",
    response_model=ContactPublic,
    responses=problems(401, 403, 404, 503),
)
def read_contact(
    account_id: UUID, contact_id: UUID, services: ServicesDep, caller: Reader
) -> dict[str, Any]:
    return contact_public(services.ledger.get_contact(contact_id, owned(caller, account_id)))


@router.get(
    "/contacts/{contact_id}/history",
    response_model=ContactHistory,
    responses=problems(401, 403, 404, 503),
)
def contact_history(
    account_id: UUID, contact_id: UUID, services: ServicesDep, caller: HistoryReader
) -> dict[str, Any]:
    """Why the contact exists: its events from the event store, each with its source
    and origin (the inbound SMS, the import and its line); a deleted contact's too."""
    services.ledger.get_account(owned(caller, account_id))
    return services.queries.contact_history(contact_id, account_id)


@router.patch(
    "/contacts/{contact_id}",
    response_model=ContactPublic,
    responses=problems(401, 403, 404, 409, 413, 503),
)
def change_contact(
    account_id: UUID,
    contact_id: UUID,
    body: ContactUpdate,
    services: ServicesDep,
    response: Response,
    caller: Writer,
) -> dict[str, Any]:
    """Change names or set the groups (new ones created); the number is the contact's
    identity and cannot change: delete it and save the new one."""
    written = services.ledger.change_contact(
        owned(caller, account_id),
        contact_id,
        first_name=body.first_name,
        last_name=body.last_name,
        groups=body.groups,
    )
    answer_position(response, services.ledger, written.position)
    return contact_public(written.value)


@router.delete(
    "/contacts/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(401, 403, 404, 503),
)
def delete_contact(
    account_id: UUID, contact_id: UUID, services: ServicesDep, response: Response, caller: Writer
) -> Response:
    """Delete the contact (an event; its history stays). Saving the number again makes
    it a contact again."""
    written = services.ledger.delete_contact(owned(caller, account_id), contact_id)
    answer = Response(status_code=status.HTTP_204_NO_CONTENT)
    answer_position(answer, services.ledger, written.position)
    return answer


@router.get(
    "/groups",
    response_model=GroupPage,
    dependencies=[MinPosition],
    responses=problems(401, 403, 404, 503),
)
def list_groups(
    account_id: UUID,
    services: ServicesDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), DIGITS] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> dict[str, Any]:
    """The account's groups by name (any case), with their member counts."""
    services.ledger.get_account(owned(caller, account_id))
    items, next_cursor = services.queries.groups(account_id, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}
