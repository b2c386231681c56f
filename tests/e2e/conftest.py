"""Browser-test fixtures: the real app on a loopback port, driven by Chromium.

Debian's Chromium is used where installed (``/usr/lib/chromium/chromium``;
``/usr/bin/chromium`` is a wrapper script), else Playwright's own browser, or
``PLAYWRIGHT_CHROMIUM`` when set.  Screenshots go to ``artifacts/``.

Every test in this directory, and any test elsewhere that asks for the
``browser`` fixture, is marked ``e2e`` here at collection (pytest ignores a
``pytestmark`` set in a conftest), so ``-m "not e2e"`` starts no browser.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from server import create_app

E2E_DIRECTORY = Path(__file__).resolve().parent
DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def drives_a_browser(item: pytest.Item) -> bool:
    in_this_directory = E2E_DIRECTORY in Path(str(item.path)).resolve().parents
    return in_this_directory or "browser" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if drives_a_browser(item):
            item.add_marker(pytest.mark.e2e)


def _chromium_path() -> str | None:
    explicit = os.environ.get("PLAYWRIGHT_CHROMIUM")
    if explicit:
        return explicit
    return DEBIAN_CHROMIUM if os.path.exists(DEBIAN_CHROMIUM) else None


class LiveServer:
    def __init__(self, app, host: str = "127.0.0.1"):
        self.app = app
        self._server = make_server(host, 0, app, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_server():
    server = LiveServer(create_app({"TESTING": True})).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium_path(),
            args=["--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def patient_expect():
    """Playwright's expect() waits 15 s instead of 5 s: a shared 2-core machine can be slow."""
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect.set_options(timeout=15_000)
    yield
    sync_api.expect.set_options(timeout=5_000)


def preset_epochs(preset_id: str) -> int:
    """How many epochs a lesson preset trains: the counter's final value once it is done."""
    from server.lessons.presets import PRESETS

    return PRESETS[preset_id].full_config()["training"]["epochs"]
