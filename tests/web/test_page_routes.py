"""The page routes without a browser: templates, embedded settings, Plotly and thumbnails."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from server import create_app
from server.engine.config import RunConfig, config_schema
from server.web.pages import PAGE_DEFAULT_EPOCHS_PER_SECOND, PANELS

# CONTRACT section 5: every one of these hooks must exist on the page.
CONTRACT_TEST_IDS = (
    "start", "step", "reset", "epoch", "loss-chart", "accuracy-chart", "boundary-chart", "gradients-chart",
    "diagnosis", "gradcheck", "gradcheck-result", "dataset", "optimizer", "learning-rate", "l2",
    "batch-size", "add-layer", "remove-layer", "share-link", "status",
)


class _PageScan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.test_ids: list[str] = []
        self.panels: set[str] = set()
        self.inline_scripts: list[str] = []
        self.script_sources: list[str] = []
        self.handlers: list[str] = []
        self._script_type = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "data-testid" in attributes:
            self.test_ids.append(attributes["data-testid"])
        if "data-panel" in attributes:
            self.panels.add(attributes["data-panel"])
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self._script_type = attributes.get("type", "text/javascript")
            if "src" in attributes:
                self.script_sources.append(attributes["src"])

    def handle_data(self, data):
        if self._script_type in ("text/javascript", "module") and data.strip():
            self.inline_scripts.append(data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_type = None


@pytest.fixture(scope="module")
def client():
    return create_app({"TESTING": True}).test_client()


def scan(client, url: str) -> tuple[_PageScan, str]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = _PageScan()
    html = response.get_data(as_text=True)
    page.feed(html)
    return page, html


def settings_of(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="page-settings">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


@pytest.mark.parametrize("url", ["/", "/embed"])
def test_every_contract_hook_is_on_the_page_once(client, url):
    page, _ = scan(client, url)
    for test_id in CONTRACT_TEST_IDS:
        if url == "/embed" and test_id == "share-link":
            continue  # the embed page has no masthead; its share controls live on the full page
        assert page.test_ids.count(test_id) == 1, test_id
    assert set(PANELS) - {"presets", "share"} <= page.panels


@pytest.mark.parametrize("url", ["/", "/embed"])
def test_no_inline_script_and_no_inline_handlers(client, url):
    page, _ = scan(client, url)
    assert page.inline_scripts == []
    assert page.handlers == []
    assert all(source.startswith("/") for source in page.script_sources)  # nothing from another host


def test_the_page_carries_the_schema_and_the_defaults(client):
    _, html = scan(client, "/")
    settings = settings_of(html)
    assert settings["schema"] == json.loads(json.dumps(config_schema()))
    assert settings["defaults"] == RunConfig().model_dump(mode="json")
    assert settings["pageDefaults"] == {"training.epochs_per_second": PAGE_DEFAULT_EPOCHS_PER_SECOND}
    assert settings["embed"] is False and settings["hide"] == [] and settings["preset"] == ""


def test_embed_settings_keep_only_known_panels_and_safe_preset_ids(client):
    _, html = scan(client, "/embed?preset=overfitting&hide=data,%20loss,<script>,network&autoplay=1")
    settings = settings_of(html)
    assert settings["embed"] is True
    assert settings["hide"] == ["data", "loss", "network"]
    assert settings["preset"] == "overfitting"
    assert settings["autoplay"] is True
    _, html = scan(client, '/embed?preset="><img src=x>')
    assert settings_of(html)["preset"] == ""
    assert "<img src=x>" not in html
    _, html = scan(client, "/embed?preset=overfitting%0A")
    assert settings_of(html)["preset"] == ""


def test_embed_has_no_masthead(client):
    _, full = scan(client, "/")
    _, embed = scan(client, "/embed")
    assert 'class="masthead"' in full
    assert 'class="masthead"' not in embed


def test_plotly_is_served_from_the_installed_package(client):
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert b"plotly.js" in response.get_data()[:200]
    assert "max-age" in response.headers["Cache-Control"]
    response.close()


def test_thumbnails_are_drawn_from_the_engine(client):
    response = client.get("/thumbnails/moons.svg?noise=0.2&label_noise=0.1&seed=3")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg") and svg.count("<circle") > 100
    assert 'fill="#e8833a"' in svg and 'fill="#2f6db5"' in svg
    assert client.get("/thumbnails/moons.svg?noise=0.2&label_noise=0.1&seed=4").get_data(as_text=True) != svg


@pytest.mark.parametrize(
    ("url", "status"),
    [("/thumbnails/digits.svg", 404), ("/thumbnails/nope.svg", 404),
     ("/thumbnails/moons.svg?noise=abc", 400), ("/thumbnails/moons.svg?noise=nan", 400),
     ("/thumbnails/moons.svg?noise=5", 400), ("/thumbnails/moons.svg?seed=-1", 400)],
)
def test_bad_thumbnail_requests_are_4xx(client, url, status):
    response = client.get(url)
    assert response.status_code == status
