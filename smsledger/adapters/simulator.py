"""A deterministic carrier: the gateway ``SMSLEDGER_GATEWAY=simulator`` plugs in.

Every message's fate is drawn from ``random.Random(f"{seed}:{message_id}")``, so it
depends on the seed and the message alone, never on the order messages arrive in: the
same seed gives the same outcomes, latencies and faults on every run and every machine.

At submit time the simulator decides the outcome (see ``OutcomeMix``) and writes the
reports its carrier will send, each with the carrier's time (``at``) and the time it
reaches us (``due_at``), into ``sim_reports``. ``due_reports(now)`` hands out what is due
by ``now``; the dispatcher's pump records them and acknowledges them. Submissions are
counted per message id in ``sim_submissions``, so a test can check across process
restarts that nothing was sent twice: a repeat of an id answers what the first submit
answered (accepted or refused) and sends nothing, and ``lookup`` gives that answer
without counting a call.

Faults real carriers show (see ``Faults``): a report sent twice, two reports arriving in
swapped order, a stale report arriving after the final one, and a final report with a
code outside the status table (sometimes followed by the real one, which corrects 599).
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from smsledger.adapters.views import open_views
from smsledger.application.ports import HandOffRefusedError, Refused
from smsledger.projections import store_for

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from smsledger.adapters.storage import Database
    from smsledger.application.ports import Outgoing
    from smsledger.projections.db import ViewDatabase

# Codes the simulated carrier reports.
DELIVERED_TO_CARRIER = 112
DELIVERED_TO_GSM = 113
DELIVERED = 201
EXPIRED = 202
NO_SMS_SUBSCRIPTION = 410
UNKNOWN_SUBSCRIBER = 501
SUBSCRIBER_OFFLINE = 503
GATEWAY_FAILED = 511
CARRIER_FAILED = 512
OUT_OF_TABLE_CODES = (0, 42, 299, 777, 999, 1201)
REFUSAL = "the simulated gateway refused the message"


@dataclass(frozen=True)
class OutcomeMix:
    """Relative weights of each message's fate (they need not sum to 1)."""

    delivered: float = 0.82  # 112, 113, 201
    offline_then_delivered: float = 0.05  # 112, 503, ... back online: 113, 201
    offline_then_expired: float = 0.03  # 112, 503, then 202 when its validity ends
    unknown_subscriber: float = 0.03  # 112, 501
    no_sms_subscription: float = 0.02  # 112, 410
    carrier_rejection: float = 0.03  # 512: the carrier would not take it
    gateway_failure: float = 0.02  # refused at submit: the dispatcher records 511

    def pick(self, rng: random.Random) -> str:
        names = [f.name for f in fields(self)]
        weights = [getattr(self, n) for n in names]
        return rng.choices(names, weights)[0]


@dataclass(frozen=True)
class Faults:
    """Per-message probabilities of what real carriers get wrong."""

    duplicate: float = 0.05  # one report sent twice
    out_of_order: float = 0.05  # two reports reach us in swapped order
    late_after_final: float = 0.03  # a stale report arrives after the final one
    unknown_code: float = 0.02  # the final report's code is outside the table ...
    corrected: float = 0.5  # ... and then, this often, the real final report follows


@dataclass(frozen=True)
class Latency:
    """Seconds, before dividing by ``speed``."""

    hop: tuple[float, float] = (0.3, 1.5)  # between one carrier step and the next
    report_delay: tuple[float, float] = (0.05, 0.5)  # carrier time to arrival here
    offline: tuple[float, float] = (20.0, 120.0)  # how long a phone stays off
    submit: float = 0.0  # wall-clock seconds one submit call takes (half before, half after)


@dataclass(frozen=True)
class Replies:
    """Per delivered message, how often its recipient texts back to the account's
    virtual number (only accounts that have one get the reply). Rare by default, so the
    embedded default shows a few; ``SMSLEDGER_SIMULATOR_REPLIES="stop=0,save=0"`` is
    off."""

    stop: float = 0.01  # "STOP"
    save: float = 0.01  # "Save <first> <last> <group>"


SAVE_TEXTS = ("Save Anna Berg Friends", "Save Erik Lund Customers", "save Sara Holm VIP")


