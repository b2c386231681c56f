"""What ``/healthz`` checks besides capacity: the pages can be served and the training hosts are alive.

A load balancer takes "ok" to mean that every page works; an install that
lost its templates or static assets, or a host process that died, must say
otherwise.  Each check is a few ``stat`` calls and a read of the (small)
templates, cheap enough for a probe every second.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

#: The templates the page routes render (``/``, ``/embed``, ``/search``, ``/labs``).
PAGE_TEMPLATES = ("playground.html", "search.html", "labs/index.html")
#: A template's reference to a static asset by literal name.
STATIC_REFERENCE = re.compile(r"""url_for\(\s*['"]static['"]\s*,\s*filename\s*=\s*['"]([^'"]+)['"]""")


def unavailable_reasons(app: Flask) -> list[str]:
    """Why the service cannot serve its pages or train its runs now; empty when it can."""
    reasons = missing_page_files(app)
    pool = app.extensions.get("trainer_pool")
    if pool is not None:
        reasons += pool.revive()
    return reasons


def missing_page_files(app: Flask) -> list[str]:
    templates = Path(app.root_path, app.template_folder or "templates")
    static = Path(app.root_path, app.static_folder or "static")
    if not templates.is_dir():
        return ["the page templates are missing"]
    reasons = []
    missing = [name for name in PAGE_TEMPLATES if not (templates / name).is_file()]
    if missing:
        reasons.append(f"page templates are missing: {', '.join(missing)}")
    if not static.is_dir():
        return [*reasons, "the static assets are missing"]
    referenced = {name for template in templates.rglob("*.html")
                  for name in STATIC_REFERENCE.findall(template.read_text(encoding="utf-8"))}
    missing = sorted(name for name in referenced if not (static / name).is_file())
    if missing:
        reasons.append(f"static assets are missing: {', '.join(missing)}")
    return reasons
