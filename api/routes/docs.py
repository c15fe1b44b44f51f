"""``/docs``: Swagger UI from the installed ``swagger-ui-bundle`` package, never a CDN, so
the API's own reference works on a machine with no network."""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

router = APIRouter(include_in_schema=False)

ASSETS = Path(swagger_ui_path)
_SERVED = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="smsledger API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    )


@router.get("/docs/assets/{name}")
def swagger_asset(name: str) -> FileResponse:
    if name not in _SERVED:  # only the three files the page loads: no path is taken as given
        raise HTTPException(status_code=404, detail="no such asset")
    return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})
