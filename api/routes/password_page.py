"""The page a mailed link opens: choose a password (server-rendered, no script, no
asset from anywhere else). The link's token is the only credential, so the page sends
no referrer and is never cached."""

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from smsledger.api.deps import ServicesDep
from smsledger.domain.errors import AuthenticationError, ConflictError, InvalidRequestError

router = APIRouter(include_in_schema=False)

_PAGES = Environment(
    loader=PackageLoader("smsledger.api", "templates"), autoescape=select_autoescape()
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
MAX_FORM_BYTES = 4096


def _page(status: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("title", "Choose your password")
    html = _PAGES.get_template("password.html").render(**context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


@router.get("/password", response_class=HTMLResponse)
def password_form(token: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    if not token:
        return _page(400, message="This page needs the link from your e-mail.")
    return _page(form=True, token=token)


@router.post("/password", response_class=HTMLResponse)
async def password_submit(request: Request, services: ServicesDep) -> HTMLResponse:
    raw = await request.body()
    form = parse_qs(raw[:MAX_FORM_BYTES].decode("utf-8", "replace"), max_num_fields=10)
    token = (form.get("token") or [""])[0]
    password = (form.get("password") or [""])[0]
    if password != (form.get("confirm") or [""])[0]:
        return _page(422, form=True, token=token, message="The two passwords differ.")
    try:
        await run_in_threadpool(services.people.set_password, token, password)
    except InvalidRequestError as e:
        return _page(422, form=True, token=token, message=f"Not yet: {e}.")
    except AuthenticationError as e:
        return _page(401, message=f"{str(e)[:1].upper()}{str(e)[1:]}.")
    except ConflictError:
        return _page(409, message="This user is disabled; ask your administrator.")
    return _page(
        title="Password set", done=True, message="Your password is set: you can log in now."
    )
