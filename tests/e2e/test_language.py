"""The page in Korean: the language switch, the lesson, the diagnosis advice and a field error."""

from __future__ import annotations

import re

from playwright.sync_api import expect

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_switching_to_korean_shows_the_lesson_advice_and_field_errors_in_korean(page, live_server):
    presets = page.request.get(f"{live_server.url}/api/presets?lang=ko").json()
    for preset in presets:
        preset["config"]["training"].update({"epochs": 200, "epochs_per_second": 1000})
    page.route(re.compile(r".*/api/presets(\?.*)?$"), lambda route: route.fulfill(json=presets))
    page.goto(f"{live_server.url}/?preset=underfitting&lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_test_id("language-switch").get_by_role("link", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    assert "preset=underfitting" in page.url and "lang=ko" in page.url
    expect(page.locator("#lesson-explanation")).to_have_text(HANGUL)
    expect(page.get_by_test_id("gradcheck")).to_have_text("Gradient 확인")

    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done", timeout=60_000)
    advice = page.get_by_test_id("diagnosis").locator("ul.advice li").first
    expect(advice).to_have_text(HANGUL)

    page.get_by_test_id("learning-rate").fill("20")
    page.get_by_test_id("reset").click()
    page.get_by_test_id("start").click()
    expect(page.locator('[data-error-for="learningRate"]')).to_have_text(HANGUL)


def test_the_embedded_page_switches_language_and_keeps_its_query_and_fragment(page, live_server):
    page.goto(f"{live_server.url}/embed?preset=overfitting&hide=gradcheck#speed=100")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("language-switch").get_by_role("link", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    assert "preset=overfitting" in page.url and "hide=gradcheck" in page.url and "speed=100" in page.url
    expect(page.get_by_test_id("lesson")).to_contain_text("Overfitting: high variance")
    expect(page.locator("#lesson-explanation")).to_have_text(HANGUL)
    expect(page.locator('[data-panel="gradcheck"]')).to_be_hidden()