@dataclass(frozen=True)
class SimulatorConfig:
    seed: int = 42
    speed: float = 1.0  # 2.0 makes every simulated latency half as long
    mix: OutcomeMix = field(default_factory=OutcomeMix)
    faults: Faults = field(default_factory=Faults)
    latency: Latency = field(default_factory=Latency)
    replies: Replies = field(default_factory=Replies)


_K = TypeVar("_K", OutcomeMix, Faults, Replies)


def parse_knobs(kind: type[_K], spec: str) -> _K:
    """``"name=value,name=value"`` over the defaults; names not given keep theirs.
    For ``OutcomeMix`` a given name sets its weight and the others become 0."""
    values: dict[str, float] = {}
    known = {f.name for f in fields(kind)}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if name.strip() not in known:
            msg = f"unknown simulator knob {name!r}; known: {', '.join(sorted(known))}"
            raise ValueError(msg)
        values[name.strip()] = float(value)
    if kind is OutcomeMix and values:
        values = {name: values.get(name, 0.0) for name in known}
    return kind(**values)


@dataclass(frozen=True)
class PlannedReport:
    code: int
    at: datetime  # the carrier's time
    due_at: datetime  # when it reaches us
    note: str = ""


@dataclass(frozen=True)
class Plan:
    outcome: str
    reports: list[PlannedReport]


def plan(config: SimulatorConfig, message_id: UUID, now: datetime, expires_at: datetime) -> Plan:
    """A message's fate: the same for the same seed and id, whatever else happens."""
    rng = random.Random(f"{config.seed}:{message_id}")
    lat, faults = config.latency, config.faults
    outcome = config.mix.pick(rng)

    def span(bounds: tuple[float, float]) -> timedelta:
        return timedelta(seconds=rng.uniform(*bounds) / config.speed)

    t = now
    steps: list[tuple[int, datetime]] = []

    def step(code: int, after: tuple[float, float] = lat.hop) -> None:
        nonlocal t
        t += span(after)
        steps.append((code, t))

    if outcome == "gateway_failure":
        return Plan(outcome, [])
    if outcome == "carrier_rejection":
        step(CARRIER_FAILED)
    else:
        step(DELIVERED_TO_CARRIER)
        if outcome == "delivered":
            step(DELIVERED_TO_GSM)
            step(DELIVERED)
        elif outcome == "offline_then_delivered":
            step(SUBSCRIBER_OFFLINE)
            step(DELIVERED_TO_GSM, lat.offline)
            step(DELIVERED)
        elif outcome == "offline_then_expired":
            step(SUBSCRIBER_OFFLINE)
            steps.append((EXPIRED, max(expires_at, t)))  # the carrier gives up at validity
        elif outcome == "unknown_subscriber":
            step(UNKNOWN_SUBSCRIBER)
        else:
            step(NO_SMS_SUBSCRIPTION)

    # Each report reaches us after the one before it: a report delayed longer than the
    # next step's hop would otherwise overtake it, an out-of-order arrival that only
    # ``faults.out_of_order`` is meant to make (so Faults(0, ...) means in order).
    reports: list[PlannedReport] = []
    for c, at in steps:
        due = at + span(lat.report_delay)
        if reports and due < reports[-1].due_at:
            due = reports[-1].due_at
        reports.append(PlannedReport(c, at, due))
    final = reports[-1]
    if rng.random() < faults.unknown_code:
        odd = rng.choice(OUT_OF_TABLE_CODES)
        reports[-1] = PlannedReport(odd, final.at, final.due_at, "out of table")
        if rng.random() < faults.corrected:
            later = final.at + span(lat.hop)
            reports.append(PlannedReport(final.code, later, later + span(lat.report_delay)))
    if rng.random() < faults.late_after_final:
        last = max(r.due_at for r in reports)
        stale = reports[0]
        reports.append(PlannedReport(stale.code, stale.at, last + span(lat.report_delay), "late"))
    if len(reports) > 1 and rng.random() < faults.out_of_order:
        i = rng.randrange(len(reports) - 1)
        a, b = reports[i], reports[i + 1]
        reports[i] = PlannedReport(a.code, a.at, b.due_at, "out of order")
        reports[i + 1] = PlannedReport(b.code, b.at, a.due_at, "out of order")
    if rng.random() < faults.duplicate:
        twin = rng.choice(reports)
        reports.append(
            PlannedReport(twin.code, twin.at, twin.due_at + span(lat.report_delay), "duplicate")
        )
    return Plan(outcome, reports)


