"""The JSON error shape of the API, and strict JSON responses.

Every error of an API route (``/api/...`` and ``/healthz``) has the body
``{"error": "a sentence", "details": [{"loc": "optimizer.beta1", "msg": "..."}]}``
(``details`` may be empty).  Page routes keep Flask's HTML errors.  Raise
``ApiError`` from a view, or let ``ConfigError`` (400), ``RunConflict`` (409),
``UnknownRun`` (404) and ``CapacityExceeded`` (429 with ``Retry-After``)
propagate: the handlers here turn them into responses.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, UnsupportedMediaType

from server.engine.config import ConfigError
from server.runs.events import to_json
from server.runs.manager import CapacityExceeded, UnknownRun
from server.runs.run import RunConflict

JSON_PREFIXES = ("/api/", "/healthz")


class ApiError(Exception):
    """An error response: ``status``, a message, ``details`` and extra headers."""

    def __init__(self, status: int, message: str, details: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``value`` as strict JSON (NaN and Infinity become null), never cached."""
    response = Response(to_json(value), status=status, mimetype="application/json", headers=headers)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def error_response(status: int, message: str, details: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message, "details": details or []}, status, headers)


def json_body() -> Any:
    """The request's JSON body; 415 unless it is declared JSON, 400 unless it parses."""
    if not request.is_json:
        raise ApiError(415, "the body must be JSON, sent with Content-Type: application/json")
    try:
        return request.get_json()
    except UnsupportedMediaType:
        raise ApiError(415, "the body must be JSON, sent with Content-Type: application/json") from None
    except BadRequest:
        raise ApiError(400, "the body is not valid JSON") from None


def json_object_body(fields: tuple[str, ...], message: str) -> tuple[dict, list[dict[str, str]]]:
    """The JSON body, which must be an object, and a detail for each key not in ``fields``.

    Raises the 400 at once when the body is not an object; the caller adds its
    own details and raises ``ApiError(400, message, details)`` if any.
    """
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, message, [{"loc": "", "msg": "the body must be a JSON object"}])
    return body, [{"loc": key, "msg": "unexpected field"} for key in body if key not in fields]


def wants_json_errors() -> bool:
    return request.path.startswith(JSON_PREFIXES)


# Messages for the HTTP errors Flask raises by itself.
_MESSAGES = {
    400: "bad request",
    404: "no such resource",
    405: "method not allowed",
    413: "the request body is too large",
    415: "unsupported media type",
    429: "too many requests",
    500: "internal server error",
}


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.message, error.details, error.headers)

    @app.errorhandler(ConfigError)
    def _config_error(error: ConfigError):
        return error_response(400, "invalid configuration", error.details)

    @app.errorhandler(UnknownRun)
    def _unknown_run(error: UnknownRun):
        return error_response(404, "no run with this id (it never existed or has expired)")

    @app.errorhandler(RunConflict)
    def _conflict(error: RunConflict):
        return error_response(409, str(error))

    @app.errorhandler(CapacityExceeded)
    def _capacity(error: CapacityExceeded):
        return error_response(429, str(error), headers={"Retry-After": str(error.retry_after)})

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if not wants_json_errors():
            return error
        status = error.code or 500
        message = _MESSAGES.get(status, error.name.lower())
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the request body is larger than the limit of {limit} bytes"
        elif status == 405:
            message = f"method {request.method} is not allowed here"
        headers = {key: value for key, value in error.get_headers() if key.lower() != "content-type"}
        return error_response(status, message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if not wants_json_errors():
            return InternalServerError()
        return error_response(500, "internal server error")
