"""Read models built from the event log: see ``docs/projections.md``.

``all_projections(dialect)`` gives every read model; ``projections.queries`` builds the
runner that keeps them current and the ``Queries`` the API and the CLI read through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smsledger.projections.runner import Projection
    from smsledger.projections.store import ViewStore


def store_for(dialect: str) -> ViewStore:
    """The view store of a database dialect (``"sqlite"`` or ``"postgres"``)."""
    if dialect == "postgres":
        from smsledger.projections.postgres import PostgresViewStore

        return PostgresViewStore()
    from smsledger.projections.sqlite import SQLiteViewStore

    return SQLiteViewStore()


def all_projections(dialect: str) -> list[Projection]:
    """Every read model, in the order the runner applies them to a page."""
    from smsledger.projections.accounts import AccountLedgerProjection
    from smsledger.projections.add_ons import AddOnsProjection
    from smsledger.projections.contacts import ContactsProjection
    from smsledger.projections.inbound import InboundProjection
    from smsledger.projections.invoices import InvoiceProjection
    from smsledger.projections.messages import MessageStatusProjection
    from smsledger.projections.users import UsersProjection
    from smsledger.projections.webhooks import WebhookOutboxProjection

    store = store_for(dialect)
    return [
        MessageStatusProjection(store),
        AccountLedgerProjection(store),
        InvoiceProjection(store),
        UsersProjection(store),
        AddOnsProjection(store),
        ContactsProjection(store),
        InboundProjection(store),
        # After MessageStatusProjection: it reads a message's account from view_messages.
        WebhookOutboxProjection(store),
    ]
