"""Blueprint: lessons (being built)."""

from flask import Blueprint, Flask

bp = Blueprint("lessons", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
