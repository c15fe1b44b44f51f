"""What the OpenAPI document says beyond what FastAPI derives from the routes.

- Every error is ``application/problem+json`` with its schema (``Problem``, and
  ``ValidationProblem`` for a 422 with its ``errors`` array); FastAPI's own 422 entry,
  under ``application/json`` with a shape we never send, is replaced.
- Links (OpenAPI 3 ``links``) say which answer feeds which next request: the account an
  open gives, the messages of a batch, a key to revoke. Clients read them as
  documentation; schemathesis follows them to test the API statefully.
"""

from __future__ import annotations

from typing import Any

from smsledger.api import errors
from smsledger.api.schemas import Problem, ValidationProblem

ACCOUNT = "/v1/accounts/{account_id}"
MESSAGE = "/v1/messages/{message_id}"

# (method, path, status) of an answer -> its links: name -> (method, path, parameters).
_LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("post", "/v1/accounts", "201"): {
        "ReadAccount": ("get", ACCOUNT, {"account_id": "$response.body#/id"}),
        "TopUp": ("post", f"{ACCOUNT}/top-ups", {"account_id": "$response.body#/id"}),
        "ChangePaymentModel": (
            "put",
            f"{ACCOUNT}/payment-model",
            {"account_id": "$response.body#/id"},
        ),
        "IssueKey": ("post", f"{ACCOUNT}/keys", {"account_id": "$response.body#/id"}),
        "ReadBlocklist": ("get", f"{ACCOUNT}/blocklist", {"account_id": "$response.body#/id"}),
        "BlockNumber": ("post", f"{ACCOUNT}/blocklist", {"account_id": "$response.body#/id"}),
        "ReadLedger": ("get", f"{ACCOUNT}/ledger", {"account_id": "$response.body#/id"}),
        "ReadInvoice": (
            "get",
            f"{ACCOUNT}/invoices/{{period}}",
            {"account_id": "$response.body#/id"},
        ),
        "IssueInvoice": (
            "post",
            f"{ACCOUNT}/invoices/{{period}}/issue",
            {"account_id": "$response.body#/id"},
        ),
        "Reconcile": ("get", "/v1/reconciliation", {"account_id": "$response.body#/id"}),
    },
    ("post", f"{ACCOUNT}/top-ups", "201"): {
        "ReadLedger": ("get", f"{ACCOUNT}/ledger", {"account_id": "$request.path.account_id"}),
        "ReadAccount": ("get", ACCOUNT, {"account_id": "$request.path.account_id"}),
    },
    ("post", f"{ACCOUNT}/keys", "201"): {
        "RevokeKey": (
            "delete",
            f"{ACCOUNT}/keys/{{key_id}}",
            {"account_id": "$request.path.account_id", "key_id": "$response.body#/id"},
        ),
    },
    ("post", "/v1/gateway-keys", "201"): {
        "RevokeGatewayKey": (
            "delete",
            "/v1/gateway-keys/{key_id}",
            {"key_id": "$response.body#/id"},
        ),
    },
    ("post", f"{ACCOUNT}/blocklist", "201"): {
        "UnblockNumber": (
            "delete",
            f"{ACCOUNT}/blocklist/{{msisdn}}",
            {"account_id": "$request.path.account_id", "msisdn": "$response.body#/items/0/msisdn"},
        ),
    },
    ("post", "/v1/messages", "202"): {
        "ReadMessage": ("get", MESSAGE, {"message_id": "$response.body#/messages/0/id"}),
        "ReadHistory": (
            "get",
            f"{MESSAGE}/history",
            {"message_id": "$response.body#/messages/0/id"},
        ),
        "CancelMessage": (
            "post",
            f"{MESSAGE}/cancel",
            {"message_id": "$response.body#/messages/0/id"},
        ),
        "ListBatch": ("get", "/v1/messages", {"batch_id": "$response.body#/batch_id"}),
    },
    ("post", f"{MESSAGE}/cancel", "200"): {
        "ReadHistory": ("get", f"{MESSAGE}/history", {"message_id": "$request.path.message_id"}),
        "ReadMessage": ("get", MESSAGE, {"message_id": "$request.path.message_id"}),
    },
}


def document_problems(schema: dict[str, Any]) -> None:
    """Every error answer is ``application/problem+json`` with its schema: the routes
    list their own codes (``errors.problems``); the 422 FastAPI documents by itself, on
    every route that takes input, as ``application/json``, becomes ours."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, ValidationProblem):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = errors.problem_response(422)


def document_links(schema: dict[str, Any]) -> None:
    """Add ``_LINKS`` to the answers they start from, naming operations by id."""
    paths = schema["paths"]
    for (method, path, status), links in _LINKS.items():
        response = paths[path][method]["responses"][status]
        response["links"] = {
            name: {
                "operationId": paths[target_path][target_method]["operationId"],
                "parameters": parameters,
            }
            for name, (target_method, target_path, parameters) in links.items()
        }
