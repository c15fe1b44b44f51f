"""The contact book: a ``Contact`` per number of an account, and named ``Group``\\ s.

A contact's id is derived from its account and its E.164 number (``contact_id_for``),
so a number is one contact of an account however often it is saved (a repeat inbound
``Save``, a second import of the same file, two saves at the same moment): the event
store's own key refuses a second creation, and the loser's retry finds the contact
and updates it. Deleting records an event; a later save of the number re-creates the
same contact (``Recreated``), so its whole story stays in one stream. Every event
carries its ``source`` (``manual``, ``inbound_save``, ``import``) and ``origin`` (the
inbound SMS, or the import and its line), so support can replay why a contact exists.

Groups are named within an account. Two names are one group when they are equal after
stripping, collapsing inner whitespace and case folding: ``Save Ann Lind friends`` and
a contact added to ``Friends`` land in one group. The group keeps the spelling it was
first named with. A group is created the first time a save names it; its id is
derived from the account and the folded name (``group_id_for``), the same way as a
contact's, so two concurrent first mentions make one group.

Saving never takes a contact out of a group (it joins the groups it names); a change
(``PATCH``) sets the groups, and a delete leaves them all. No I/O, no clock: time is
passed in.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, Literal

from eventsourcing.domain import Aggregate, event

from smsledger.domain.errors import ConflictError, InvalidRequestError
from smsledger.domain.text import check_line

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

ContactSource = Literal["manual", "inbound_save", "import"]
CONTACT_SOURCES: tuple[ContactSource, ...] = ("manual", "inbound_save", "import")
SaveOutcome = Literal["created", "updated", "unchanged"]

MAX_PERSON_NAME_LENGTH = 100
MAX_GROUP_NAME_LENGTH = 50
MAX_GROUPS_PER_CONTACT = 50
GROUP_SEPARATOR = "|"
"""Between the group names of one CSV cell (``,`` and ``;`` separate the columns)."""

_CONTACTS = uuid.UUID("8d3b6f0e-2c41-4f5a-9b7e-1a6c0d9e3f52")  # namespace of contact ids
_GROUPS = uuid.UUID("4e9a1c27-7b3d-4d06-8f25-c0b1e6a7d934")  # namespace of group ids
_SPACES = re.compile(r"\s+")
_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


def contact_id_for(account_id: uuid.UUID, msisdn: str) -> uuid.UUID:
    """The id of the account's contact for this E.164 number: the same on every call."""
    return uuid.uuid5(_CONTACTS, f"{account_id}/{msisdn}")


def check_group_name(name: object) -> str:
    """A group name as it is kept: stripped, inner whitespace one space, 1-50
    characters of one printable line, no ``|`` (the CSV's separator of groups), and
    not a UUID (a group is named by its name or its id, never ambiguously)."""
    if isinstance(name, str):
        name = name.strip()
    text = _SPACES.sub(" ", check_line(name, "group name", max_length=MAX_GROUP_NAME_LENGTH))
    if GROUP_SEPARATOR in text:
        msg = f"group name {text!r} holds {GROUP_SEPARATOR!r}, which separates groups"
        raise InvalidRequestError(msg)
    if _UUID_TEXT.fullmatch(text):
        msg = f"group name {text!r} reads as a group id; choose a name"
        raise InvalidRequestError(msg)
    return text


def group_key(name: str) -> str:
    """The form two group names are compared in: ``Friends`` and `` friends `` are one."""
    return check_group_name(name).casefold()


def group_id_for(account_id: uuid.UUID, name: str) -> uuid.UUID:
    """The id of the account's group of this name (in any case): the same on every call."""
    return uuid.uuid5(_GROUPS, f"{account_id}/{group_key(name)}")


def group_ref_id(ref: str) -> uuid.UUID | None:
    """The group id a reference is written as, ``None`` if it is a name: no name can
    look like an id (``check_group_name``)."""
    return uuid.UUID(ref) if _UUID_TEXT.fullmatch(ref.strip()) else None


def check_person_name(name: object, field: str) -> str:
    """A first or last name: stripped, 0-100 characters of one printable line."""
    if isinstance(name, str):
        name = name.strip()
    return check_line(name, field, min_length=0, max_length=MAX_PERSON_NAME_LENGTH)


def check_group_names(names: object) -> list[str]:
    """A list of group names, each checked, the same group once (first spelling)."""
    if not isinstance(names, list | tuple) or len(names) > MAX_GROUPS_PER_CONTACT:
        msg = f"groups must be a list of at most {MAX_GROUPS_PER_CONTACT} names"
        raise InvalidRequestError(msg)
    seen: dict[str, str] = {}
    for name in names:
        text = check_group_name(name)
        seen.setdefault(text.casefold(), text)
    return list(seen.values())


def check_source(source: object) -> ContactSource:
    for known in CONTACT_SOURCES:
        if source == known:
            return known
    msg = f"source must be one of {', '.join(CONTACT_SOURCES)}, got {source!r}"
    raise InvalidRequestError(msg)


class Group(Aggregate):
    """A named group of an account's contacts; its members are the contacts naming it."""

    TOPIC = "smsledger:Group"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:Group.Created"

    @event("Named", topic="smsledger:Group.Named")
    def __init__(
        self,
        id: uuid.UUID,
        account_id: uuid.UUID,
        name: str,
        key: str,
        source: ContactSource,
        timestamp: datetime,
    ) -> None:
        self.account_id = account_id
        self.name = name
        self.key = key

    @classmethod
    def name_new(
        cls, account_id: uuid.UUID, name: str, source: ContactSource, timestamp: datetime
    ) -> Group:
        text = check_group_name(name)
        return cls(
            id=group_id_for(account_id, text),
            account_id=account_id,
            name=text,
            key=text.casefold(),
            source=check_source(source),
            timestamp=timestamp,
        )


