"""The operator console: server-rendered pages under `/ops/console` for the people who settle
what the workflows could not (docs/console.md)."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = "/docs/assets"
SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def install(app: FastAPI, docs: bool = True) -> None:
    """The console's pages, actions and stylesheet, and (with `docs`) `/docs` served with the
    app's own copy of Swagger UI (so it renders without reaching any other host)."""
    from withdraw_service.console import actions, pages

    app.include_router(pages.router)
    app.include_router(actions.router)
    static = resources.files("withdraw_service.console") / "static"
    app.mount(f"{pages.ROOT}/static", StaticFiles(directory=str(static)), name="console-static")
    if docs:
        _install_docs(app)


def _install_docs(app: FastAPI) -> None:
    swagger = resources.files("fastapi_swagger") / "resources"

    @app.get(f"{DOCS_ASSETS}/{{name}}", include_in_schema=False)
    async def swagger_asset(name: str) -> Response:
        if name not in SWAGGER_ASSETS:  # the package's other files are not for the web
            return Response(status_code=404)
        return FileResponse(str(swagger / name), media_type=SWAGGER_ASSETS[name])

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            # No badge from the public validator: nothing leaves this host.
            swagger_ui_parameters={"validatorUrl": None},
        )
