"""`/docs` (Swagger UI) and `/redoc` served with their assets from this host.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, which a command centre's
isolated network cannot reach: the pages came up blank. The assets come from the
`fastapi-offline` package (pinned in pyproject.toml), mounted under `/docs-assets`.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/docs-assets"


def mount_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from local assets, for an app made with docs_url=None and
    redoc_url=None (call before any catch-all mount at "/")."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_PATH}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=favicon,
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            # Google Fonts is one more CDN: ReDoc falls back to the system's fonts.
            with_google_fonts=False,
        )