class Contact(Aggregate):
    """One number of an account's contact book, with its names and groups."""

    TOPIC = "smsledger:Contact"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:Contact.Created"

    @event("Saved", topic="smsledger:Contact.Saved")
    def __init__(
        self,
        id: uuid.UUID,
        account_id: uuid.UUID,
        msisdn: str,
        first_name: str,
        last_name: str,
        groups: dict[str, str],
        source: ContactSource,
        origin: dict[str, Any] | None,
        timestamp: datetime,
    ) -> None:
        self.account_id = account_id
        self.msisdn = msisdn
        self.source: ContactSource = source  # how it came to be; each event says why
        self._set(first_name, last_name, groups, timestamp)
        self.created_at = timestamp
        self.deleted = False

    def _set(
        self, first_name: str, last_name: str, groups: dict[str, str], timestamp: datetime
    ) -> None:
        self.first_name = first_name
        self.last_name = last_name
        self.groups = dict(groups)  # group id (hex) -> its name
        self.updated_at = timestamp

    @property
    def group_names(self) -> list[str]:
        return sorted(self.groups.values(), key=str.casefold)

    def change(
        self,
        *,
        first_name: str | None,
        last_name: str | None,
        groups: Mapping[str, str] | None,
        source: ContactSource,
        origin: dict[str, Any] | None,
        timestamp: datetime,
    ) -> bool:
        """Set what is given (``None``: keep); ``False`` if nothing changes."""
        if self.deleted:
            msg = "the contact was deleted"
            raise ConflictError(msg)
        first = (
            self.first_name if first_name is None else check_person_name(first_name, "first_name")
        )
        last = self.last_name if last_name is None else check_person_name(last_name, "last_name")
        new_groups = self.groups if groups is None else dict(groups)
        if len(new_groups) > MAX_GROUPS_PER_CONTACT:
            msg = f"a contact is in at most {MAX_GROUPS_PER_CONTACT} groups"
            raise InvalidRequestError(msg)
        if (first, last, new_groups) == (self.first_name, self.last_name, self.groups):
            return False
        self._changed(first, last, new_groups, check_source(source), origin, timestamp)
        return True

    @event("Changed", topic="smsledger:Contact.Changed")
    def _changed(
        self,
        first_name: str,
        last_name: str,
        groups: dict[str, str],
        source: ContactSource,
        origin: dict[str, Any] | None,
        timestamp: datetime,
    ) -> None:
        """The whole new state, so a read model needs no history; ``source`` and
        ``origin`` say why it changed (the contact's own ``source`` stays)."""
        self._set(first_name, last_name, groups, timestamp)

    def delete(self, timestamp: datetime) -> bool:
        """``False`` if it was deleted already."""
        if self.deleted:
            return False
        self._deleted(timestamp)
        return True

    @event("Deleted", topic="smsledger:Contact.Deleted")
    def _deleted(self, timestamp: datetime) -> None:
        self.deleted = True
        self.groups = {}
        self.updated_at = timestamp

    @event("Recreated", topic="smsledger:Contact.Recreated")
    def _recreated(
        self,
        account_id: uuid.UUID,
        msisdn: str,
        first_name: str,
        last_name: str,
        groups: dict[str, str],
        source: ContactSource,
        origin: dict[str, Any] | None,
        timestamp: datetime,
    ) -> None:
        """A deleted contact's number saved again: a new contact in the same stream
        (whole, as ``Saved`` is, so a view rebuilds it without the stream's start)."""
        self.source = source
        self._set(first_name, last_name, groups, timestamp)
        self.created_at = timestamp
        self.deleted = False


def save_contact(
    contact: Contact | None,
    *,
    account_id: uuid.UUID,
    msisdn: str,
    first_name: str | None,
    last_name: str | None,
    groups: Sequence[Group],
    source: ContactSource,
    origin: dict[str, Any] | None,
    timestamp: datetime,
) -> tuple[Contact, SaveOutcome]:
    """What a save makes of the account's contact for ``msisdn`` (``None``: there is
    none yet): created, re-created after a delete, updated, or unchanged.

    Names given replace the kept ones (``None`` keeps them; a new contact gets "");
    the contact joins ``groups`` and stays in the others it is in.
    """
    source = check_source(source)
    first = None if first_name is None else check_person_name(first_name, "first_name")
    last = None if last_name is None else check_person_name(last_name, "last_name")
    joined = {g.id.hex: g.name for g in groups}
    if contact is None or contact.deleted:
        if len(joined) > MAX_GROUPS_PER_CONTACT:
            msg = f"a contact is in at most {MAX_GROUPS_PER_CONTACT} groups"
            raise InvalidRequestError(msg)
        if contact is None:
            created = Contact(
                id=contact_id_for(account_id, msisdn),
                account_id=account_id,
                msisdn=msisdn,
                first_name=first or "",
                last_name=last or "",
                groups=joined,
                source=source,
                origin=origin,
                timestamp=timestamp,
            )
            return created, "created"
        contact._recreated(
            account_id, msisdn, first or "", last or "", joined, source, origin, timestamp
        )
        return contact, "created"
    changed = contact.change(
        first_name=first,
        last_name=last,
        groups={**contact.groups, **joined},
        source=source,
        origin=origin,
        timestamp=timestamp,
    )
    return contact, "updated" if changed else "unchanged"
