"""The gettext catalogs of the page: extract the English strings, update each language, compile.

    python scripts/translations.py update    # after adding or changing English strings
    python scripts/translations.py compile   # after translating (writes the .mo files)
    python scripts/translations.py check     # what tests/web/test_i18n.py asserts

Two domains (``server/web/i18n.py``): ``messages`` from the templates' ``_()``,
the Python code's ``_()``/``gettext()`` and the texts kept as data (lesson
presets, lab titles and surfaces, the config schema's descriptions); ``client`` from the ES
modules' ``t("...")`` and ``N_("...")`` and the ``Message("...")`` templates of
the engine and the web layer (an upload's problems).  ``update`` rewrites
``server/translations/<lang>/LC_MESSAGES/<domain>.po`` with the current strings
(new ones untranslated, vanished ones dropped); translate the empty ``msgstr`` entries, then ``compile``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.web.i18n import CLIENT_DOMAIN, DEFAULT_LANGUAGE, LANGUAGES, TRANSLATIONS  # noqa: E402

DOMAINS = ("messages", CLIENT_DOMAIN)
JINJA = "jinja2.ext:babel_extract"
SOURCES = {
    "messages": [("templates", [("**.html", JINJA)], {"gettext", "_", "ngettext"}),
                 ("server/web", [("**.py", "python")], {"gettext", "_", "lazy_gettext"})],
    CLIENT_DOMAIN: [("static", [("**.js", "javascript")], {"t", "N_"}),
                    ("server/engine", [("**.py", "python")], {"Message"}),
                    ("server/web", [("**.py", "python")], {"Message"})],
}


def _extracted(domain: str) -> Iterator[tuple[str, str]]:
    """(msgid, location) of every marked string of ``domain``."""
    for folder, method_map, keywords in SOURCES[domain]:
        options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
        for filename, lineno, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map, options_map=options, keywords=dict.fromkeys(keywords)):
            if isinstance(message, str) and message:
                yield message, f"{folder}/{filename}:{lineno}"


def _data_messages() -> Iterator[tuple[str, str]]:
    """Texts kept as data rather than in ``_()`` calls: lessons, lab titles, field help."""
    from server.engine.config import config_schema
    from server.lessons.labs import SURFACES
    from server.lessons.presets import PRESETS, TOPICS
    from server.web.lessons import LAB_PAGES

    for title in TOPICS.values():
        yield title, "server/lessons/presets.py:TOPICS"
    for preset in PRESETS.values():
        where = f"server/lessons/presets.py:{preset.id}"
        for text in (preset.title, preset.explanation, preset.look_at, preset.try_next,
                     preset.counterfactual.label, preset.counterfactual.difference):
            yield text, where
    for _template, title in LAB_PAGES.values():
        yield title, "server/web/lessons.py:LAB_PAGES"
    for surface in SURFACES.values():
        yield surface.title, "server/lessons/labs.py:SURFACES"
        yield surface.lesson, "server/lessons/labs.py:SURFACES"
    yield from ((text, "server/engine/config.py:schema") for text in _descriptions(config_schema()))


def _descriptions(schema) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "description" and isinstance(value, str):
                yield value
            else:
                yield from _descriptions(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _descriptions(item)


def template_catalog(domain: str) -> Catalog:
    """Every English string of ``domain`` as it is in the code now."""
    catalog = Catalog(locale=DEFAULT_LANGUAGE, project="tuning-playground", domain=domain)
    found = list(_extracted(domain)) + (list(_data_messages()) if domain == "messages" else [])
    for message, location in found:
        # Files only, no line numbers: a moved line does not churn the catalogs.
        path = location.rpartition(":")[0]
        previous = catalog.get(message)
        places = list(previous.locations) if previous else []
        if (path, None) not in places:
            places.append((path, None))
        catalog.add(message, locations=places)
    return catalog


def po_path(language: str, domain: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(language: str, domain: str) -> Catalog:
    path = po_path(language, domain)
    if not path.is_file():
        return Catalog(locale=language, domain=domain)
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


def untranslated(language: str, domain: str) -> list[str]:
    """English strings of ``domain`` with no (or only a fuzzy) translation into ``language``."""
    catalog = read_catalog(language, domain)
    missing = []
    for message in template_catalog(domain):
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None or not translated.string or translated.fuzzy:
            missing.append(message.id)
    return missing


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def update() -> None:
    for language in LANGUAGES:
        if language == DEFAULT_LANGUAGE:
            continue
        for domain in DOMAINS:
            catalog = read_catalog(language, domain)
            catalog.update(template_catalog(domain), no_fuzzy_matching=True)
            path = po_path(language, domain)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, ignore_obsolete=True, include_lineno=False)


def compile_all() -> None:
    for language in LANGUAGES:
        if language == DEFAULT_LANGUAGE:
            continue
        for domain in DOMAINS:
            po_path(language, domain).with_suffix(".mo").write_bytes(compiled(read_catalog(language, domain)))


def check() -> int:
    problems = 0
    for language in LANGUAGES:
        if language == DEFAULT_LANGUAGE:
            continue
        for domain in DOMAINS:
            for message in untranslated(language, domain):
                print(f"{language}/{domain}: untranslated: {message[:80]!r}")
                problems += 1
    return problems


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        sys.exit(1 if check() else 0)
    else:
        sys.exit(f"unknown command {command!r}: update, compile or check")
