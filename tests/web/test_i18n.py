"""Languages: the catalogs are complete, pages and presets follow ?lang, the cookie and Accept-Language."""

from __future__ import annotations

import importlib.util
import io
import json
import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo

from server.engine.diagnosis import Setup, diagnose
from server.engine.messages import Message
from server.lessons.presets import PRESETS, preset_json

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("/", "/embed", "/labs", "/labs/optimizers", "/labs/normalization", "/labs/averages", "/search")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _tool():
    spec = importlib.util.spec_from_file_location("translations", ROOT / "scripts" / "translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


translations = _tool()


@pytest.mark.parametrize("domain", translations.DOMAINS)
def test_every_english_string_has_a_korean_translation(domain):
    assert translations.template_catalog(domain).get("Language" if domain == "messages" else
                                                     "{rest} or {last}") is not None
    missing = translations.untranslated("ko", domain)
    assert not missing, f"translate in {translations.po_path('ko', domain)} (then compile): {missing[:5]}"


@pytest.mark.parametrize("domain", translations.DOMAINS)
def test_the_compiled_catalogs_match_their_sources(domain):
    source = translations.read_catalog("ko", domain)
    compiled = read_mo(io.BytesIO(translations.po_path("ko", domain).with_suffix(".mo").read_bytes()))
    expected = {message.id: message.string for message in source if message.id and message.string}
    found = {message.id: message.string for message in compiled if message.id}
    assert found == expected, "run: python scripts/translations.py compile"


@pytest.mark.parametrize("domain", translations.DOMAINS)
def test_translations_keep_the_fields_of_their_english(domain):
    for message in translations.read_catalog("ko", domain):
        if message.id and message.string:
            assert _fields(message.string) == _fields(message.id), message.id


def test_korean_never_uses_the_ambiguous_word_for_normalization_and_regularization():
    for domain in translations.DOMAINS:
        for message in translations.read_catalog("ko", domain):
            assert "정규화" not in (message.string or ""), message.id


def _fields(text: str) -> list[str]:
    """The ``{name}`` fields (client), ``%(name)s`` fields and ``%%`` (Jinja's trans blocks) of ``text``."""
    return sorted(set(re.findall(r"\{\w+\}|%\(\w+\)s", text))) + sorted(re.findall(r"%%", text))


@pytest.mark.parametrize("path", PAGES)
def test_lang_ko_pages_are_korean(client, path):
    response = client.get(f"{path}?lang=ko")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="ko">' in page
    # Korean beyond the switch's own "한국어" and the inlined catalog.
    shown = re.sub(r'<script[^>]*>.*?</script>|<nav class="language-switch".*?</nav>', "", page, flags=re.S)
    assert HANGUL.search(shown)
    assert 'data-testid="language-switch"' in page


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_english_by_default(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_the_browser_language_is_the_default(client):
    response = client.get("/", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    assert '<html lang="ko">' in response.get_data(as_text=True)
    response = client.get("/?lang=en", headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_a_chosen_language_is_remembered(client):
    response = client.get("/labs?lang=ko")
    assert response.status_code == 200
    assert "lang=ko" in response.headers["Set-Cookie"]
    assert '<html lang="ko">' in client.get("/search").get_data(as_text=True)


def test_the_language_switch_keeps_the_query(client):
    page = client.get("/embed?preset=overfitting&hide=presets").get_data(as_text=True)
    assert 'href="/embed?preset=overfitting&amp;hide=presets&amp;lang=ko"' in page


def test_presets_in_korean_keep_their_ids_and_configs(client):
    english = client.get("/api/presets")
    korean = client.get("/api/presets?lang=ko")
    assert english.status_code == 200 and korean.status_code == 200
    assert [p["id"] for p in korean.json] == [p["id"] for p in english.json] == list(PRESETS)
    for en, ko in zip(english.json, korean.json, strict=True):
        assert ko["config"] == en["config"] and ko["view"] == en["view"]
        assert ko["counterfactual"]["config"] == en["counterfactual"]["config"]
        for text in ("explanation", "look_at", "try_next"):
            assert HANGUL.search(ko[text]), (ko["id"], text)
        assert HANGUL.search(ko["counterfactual"]["label"]), ko["id"]
    assert english.json[0] == preset_json(PRESETS[english.json[0]["id"]])
    one = client.get("/api/presets/overfitting?lang=ko")
    assert one.status_code == 200 and HANGUL.search(one.json["explanation"])


def test_lab_surfaces_in_korean_keep_their_ids_and_numbers(client):
    english = client.get("/api/labs/surfaces")
    korean = client.get("/api/labs/surfaces?lang=ko")
    assert english.status_code == 200 and korean.status_code == 200
    for en, ko in zip(english.json["surfaces"], korean.json["surfaces"], strict=True):
        assert {**ko, "title": en["title"], "lesson": en["lesson"]} == en
        assert HANGUL.search(ko["lesson"]), ko["id"]


def test_the_page_field_help_is_korean_and_api_schema_stays_english(client):
    page = client.get("/?lang=ko").get_data(as_text=True)
    settings = json.loads(re.search(r'id="page-settings">(.*?)</script>', page, re.S).group(1))
    description = settings["schema"]["$defs"]["Layer"]["properties"]["keep_prob"]["description"]
    assert HANGUL.search(description)
    schema = client.get("/api/schema?lang=ko")
    assert schema.status_code == 200
    assert not HANGUL.search(json.dumps(schema.json, ensure_ascii=False))


def test_the_page_carries_the_client_catalog_in_its_language(client):
    page = client.get("/?lang=ko").get_data(as_text=True)
    catalog = json.loads(re.search(r'id="i18n-messages">(.*?)</script>', page, re.S).group(1))
    assert HANGUL.search(catalog["{rest} or {last}"])
    english = client.get("/?lang=en").get_data(as_text=True)
    assert json.loads(re.search(r'id="i18n-messages">(.*?)</script>', english, re.S).group(1)) == {}


def test_diagnosis_advice_comes_with_message_ids_that_render_to_the_english():
    setup = Setup(l2=0.5, keep_prob=0.9, early_stopping=False)
    result = diagnose(1.0, 0.7, 0.05, n_train=500, n_dev=500, setup=setup)
    assert result["verdict"] == "high_variance"
    assert len(result["advice_messages"]) == len(result["advice"])
    known = {message.id for message in translations.template_catalog("client")}
    for text, message in zip(result["advice"], result["advice_messages"], strict=True):
        assert _render(message) == text
        assert message["id"] in known
    assert "raise L2's λ above 0.5, lower keep_prob below 0.9 or stop early" in " ".join(result["advice"])


def _render(message) -> str:
    """What static/js/i18n.js's t() does, in English."""
    def value(item):
        if isinstance(item, list):
            items = [value(part) for part in item]
            return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
        return _render(item) if isinstance(item, dict) else str(item)
    return message["id"].format(**{name: value(item) for name, item in message["params"].items()})


def test_a_message_is_its_english_and_its_json():
    levers = [Message("stop early"), Message("add {x}", x="L2")]
    message = Message("Regularize more: {levers}.", levers=levers)
    assert str(message) == "Regularize more: stop early or add L2."
    assert message.json() == {"id": "Regularize more: {levers}.", "params": {"levers": [
        {"id": "stop early", "params": {}}, {"id": "add {x}", "params": {"x": "L2"}}]}}


@pytest.mark.slow
def test_the_wheel_carries_the_compiled_catalogs(tmp_path):
    import subprocess
    import sys
    import zipfile

    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)]
    subprocess.run(command, check=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for domain in translations.DOMAINS:
        assert f"server/translations/ko/LC_MESSAGES/{domain}.mo" in names
    assert "server/templates/_language.html" in names and "server/static/js/i18n.js" in names
