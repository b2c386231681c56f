"""Blueprint: labs (being built)."""

from flask import Blueprint, Flask

bp = Blueprint("labs", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
