"""Flask adapters: the app factory and one blueprint per concern."""

from __future__ import annotations

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="../../templates", static_folder="../../static")
    if test_config:
        app.config.update(test_config)

    from server.web import api, lessons, pages, searches

    for module in (api, pages, lessons, searches):
        module.init_app(app)
    return app
