"""The JSON error shape of the API, and strict JSON responses.

Every error of an API route (``/api/...`` and ``/healthz``) has the body
``{"error": "a sentence", "details": [{"loc": "optimizer.beta1", "msg": "..."}]}``
(``details`` may be empty).  Page routes keep Flask's HTML errors.  Raise
``ApiError`` from a view, or let ``ConfigError`` (400), ``RunConflict`` (409),
``UnknownRun`` (404), ``CapacityExceeded`` (429 with ``Retry-After``),
``RunsUnavailable`` (503 with ``Retry-After``) and ``BodyTimeout`` (408: the
body came too slowly) propagate: the handlers here turn them into responses.
Bodies other than a config are ``RequestBody`` models, read with ``parse_body``.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from flask import Flask, Response, current_app, request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from server.engine.config import ConfigError, validation_details
from server.runs.events import to_json
from server.runs.manager import CapacityExceeded, RunsUnavailable, UnknownRun
from server.runs.run import RunConflict
from server.web.deadlines import BodyTimeout

JSON_PREFIXES = ("/api/", "/healthz")
# The deepest body the API takes (a search space of layer lists) nests 6 levels.
MAX_JSON_DEPTH = 32


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
    """The request's JSON body.

    415 unless it is declared JSON; 413 when a streamed (chunked) body goes on
    past ``MAX_CONTENT_LENGTH`` (the server stops reading there, and the part
    read may parse); 400 unless it parses, with at most ``MAX_JSON_DEPTH``
    levels of nesting.
    """
    if not request.is_json:
        raise ApiError(415, "the body must be JSON, sent with Content-Type: application/json")
    _refuse_cut_bodies()
    try:
        value = request.get_json()
    except UnsupportedMediaType:
        raise ApiError(415, "the body must be JSON, sent with Content-Type: application/json") from None
    except BadRequest as error:
        timeout = body_timeout_behind(error)
        if timeout is not None:
            raise timeout from None
        raise ApiError(400, "the body is not valid JSON") from None
    except RecursionError:  # the decoder's own guard, far deeper than MAX_JSON_DEPTH
        raise _too_deep() from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise _too_deep()
    return value


def body_timeout_behind(error: BaseException) -> BodyTimeout | None:
    """The ``BodyTimeout`` that werkzeug turned into ``error`` (its ``ClientDisconnected``), if any."""
    while error is not None and not isinstance(error, BodyTimeout):
        error = error.__cause__ or error.__context__
    return error


def _refuse_cut_bodies() -> None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None or request.content_length is not None:
        return  # a declared length over the limit is refused before the body is read
    if len(request.get_data()) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels in ``value`` (no recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def _too_deep() -> ApiError:
    return ApiError(400, "the body is nested too deeply",
                    [{"loc": "", "msg": f"lists and objects may nest at most {MAX_JSON_DEPTH} levels"}])


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
    408: "the request took too long to arrive",
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

    @app.errorhandler(BodyTimeout)
    def _body_timeout(error: BodyTimeout):
        # The server closes the connection after this answer (server.web.deadlines).
        return error_response(408, str(error), [{"loc": "body", "msg": (
            f"send the whole body within {error.seconds:g} s of the request's headers")}])

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        timeout = body_timeout_behind(error)
        if timeout is not None:
            return _body_timeout(timeout)
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


# --- errors the HTTP server answers before the app sees the request -----------

_SERVER_ERRORS = {
    400: "the request could not be parsed",
    414: "the request line (method, path and query) is too long",
    431: "the request headers are too large",
}


def server_error_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP response, in this API's JSON error shape, for an error the server itself answers.

    gunicorn answers a request it cannot parse (a request line over
    ``limit_request_line``: 414; too many or too large headers: 431; a
    malformed line or header: 400) before any application code runs, so
    ``answer_server_errors_as_json`` routes those answers through here.
    """
    details = [{"loc": "", "msg": message[:200]}] if message else []
    body = to_json({"error": _SERVER_ERRORS.get(status, reason.lower()), "details": details}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    return head.encode("latin-1") + body


def answer_server_errors_as_json() -> None:
    """Make gunicorn write its own error answers as JSON (call it in the worker).

    gunicorn has no hook for them: every worker class sends them through
    ``gunicorn.util.write_error``, which this replaces.  The answer ends the
    connection (``Connection: close``).
    """
    from gunicorn import util

    def write_error(sock, status_int, reason, mesg):
        util.write_nonblock(sock, server_error_bytes(int(status_int), reason, mesg))
        # The rest of a request too long to read is still unread: closing now
        # would reset the connection and lose the answer before the client reads it.
        util.close_graceful(sock, timeout=1.0)

    util.write_error = write_error
