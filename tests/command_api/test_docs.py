"""/docs and /redoc render in headless Chromium with every non-loopback request refused,
as on a command centre's isolated network (FastAPI's defaults load them from a CDN)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from command_api.app import create_app
from sharpeye.bus.embedded import free_port
from sharpeye.settings import Settings
from tests.wall_ui.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The docs need no peer: without the lifespan the app answers /docs and /openapi.json
    # while Redis and the store stay unopened.
    settings = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": REPO / "camera_registry.yaml",
            "SHARPEYE_DATA_DIR": tmp_path_factory.mktemp("docs"),
        }
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def _offline_page(url: str) -> Iterator[tuple[Any, list[str]]]:
    """A page of `url` whose requests off 127.0.0.1 are aborted and listed."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/install-system.sh)")
    refused: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            refused.append(f"{route.request.resource_type} {route.request.url}")
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", only_loopback)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            yield page, refused
            assert not errors, f"errors in the page: {errors}"
        finally:
            browser.close()


@pytest.fixture
def offline_docs(api_url: str) -> Iterator[tuple[Any, list[str]]]:
    yield from _offline_page(f"{api_url}/docs")


@pytest.fixture
def offline_redoc(api_url: str) -> Iterator[tuple[Any, list[str]]]:
    yield from _offline_page(f"{api_url}/redoc")


def test_swagger_ui_lists_the_operations_offline(offline_docs: tuple[Any, list[str]]) -> None:
    page, refused = offline_docs
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    paths = page.eval_on_selector_all(
        ".opblock .opblock-summary-path", "els => els.map(e => e.getAttribute('data-path'))"
    )
    assert "/api/cameras" in paths and "/api/destinations" in paths
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Sharpeye command API")
    assert refused == []


def test_redoc_lists_the_operations_offline(offline_redoc: tuple[Any, list[str]]) -> None:
    page, refused = offline_redoc
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    sections = page.eval_on_selector_all(
        "[data-section-id^='operation/']", "els => els.map(e => e.getAttribute('data-section-id'))"
    )
    assert len(sections) > 20
    assert any(s.endswith("/list_destinations_api_destinations_get") for s in sections)
    assert page.locator("h2", has_text="List destinations").first.is_visible()
    # ReDoc's "API docs by Redocly" badge links a logo it hides when it cannot load; nothing
    # else may leave the host.
    assert [r for r in refused if not r.startswith("image ")] == []
