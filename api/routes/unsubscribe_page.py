"""The page an unsubscribe link opens (``/u/{token}``): a confirmation, then the opt-out.

``GET`` shows the account's name and the number, masked, and a one-button form;
``POST`` (that form) puts the number on the account's block list (``source:
unsubscribe_link``). The token is the only credential, so every answer is a small HTML
page, never JSON or a trace: an unknown, malformed or over-long token is a friendly
404, one whose number is blocked says "already unsubscribed".

Forgery: there is no session to ride, and a forger would need the token, which only
the recipient's message holds. The POST still has to come from the form: its body must
repeat the token, and a browser's ``Sec-Fetch-Site`` (when sent) must be same-origin
and its ``Origin`` (when sent) this service's (the page's ``Referrer-Policy:
same-origin`` keeps the browser sending it). Probing: a token is 96 random bits, and
a client that names more than ``MISSES_PER_MINUTE`` unknown tokens in a minute is
answered 429 until the minute is over, before any lookup.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from smsledger.adapters.storage import unavailable
from smsledger.api.deps import ServicesDep
from smsledger.domain.errors import ConcurrentUpdateError, UnsubscribeLinkNotFoundError
from smsledger.domain.unsubscribe import is_token

if TYPE_CHECKING:
    from smsledger.application.ledger import UnsubscribeLink

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

_PAGES = Environment(
    loader=PackageLoader("smsledger.api", "templates"), autoescape=select_autoescape()
)
_HEADERS = {
    "Cache-Control": "no-store",
    # Not no-referrer: with it a browser sends "Origin: null" on the form's POST, and
    # the Origin check below needs the real one. The page links nowhere else.
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
}
MAX_FORM_BYTES = 1024
MISSES_PER_MINUTE = 20
_MAX_CLIENTS = 10_000
_RETRY_AFTER = "60"


class MissLimiter:
    """Unknown tokens named per client in the current minute, in this process.

    A fixed window is enough here: a token is 96 random bits, so the limit is not what
    keeps a token secret; it keeps a probe from costing us an event-store read per
    guess. Bounded: past ``_MAX_CLIENTS`` clients in a window the oldest are dropped."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._misses: dict[str, int] = {}

    def _roll(self) -> None:
        window = int(self.clock() // 60)
        if window != self._window:
            self._window = window
            self._misses = {}

    def allowed(self, client: str) -> bool:
        with self._lock:
            self._roll()
            return self._misses.get(client, 0) < self.per_minute

    def missed(self, client: str) -> None:
        with self._lock:
            self._roll()
            if client not in self._misses and len(self._misses) >= _MAX_CLIENTS:
                del self._misses[next(iter(self._misses))]
            self._misses[client] = self._misses.get(client, 0) + 1


def _limiter(request: Request) -> MissLimiter:
    """The app's limiter: one per app, so two apps in one process count apart."""
    state = request.app.state
    found: MissLimiter | None = getattr(state, "unsubscribe_misses", None)
    if found is None:
        found = state.unsubscribe_misses = MissLimiter(MISSES_PER_MINUTE)
    return found


def _page(
    status: int, title: str, headers: dict[str, str] | None = None, **ctx: object
) -> HTMLResponse:
    html = _PAGES.get_template("unsubscribe.html").render(title=title, **ctx)
    return HTMLResponse(html, status_code=status, headers={**_HEADERS, **(headers or {})})


def _not_found() -> HTMLResponse:
    return _page(
        404,
        "This link does not work",
        message="It may be incomplete or mistyped. Open it again from the message you got; "
        "if it still does not work, reply to the sender instead.",
    )


def _busy() -> HTMLResponse:
    return _page(
        503,
        "Please try again in a moment",
        headers={"Retry-After": "2"},
        message="We could not reach your details just now. Nothing has changed yet.",
    )


def _too_many() -> HTMLResponse:
    return _page(
        429,
        "Too many attempts",
        headers={"Retry-After": _RETRY_AFTER},
        message="Please wait a minute, then open the link from your message again.",
    )


def _form(token: str, link: "UnsubscribeLink") -> HTMLResponse:
    if link.used:
        return _already(link)
    return _page(
        200,
        "Unsubscribe?",
        lead="Stop messages from",
        sender=link.account_name,
        number=link.masked_number,
        tail="?",
        form=True,
        token=token,
    )


def _already(link: "UnsubscribeLink") -> HTMLResponse:
    return _page(
        200,
        "Already unsubscribed",
        done=True,
        lead="You get no more messages from",
        sender=link.account_name,
        number=link.masked_number,
        tail=". There is nothing more to do.",
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _look_up(
    request: Request, token: str, lookup: Callable[[str], HTMLResponse]
) -> HTMLResponse:
    """``lookup(token)`` in the thread pool, every failure a friendly page."""
    client = _client(request)
    limiter = _limiter(request)
    if not limiter.allowed(client):
        return _too_many()
    if not is_token(token):  # malformed or over-long: no lookup at all
        limiter.missed(client)
        return _not_found()
    try:
        return await run_in_threadpool(lookup, token)
    except UnsubscribeLinkNotFoundError:
        limiter.missed(client)
        return _not_found()
    except ConcurrentUpdateError:
        return _busy()
    except Exception as e:
        if unavailable(e):
            log.warning("database unavailable on %s /u/...: %s", request.method, type(e).__name__)
            return _busy()
        log.exception("unsubscribe page failed on %s", request.method)
        return _page(
            500, "Something went wrong", message="Nothing has changed. Please try again later."
        )


# HEAD too: a link preview or a mail scanner may only look; neither changes anything.
@router.api_route("/u/{token:path}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def unsubscribe_form(token: str, request: Request, services: ServicesDep) -> HTMLResponse:
    return await _look_up(request, token, lambda t: _form(t, services.ledger.unsubscribe_link(t)))


@router.api_route("/u", methods=["GET", "HEAD", "POST"], response_class=HTMLResponse)
def unsubscribe_without_token() -> HTMLResponse:
    """The address with its token cut off (a link broken across two lines)."""
    return _not_found()


def _same_origin(request: Request, public_url: str) -> bool:
    """Whether what the browser says of the POST's origin (if anything) is this service."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or one that does not say: the token decides
        return True
    own = {f"{request.url.scheme}://{request.url.netloc}"}
    public = urlsplit(public_url)
    own.add(f"{public.scheme}://{public.netloc}")
    return origin in own


@router.post("/u/{token:path}", response_class=HTMLResponse)
async def unsubscribe_submit(token: str, request: Request, services: ServicesDep) -> HTMLResponse:
    if not _same_origin(request, services.settings.public_url):
        return _page(
            403,
            "Please use the button on the page",
            message="Open the link from your message and press Unsubscribe there.",
        )
    raw = await request.body()
    form = parse_qs(raw[:MAX_FORM_BYTES].decode("utf-8", "replace"), max_num_fields=5)
    if is_token(token) and (form.get("token") or [""])[0] != token:
        return _page(
            400,
            "Please use the button on the page",
            message="Open the link from your message and press Unsubscribe there.",
        )

    def unsubscribe(t: str) -> HTMLResponse:
        link, outcome = services.ledger.unsubscribe(t).value
        if outcome == "already_unsubscribed":
            return _already(link)
        return _page(
            200,
            "You are unsubscribed",
            done=True,
            lead="You will get no more messages from",
            sender=link.account_name,
            number=link.masked_number,
            tail=".",
        )

    return await _look_up(request, token, unsubscribe)