@dataclass(frozen=True)
class PlannedReply:
    body: str
    at: datetime  # the carrier's time
    due_at: datetime  # when it reaches us
    gateway_ref: str


def plan_reply(config: SimulatorConfig, message_id: UUID, fate: Plan) -> PlannedReply | None:
    """Whether the recipient of a delivered message texts back, what and when: the same
    for the same seed and id. Its own random stream, so adding replies changed no
    message's fate."""
    if fate.outcome not in ("delivered", "offline_then_delivered"):
        return None
    rng = random.Random(f"{config.seed}:reply:{message_id}")
    draw, replies = rng.random(), config.replies
    if draw < replies.stop:
        body = "STOP"
    elif draw < replies.stop + replies.save:
        body = rng.choice(SAVE_TEXTS)
    else:
        return None
    delivered = max(r.at for r in fate.reports if r.code == DELIVERED)
    at = delivered + timedelta(seconds=rng.uniform(2.0, 30.0) / config.speed)
    due = at + timedelta(seconds=rng.uniform(*config.latency.report_delay) / config.speed)
    ref = "sim-in-" + hashlib.sha256(f"{config.seed}:reply:{message_id}".encode()).hexdigest()[:20]
    return PlannedReply(body, at, due, ref)


def gateway_ref(seed: int, message_id: UUID) -> str:
    return "sim-" + hashlib.sha256(f"{seed}:{message_id}".encode()).hexdigest()[:20]


