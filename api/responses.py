"""Response classes: JSON rendered with orjson, and RFC 9457 problem documents."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


class OrjsonResponse(JSONResponse):
    """JSON via orjson: UUIDs and aware datetimes serialise natively, and fast. A UTC
    time is written ``...Z``, as pydantic writes the response models' times: one format
    for every time the API answers (``domain.times.utc_text``)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


class ProblemResponse(OrjsonResponse):
    media_type = "application/problem+json"
