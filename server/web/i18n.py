"""The page's languages: English (the source) and Korean, through gettext catalogs (Flask-Babel).

Two gettext domains live in ``server/translations/<lang>/LC_MESSAGES``:

- ``messages``: what the server renders: the templates' ``_()`` strings, the
  lesson texts (``/api/presets?lang=ko``), lab titles and surfaces, and the config schema's
  field descriptions (the page's field help).
- ``client``: what the ES modules show, read through ``static/js/i18n.js``'s
  ``t(id, params)``; the page gets that catalog inlined as JSON
  (``client_messages``), and the engine's diagnosis advice ids
  (``server.engine.messages``) are in it too.

The language of a request is ``?lang=``, else the ``lang`` cookie the language
switch leaves, else the browser's ``Accept-Language``, else English.  The API's
own ``error``/``msg`` texts stay English for API clients; the page translates
what it shows.  ``scripts/translations.py`` extracts, updates and compiles the
catalogs (docs/page.md: adding a language or a string).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.support import Translations
from flask import Flask, request
from flask_babel import Babel, get_locale, gettext

LANGUAGES = {"en": "English", "ko": "한국어"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
CLIENT_DOMAIN = "client"
# The preset fields that are text for people (``counterfactual`` holds two more).
PRESET_TEXTS = ("title", "lesson_title", "explanation", "look_at", "try_next")
COUNTERFACTUAL_TEXTS = ("label", "difference")


def select_language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in LANGUAGES:
        return remembered
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LANGUAGE)


def current_language() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)


@functools.cache
def client_catalog(language: str) -> dict[str, str]:
    """The ``client`` domain's translations for ``language`` (empty for English, the source)."""
    if language == DEFAULT_LANGUAGE:
        return {}
    translations = Translations.load(str(TRANSLATIONS), [language], domain=CLIENT_DOMAIN)
    return {key: value for key, value in getattr(translations, "_catalog", {}).items()
            if isinstance(key, str) and key and value}


def localized_preset(preset: dict[str, Any]) -> dict[str, Any]:
    """``preset_json``'s shape with its texts in the request's language; ids and configs unchanged."""
    localized = copy.deepcopy(preset)
    for name in PRESET_TEXTS:
        localized[name] = gettext(preset[name])
    for name in COUNTERFACTUAL_TEXTS:
        localized["counterfactual"][name] = gettext(preset["counterfactual"][name])
    return localized


def localized_surface(summary: dict[str, Any]) -> dict[str, Any]:
    """A lab surface's ``summary()`` with its title and lesson in the request's language."""
    return {**summary, "title": gettext(summary["title"]), "lesson": gettext(summary["lesson"])}


def localized_schema(schema: Any) -> Any:
    """The JSON Schema with its ``description`` texts (the page's field help) translated."""
    if isinstance(schema, dict):
        return {key: gettext(value) if key == "description" and isinstance(value, str)
                else localized_schema(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [localized_schema(item) for item in schema]
    return schema


def language_links() -> list[dict[str, str]]:
    """The language switch: this page's URL (query kept) in each language.

    The fragment never reaches the server; ``static/js/language_switch.js``
    adds it when the link is followed.
    """
    query = request.args.to_dict(flat=False)
    links = []
    for code, name in LANGUAGES.items():
        query["lang"] = [code]
        links.append({"code": code, "name": name, "href": f"{request.path}?{urlencode(query, doseq=True)}"})
    return links


def _template_context() -> dict[str, Any]:
    language = current_language()
    return {"page_language": language, "language_links": language_links,
            "client_messages": lambda: client_catalog(language)}


def _remember_language(response):
    asked = request.args.get("lang")
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if asked in LANGUAGES and remembered != asked and response.mimetype == "text/html":
        response.set_cookie(LANGUAGE_COOKIE, asked, max_age=LANGUAGE_COOKIE_SECONDS, samesite="Lax")
    if response.mimetype == "text/html" or request.path.startswith("/api/presets"):
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_language)
    app.context_processor(_template_context)
    app.after_request(_remember_language)