class CarrierSimulator:
    """The ``Gateway`` port over the simulated carrier; its state lives in the database."""

    name = "simulator"

    def __init__(
        self,
        database: Database,
        config: SimulatorConfig | None = None,
        *,
        views: ViewDatabase | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self._own_views = views is None
        self.views = views or open_views(database)
        self.sql = store_for(self.views.dialect)

    def close(self) -> None:
        if self._own_views:
            self.views.close()

    # --- the port ---

    def submit(self, message: Outgoing, now: datetime) -> str:
        """Take a message once per id; its reports are planned at the first submit."""
        pause = self.config.latency.submit / 2
        if pause:
            time.sleep(pause)  # the request on its way
        try:
            return self._submit(message, now)
        finally:
            if pause:
                time.sleep(pause)  # the answer on its way back

    def _submit(self, message: Outgoing, now: datetime) -> str:
        s, ph = self.sql, self.sql.ph
        fate = plan(self.config, message.message_id, now, message.expires_at)
        accepted = fate.outcome != "gateway_failure"
        ref = gateway_ref(self.config.seed, message.message_id) if accepted else None
        mid = s.uuid(message.message_id)
        with self.views.transaction() as cur:
            cur.execute(
                "INSERT INTO sim_submissions (message_id, gateway_ref, outcome, calls, accepted, "
                f"submitted_at) VALUES ({s.marks(6)}) ON CONFLICT (message_id) DO NOTHING",
                (mid, ref, fate.outcome, 1, int(accepted), s.time(now)),
            )
            if cur.rowcount == 1:
                cur.executemany(
                    f"INSERT INTO sim_reports (message_id, payload, due_at) VALUES ({s.marks(3)})",
                    [
                        (mid, self._payload(message.message_id, ref, r), s.time(r.due_at))
                        for r in fate.reports
                    ],
                )
                reply = plan_reply(self.config, message.message_id, fate)
                if reply is not None and message.account_id is not None:
                    cur.execute(
                        "INSERT INTO sim_inbound (account_id, sender, body, gateway_ref, at, "
                        f"due_at) VALUES ({s.marks(6)})",
                        (
                            s.uuid(message.account_id),
                            message.recipient,
                            reply.body,
                            reply.gateway_ref,
                            s.time(reply.at),
                            s.time(reply.due_at),
                        ),
                    )
            else:
                # Submitted before: the same answer, and one more call counted.
                cur.execute(
                    f"UPDATE sim_submissions SET calls = calls + 1 WHERE message_id = {ph}",
                    (mid,),
                )
                cur.execute(
                    f"SELECT gateway_ref, accepted FROM sim_submissions WHERE message_id = {ph}",
                    (mid,),
                )
                row = cur.fetchone()
                ref, accepted = row[0], bool(row[1])
        if not accepted or ref is None:
            raise HandOffRefusedError(REFUSAL)
        return ref

    def _payload(self, message_id: UUID, ref: str | None, report: PlannedReport) -> str:
        at = report.at.isoformat()
        raw: dict[str, Any] = {"ref": ref, "stat": report.code, "done_date": at}
        if report.note:
            raw["note"] = report.note
        body = {"message_id": str(message_id), "status_code": report.code, "at": at, "raw": raw}
        return orjson.dumps(body).decode()

    def lookup(self, message_id: UUID) -> str | Refused | None:
        """The first answer to this id, accepted or refused; never a submission."""
        s, ph = self.sql, self.sql.ph
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT gateway_ref, accepted FROM sim_submissions WHERE message_id = {ph}",
                (s.uuid(message_id),),
            )
            row = cur.fetchone()
        if row is None:
            return None
        if not row[1] or row[0] is None:
            return Refused(REFUSAL)
        return str(row[0])

    def due_reports(self, now: datetime, limit: int) -> list[tuple[int, dict[str, Any]]]:
        s, ph = self.sql, self.sql.ph
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT id, payload FROM sim_reports WHERE sent_at IS NULL AND due_at <= {ph} "
                f"ORDER BY due_at, id LIMIT {int(limit)}",
                (s.time(now),),
            )
            return [(int(r[0]), orjson.loads(r[1])) for r in cur.fetchall()]

    def acknowledge(self, receipt_ids: Sequence[int], now: datetime) -> None:
        s, ph = self.sql, self.sql.ph
        with self.views.transaction() as cur:
            cur.executemany(
                f"UPDATE sim_reports SET sent_at = {ph} WHERE id = {ph}",
                [(s.time(now), i) for i in receipt_ids],
            )

    # --- replies (``InboundSource``) ---

    def due_inbound(self, now: datetime, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Replies due by ``now``: ``(receipt id, {"account_id", "from", "body", "at",
        "gateway_ref"})``."""
        s, ph = self.sql, self.sql.ph
        with self.views.reading() as cur:
            cur.execute(
                "SELECT id, account_id, sender, body, at, gateway_ref FROM sim_inbound "
                f"WHERE sent_at IS NULL AND due_at <= {ph} ORDER BY due_at, id "
                f"LIMIT {int(limit)}",
                (s.time(now),),
            )
            rows = cur.fetchall()
        return [
            (
                int(r[0]),
                {
                    "account_id": s.to_uuid(r[1]),
                    "from": str(r[2]),
                    "body": str(r[3]),
                    "at": s.to_time(r[4]).isoformat(),
                    "gateway_ref": str(r[5]),
                },
            )
            for r in rows
        ]

    def acknowledge_inbound(self, receipt_ids: Sequence[int], now: datetime) -> None:
        s, ph = self.sql, self.sql.ph
        with self.views.transaction() as cur:
            cur.executemany(
                f"UPDATE sim_inbound SET sent_at = {ph} WHERE id = {ph}",
                [(s.time(now), i) for i in receipt_ids],
            )

    # --- for tests and support ---

    def submissions(self) -> dict[UUID, tuple[int, int]]:
        """Per message id: ``(calls, accepted)``."""
        with self.views.reading() as cur:
            cur.execute("SELECT message_id, calls, accepted FROM sim_submissions")
            return {self.sql.to_uuid(r[0]): (int(r[1]), int(r[2])) for r in cur.fetchall()}

    def pending_reports(self) -> int:
        with self.views.reading() as cur:
            cur.execute("SELECT count(*) FROM sim_reports WHERE sent_at IS NULL")
            return int(cur.fetchone()[0])
