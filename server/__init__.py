"""Tuning Playground: a NumPy training engine served live to the browser.

``server.engine`` is the library (no Flask); ``server.web`` the Flask adapters;
``server.runs`` the run manager.  ``create_app`` is the WSGI app factory, so
``gunicorn 'server:create_app()'`` serves the playground.
"""

from __future__ import annotations


def create_app(test_config: dict | None = None):
    from server.web import create_app as _create_app

    return _create_app(test_config)


__all__ = ["create_app"]
