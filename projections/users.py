"""The users view: an account's people, their role and state, for the users list.

One row per user, written from the ``User`` events. The password hash is never copied
here: the view is what a list may show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

U = "smsledger:User."
INVITED = U + "Invited"
PASSWORD_SET = U + "PasswordSet"
CHANGED = U + "Changed"
DISABLED = U + "Disabled"
ENABLED = U + "Enabled"


class UsersProjection(Projection):
    name = "users"
    topics = (INVITED, PASSWORD_SET, CHANGED, DISABLED, ENABLED)

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s, ph = self.store, self.store.ph
        # Few and small: one statement per event keeps the rules plain.
        for logged in events:
            e = logged.event
            user, at = s.uuid(e.originator_id), s.time(e.timestamp)
            if logged.topic == INVITED:
                cur.execute(
                    "INSERT INTO view_users "
                    "(id, account_id, email, name, role, state, invited_at, updated_at) "
                    f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, 'invited', {ph}, {ph}) "
                    "ON CONFLICT (id) DO NOTHING",
                    [user, s.uuid(e.account_id), e.email, e.name, e.role, at, at],
                )
            elif logged.topic == CHANGED:
                cur.execute(
                    f"UPDATE view_users SET name = {ph}, role = {ph}, updated_at = {ph} "
                    f"WHERE id = {ph}",
                    [e.name, e.role, at, user],
                )
            elif logged.topic == DISABLED:
                self._state(cur, user, "disabled", at)
            elif logged.topic == PASSWORD_SET:
                self._state(cur, user, "active", at)
            elif logged.topic == ENABLED:
                self._state(cur, user, e.state, at)

    def _state(self, cur: Any, user: Any, state: str, at: Any) -> None:
        ph = self.store.ph
        cur.execute(
            f"UPDATE view_users SET state = {ph}, updated_at = {ph} WHERE id = {ph}",
            [state, at, user],
        )

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_users")
