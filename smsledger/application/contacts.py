"""The contact book's unit of work: the contacts and groups one transaction changes.

``ContactStage`` loads each contact and group at most once (many in one read), lets
``smsledger.domain.contacts`` decide what a save makes of them, and hands back the
aggregates to save. The ledger's use cases (``Ledger.save_contact``,
``Ledger.import_contacts``) save them alone; another use case saves them with its own
aggregates in ONE ``_save_many``, the inbound SMS path for a ``Save`` command::

    stage = ledger.contact_stage(account_id, now)
    saved = stage.save(msisdn, first_name=..., last_name=..., groups=[group],
                       source="inbound_save", origin={"inbound_message_id": str(sms_id)})
    ledger._save_many([*inbound_aggregates, *stage.pending()])

One stage per account and transaction; on a version conflict the whole attempt is
made again with a fresh stage (``Ledger._retrying``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smsledger.domain.addressing import normalise_msisdn
from smsledger.domain.contacts import (
    MAX_GROUPS_PER_CONTACT,
    Contact,
    ContactSource,
    Group,
    SaveOutcome,
    check_group_name,
    check_group_names,
    check_source,
    contact_id_for,
    group_id_for,
    save_contact,
)
from smsledger.domain.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from eventsourcing.domain import Aggregate


@dataclass(frozen=True, slots=True)
class SavedContact:
    """A save's result: the contact as it now is, and what the save did to it."""

    contact: Contact
    outcome: SaveOutcome


class ContactStage:
    """The contacts and groups of one account that one transaction reads and changes."""

    def __init__(
        self,
        load_many: Callable[[Sequence[UUID]], Mapping[UUID, object]],
        account_id: UUID,
        now: datetime,
    ) -> None:
        self._load_many = load_many
        self.account_id = account_id
        self.now = now
        self._loaded: dict[UUID, object | None] = {}
        self._changed: dict[UUID, Aggregate] = {}
        self._group_ids: dict[str, UUID] = {}  # a name as given -> its group's id

    def preload(self, numbers: Sequence[str] = (), group_names: Sequence[str] = ()) -> None:
        """Read these E.164 numbers' contacts and these groups in one go (an import)."""
        ids = [contact_id_for(self.account_id, n) for n in numbers]
        ids += [self._group_id(g) for g in group_names]
        self._load([i for i in dict.fromkeys(ids) if i not in self._loaded])

    def _load(self, ids: Sequence[UUID]) -> None:
        if not ids:
            return
        found = self._load_many(ids)
        for i in ids:
            self._loaded[i] = found.get(i)

    def _get(self, aggregate_id: UUID) -> object | None:
        if aggregate_id not in self._loaded:
            self._load([aggregate_id])
        return self._loaded[aggregate_id]

    def _group_id(self, name: str) -> UUID:
        # An import names the same few groups on every line: one uuid5 each, not 10,000.
        found = self._group_ids.get(name)
        if found is None:
            found = self._group_ids[name] = group_id_for(self.account_id, name)
        return found

    def contact(self, msisdn: str) -> Contact | None:
        """The account's contact for an E.164 number, deleted or not; ``None``: never one."""
        found = self._get(contact_id_for(self.account_id, msisdn))
        if isinstance(found, Contact) and found.account_id == self.account_id:
            return found
        return None

    def groups(
        self, names: Sequence[str], source: ContactSource
    ) -> tuple[list[Group], list[Group]]:
        """The groups of these names: ``(all, new)``, the new ones named now, unsaved."""
        out: list[Group] = []
        new: list[Group] = []
        for name in check_group_names(list(names)):
            found = self._get(self._group_id(name))
            if isinstance(found, Group) and found.account_id == self.account_id:
                out.append(found)
                continue
            group = Group.name_new(self.account_id, name, source, self.now)
            out.append(group)
            new.append(group)
        return out, new

    def group_by_name(self, name: str) -> Group | None:
        """An existing group of this name (any case), ``None`` if it was never named."""
        found = self._get(group_id_for(self.account_id, check_group_name(name)))
        return found if isinstance(found, Group) and found.account_id == self.account_id else None

    def save(
        self,
        msisdn: str,
        *,
        first_name: str | None,
        last_name: str | None,
        groups: Sequence[str],
        source: str,
        origin: dict[str, Any] | None = None,
    ) -> SavedContact:
        """Save the number (any form the send path takes) as a contact in ``groups``,
        creating the groups that are new; ``InvalidRequestError`` (or the number's
        ``InvalidRecipientError``) for a save no contact can be made of, and then
        nothing of it is staged."""
        return self.save_number(
            normalise_msisdn(msisdn),
            first_name=first_name,
            last_name=last_name,
            groups=groups,
            source=source,
            origin=origin,
        )

    def save_number(
        self,
        number: str,
        *,
        first_name: str | None,
        last_name: str | None,
        groups: Sequence[str],
        source: str,
        origin: dict[str, Any] | None = None,
    ) -> SavedContact:
        """``save`` of a number already in E.164 (``parse_msisdn``'s), as an import's
        rows are: a second parse of each of 10,000 numbers was a third of the import."""
        known_source = check_source(source)
        contact = self.contact(number)
        in_groups, new_groups = self.groups(groups, known_source)
        kept = {} if contact is None or contact.deleted else contact.groups
        if len(kept.keys() | {g.id.hex for g in in_groups}) > MAX_GROUPS_PER_CONTACT:
            msg = f"a contact is in at most {MAX_GROUPS_PER_CONTACT} groups"
            raise InvalidRequestError(msg)
        saved, outcome = save_contact(
            contact,
            account_id=self.account_id,
            msisdn=number,
            first_name=first_name,
            last_name=last_name,
            groups=in_groups,
            source=known_source,
            origin=origin,
            timestamp=self.now,
        )
        for group in new_groups:
            self._loaded[group.id] = group
            self._changed[group.id] = group
        self._loaded[saved.id] = saved
        if outcome != "unchanged":
            self._changed[saved.id] = saved
        return SavedContact(saved, outcome)

    def stage(self, aggregate: Contact | Group) -> None:
        """Save ``aggregate`` (changed in hand) with the rest."""
        self._loaded[aggregate.id] = aggregate
        self._changed[aggregate.id] = aggregate

    def pending(self) -> list[Aggregate]:
        """The aggregates with events to save, groups first."""
        return sorted(self._changed.values(), key=lambda a: not isinstance(a, Group))
