"""The JSON error shape of the API, and strict JSON responses.

Every error of an API route (``/api/...`` and ``/healthz``) has the body
``{"error": "a sentence", "details": [{"loc": "optimizer.beta1", "msg": "..."}]}``
(``details`` may be empty).  Page routes keep Flask's HTML errors.  Raise
``ApiError`` from a view, or let ``ConfigError`` (400), ``RunConflict`` (409),
``UnknownRun`` (404), ``CapacityExceeded`` (429 with ``Retry-After``) and
``RunsUnavailable`` (503 with ``Retry-After``)
propagate: the handlers here turn them into responses.  Bodies other than a
config are ``RequestBody`` models, read with ``parse_body``.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from flask import Flask, Response, request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, UnsupportedMediaType

from server.engine.config import ConfigError, validation_details
from server.runs.events import to_json
from server.runs.manager import CapacityExceeded, RunsUnavailable, UnknownRun
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


class RequestBody(BaseModel):
    """A JSON request body other than a config: unknown keys refused, numbers strictly numbers.

    ``messages`` replaces pydantic's text for any error of a field (``{input}``
    is the value sent, shortened); a missing field's message ends in
    ``(missing)``.  ``problems`` checks the rules between fields once every
    field is valid.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    messages: ClassVar[dict[str, str]] = {}

    def problems(self) -> list[dict[str, str]]:
        return []


Body = TypeVar("Body", bound=RequestBody)


def validate_body(model: type[Body], raw: Any) -> tuple[Body | None, list[dict[str, str]]]:
    """``raw`` as a ``model``, or None, and a detail for each bad field (empty when valid)."""
    if not isinstance(raw, dict):
        return None, [{"loc": "", "msg": "the body must be a JSON object"}]
    try:
        body = model.model_validate(raw)
    except ValidationError as error:
        items = error.errors(include_url=False, include_context=False)
        return None, [_detail(model, item, detail)
                      for item, detail in zip(items, validation_details(error), strict=True)]
    problems = body.problems()
    return (None, problems) if problems else (body, [])


def parse_body(model: type[Body], message: str) -> Body:
    """The request's JSON body as a ``model``; otherwise a 400 with ``message`` naming each bad field."""
    body, details = validate_body(model, json_body())
    if details:
        raise ApiError(400, message, details)
    return body


def _detail(model: type[RequestBody], item: dict, detail: dict[str, str]) -> dict[str, str]:
    field = str(item["loc"][0]) if item["loc"] else ""
    if item["type"] == "extra_forbidden":
        return {**detail, "msg": "unexpected field"}
    template = model.messages.get(field)
    if template is None:
        return detail
    if item["type"] == "missing":
        return {**detail, "msg": template.format(input="nothing") + " (missing)"}
    shown = repr(item.get("input"))
    return {**detail, "msg": template.format(input=shown if len(shown) <= 40 else shown[:37] + "...")}


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

    @app.errorhandler(RunsUnavailable)
    def _unavailable(error: RunsUnavailable):
        return error_response(503, str(error), headers={"Retry-After": str(error.retry_after)})

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
