"""The 31 message status codes of DOMAIN.md as data, and the rules that move between them.

A status code's hundreds digit is its group. ``stage`` orders the pipeline: a message's
status only moves to a later stage and never leaves a final status, except that 599
Unknown may be corrected by a later, interpretable final report.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

LegacyStatus = Literal["Delivered", "Sent", "Wrong"]


class Group(StrEnum):
    INFO = "Info"
    SUCCESS = "Success"
    REJECTION = "Rejection"
    ERROR = "Error"


_GROUP_OF_HUNDREDS = {1: Group.INFO, 2: Group.SUCCESS, 4: Group.REJECTION, 5: Group.ERROR}

FINAL_STAGE = 100


@dataclass(frozen=True, slots=True)
class StatusCode:
    code: int
    name: str
    description: str
    final: bool
    stage: int
    legacy: LegacyStatus | None

    @property
    def group(self) -> Group:
        return _GROUP_OF_HUNDREDS[self.code // 100]

    def as_dict(self) -> dict[str, object]:
        """The status object of the public contract."""
        return {"code": self.code, "name": self.name, "group": self.group.value}


def _s(
    code: int, name: str, description: str, stage: int, legacy: LegacyStatus | None
) -> StatusCode:
    return StatusCode(code, name, description, stage >= FINAL_STAGE, stage, legacy)


# Stages: where along the pipeline a status sits. Finals share FINAL_STAGE.
# 104 Refunded is an event of the history, never a message's current status,
# so its stage is irrelevant; 503 is an error that is not final (the operator retries).
_TABLE: tuple[StatusCode, ...] = (
    _s(101, "Accepted", "accepted for processing", 10, None),
    _s(102, "Queued", "put in a queue for sending", 20, None),
    _s(103, "Funded", "paid for, may be sent", 30, None),
    _s(104, "Refunded", "its price went back to the account balance", 30, None),
    _s(110, "Sending", "being sent", 40, "Sent"),
    _s(111, "DeliveredToGateway", "handed to the next upstream gateway", 50, "Sent"),
    _s(114, "QueuedAtGateway", "queued at the upstream gateway", 55, "Sent"),
    _s(112, "DeliveredToCarrier", "handed to the recipient's carrier", 60, "Sent"),
    _s(113, "DeliveredToGSM", "put on the GSM network", 70, "Sent"),
    _s(201, "DeliveredToHandset", "delivered to the recipient", FINAL_STAGE, "Delivered"),
    _s(202, "Expired", "its validity period ended before delivery", FINAL_STAGE, "Wrong"),
    _s(203, "Canceled", "canceled by the user", FINAL_STAGE, None),
    _s(402, "InsufficientFunds", "the sending account lacks funds", FINAL_STAGE, None),
    _s(
        403,
        "SenderRejected",
        "sender considered fraudulent, or sender ownership not verified",
        FINAL_STAGE,
        None,
    ),
    _s(404, "ContentRejected", "body holds content that is not allowed", FINAL_STAGE, None),
    _s(
        405,
        "RecipientRejected",
        "the recipient is not allowed (for example blocked or opted out)",
        FINAL_STAGE,
        None,
    ),
    _s(406, "GenericRejected", "rejected for another reason", FINAL_STAGE, None),
    _s(407, "InvalidSender", "sender invalid: too long, illegal characters", FINAL_STAGE, None),
    _s(408, "InvalidContent", "content invalid: illegal characters, too long", FINAL_STAGE, None),
    _s(409, "InvalidRecipient", "recipient is not a valid MSISDN", FINAL_STAGE, None),
    _s(
        410,
        "MissingSmsSubscription",
        "recipient's subscription cannot receive SMS",
        FINAL_STAGE,
        "Wrong",
    ),
    _s(500, "InternalError", "an unrecognized error", FINAL_STAGE, "Wrong"),
    _s(501, "UnknownSubscriber", "the subscriber does not exist", FINAL_STAGE, "Wrong"),
    _s(
        502,
        "SubscriberUnreachable",
        "subscriber not online, could not receive",
        FINAL_STAGE,
        "Wrong",
    ),
    _s(
        503,
        "SubscriberOffline",
        "subscriber offline; delivery is retried when back online",
        80,
        "Sent",
    ),
    _s(
        511,
        "DeliveryToGatewayFailed",
        "could not be handed to the next upstream gateway",
        FINAL_STAGE,
        "Wrong",
    ),
    _s(512, "DeliveryToCarrierFailed", "could not be handed to the carrier", FINAL_STAGE, "Wrong"),
    _s(513, "DeliveryToGSMFailed", "could not be put on the GSM network", FINAL_STAGE, "Wrong"),
    _s(514, "DeliveryToHandsetFailed", "could not be handed to the handset", FINAL_STAGE, "Wrong"),
    _s(515, "GenericDeliveryFailure", "generic delivery failure", FINAL_STAGE, "Wrong"),
    _s(516, "GatewayError", "an unrecognized error at the gateway", FINAL_STAGE, "Wrong"),
    _s(
        599,
        "Unknown",
        "delivered upstream, but no delivery receipt came, or one that could not be interpreted",
        FINAL_STAGE,
        "Wrong",
    ),
)

STATUS_CODES: dict[int, StatusCode] = {s.code: s for s in _TABLE}

ACCEPTED = 101
FUNDED = 103
REFUNDED = 104
SENDING = 110
DELIVERED_TO_GATEWAY = 111
DELIVERED = 201
EXPIRED = 202
CANCELED = 203
INSUFFICIENT_FUNDS = 402
RECIPIENT_REJECTED = 405
INTERNAL_ERROR = 500
SUBSCRIBER_OFFLINE = 503
DELIVERY_TO_GATEWAY_FAILED = 511
UNKNOWN = 599

REPORTABLE: frozenset[int] = frozenset(
    c for c in STATUS_CODES if c not in (ACCEPTED, 102, FUNDED, REFUNDED, SENDING, CANCELED)
)
"""Codes a carrier's delivery report may carry; anything else is kept raw and reads 599."""


def status(code: int) -> StatusCode:
    """Look up a status code; ``KeyError`` for a code outside the table."""
    return STATUS_CODES[code]


def is_known(code: int) -> bool:
    """Whether ``code`` is one of the 31 codes."""
    return code in STATUS_CODES


def may_move(current: int, new: int) -> bool:
    """Whether a message at ``current`` may move to ``new``.

    Never backwards along the pipeline, never out of a final status; the one
    exception is 599 Unknown, which a later interpretable final status corrects.
    """
    cur, nxt = STATUS_CODES[current], STATUS_CODES[new]
    if cur.final:
        return cur.code == UNKNOWN and nxt.final and nxt.code != UNKNOWN
    return nxt.stage > cur.stage or (nxt.stage == cur.stage and nxt.code != cur.code)
