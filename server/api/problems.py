"""One handler turns every refused request into an RFC 9457 ``application/problem+json``
response: the exception tree (:mod:`lineside.errors`, :mod:`server.errors`), FastAPI's
request validation and Starlette's own HTTP errors (unknown path, wrong method).

======================================  ======  =========================================
Exception                               Status  ``type``
======================================  ======  =========================================
``EPCISException`` subclasses           400,    ``epcisException:<name>``
                                        403,
                                        404,
                                        413
``NotFound``                            404     ``about:blank``
``Conflict``                            409     ``about:blank``
``NotSignedIn``                         401     ``about:blank`` (+ ``WWW-Authenticate``)
``NotAllowed``                          403     ``about:blank``
``TooManyRequests``                     429     ``about:blank`` (+ ``Retry-After``)
``MalformedRequest``                    400     ``about:blank``
``BodyTooLarge``                        413     ``about:blank``
``InvalidInput`` (GS1, contract...)     422     ``about:blank``
``DeviceError`` (broker unreachable)    503     ``about:blank``
any other ``LinesideError``             500     ``about:blank`` (detail withheld, logged)
request validation                      422     ``about:blank`` (+ ``errors``)
======================================  ======  =========================================

>>> body = problem_body(404, "lines: no 'L9'")
>>> body["title"], body["status"], body["type"]
('Not Found', 404, 'about:blank')
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lineside.errors import DeviceError, InvalidInput, LinesideError
from server.errors import (
    BodyTooLarge,
    CaptureLimitExceededException,
    Conflict,
    EPCISException,
    MalformedRequest,
    NoSuchResourceException,
    NotAcceptableException,
    NotAllowed,
    NotFound,
    NotSignedIn,
    QueryTooLargeException,
    ResourceAlreadyExistsException,
    SecurityException,
    TooManyRequests,
    UnsupportedMediaTypeException,
)

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first class an exception is an instance of decides.
_STATUS: tuple[tuple[type[LinesideError], int], ...] = (
    (CaptureLimitExceededException, 413),
    (QueryTooLargeException, 413),
    (NoSuchResourceException, 404),
    (ResourceAlreadyExistsException, 409),
    (NotAcceptableException, 406),
    (UnsupportedMediaTypeException, 415),
    (SecurityException, 403),
    (EPCISException, 400),
    (NotFound, 404),
    (Conflict, 409),
    (NotSignedIn, 401),
    (NotAllowed, 403),
    (TooManyRequests, 429),
    (MalformedRequest, 400),
    (BodyTooLarge, 413),
    (InvalidInput, 422),
    (DeviceError, 503),
)


def status_of(exc: LinesideError) -> int:
    """The HTTP status that stands for ``exc``; 500 for an error no request can cause.

    >>> status_of(NotFound("x")), status_of(InvalidInput("x")), status_of(LinesideError("x"))
    (404, 422, 500)
    """
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status code outside the registry
        return "Error"


#: The longest text of the request a problem document repeats.
ECHO_LIMIT = 200
#: The most validation errors or EPCIS issues one problem document lists.
ITEMS_LIMIT = 50


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut.

    >>> clip("x" * 5, 3)
    'xx…'
    """
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    # A lone surrogate that got this far must not break the answer's UTF-8.
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def _echo(value: Any) -> Any:
    """What a 422 may repeat of a value the client sent: short scalars as they are, long
    text cut, containers only by their kind and size."""
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, bool | int | float) or value is None:
        text = str(value)
        finite = not isinstance(value, float) or math.isfinite(value)
        return value if finite and len(text) <= ECHO_LIMIT else clip(text)
    if isinstance(value, dict):
        return f"<object with {len(value)} members>"
    if isinstance(value, list | tuple):
        return f"<array of {len(value)} items>"
    return clip(str(value))


def problem_body(status: int, detail: str, **extensions: Any) -> dict[str, Any]:
    """A problem document with ``type`` ``about:blank`` and the status phrase as title.

    ``detail`` is cut to a few hundred characters: it may quote the request.
    """
    return {
        "type": "about:blank",
        "title": _phrase(status),
        "status": status,
        "detail": clip(detail, 4 * ECHO_LIMIT),
        **extensions,
    }


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """``body`` as an ``application/problem+json`` response."""
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _lineside_problem(exc: LinesideError) -> JSONResponse:
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, EPCISException):
        body: dict[str, Any] = {
            "type": f"epcisException:{exc.name}",
            "title": exc.title,
            "status": status,
            "detail": clip(str(exc), 4 * ECHO_LIMIT),
        }
        if exc.issues:
            body["issues"] = [clip(issue, 4 * ECHO_LIMIT) for issue in exc.issues[:ITEMS_LIMIT]]
        return problem_response(status, body)
    if status == 500:
        # Not caused by the request (a configuration or programming error): say nothing
        # of the inside to the caller; the log has it all.
        logger.error("request failed: %s", exc, exc_info=exc)
        return problem_response(status, problem_body(status, "the server could not do this"))
    if isinstance(exc, NotSignedIn):
        headers["WWW-Authenticate"] = (
            'Bearer error="invalid_token"' if exc.invalid_token else "Bearer"
        )
    elif isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    return problem_response(status, problem_body(status, str(exc)), headers)


def _validation_error(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error without the bulk of the request: the value is cut (a 20 MB
    field must not come back as a 20 MB answer), and so are member names in its place."""
    kept: dict[str, Any] = {
        "type": error.get("type", ""),
        "loc": [part if isinstance(part, int) else clip(str(part)) for part in error["loc"]],
        "msg": clip(str(error.get("msg", "")), 4 * ECHO_LIMIT),
    }
    if "input" in error:
        kept["input"] = _echo(error["input"])
    return kept


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = jsonable_encoder(
        [_validation_error({"loc": (), **error}) for error in exc.errors()[:ITEMS_LIMIT]]
    )
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    detail = f"{where}: {first.get('msg', 'invalid')}" if where else "the request is invalid"
    return problem_response(422, problem_body(422, detail, errors=errors))


def _http_problem(exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, problem_body(exc.status_code, detail), headers)


def problem_for(exc: Exception) -> JSONResponse:
    """The problem response that stands for ``exc``; anything unforeseen is a 500 whose
    detail says nothing of the inside (the log has it all)."""
    if isinstance(exc, LinesideError):
        return _lineside_problem(exc)
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_problem(exc)
    logger.error("request failed: %s", type(exc).__name__, exc_info=exc)
    return problem_response(500, problem_body(500, "the server could not do this"))


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    """The application's one exception handler: any refusal as a problem response."""
    return problem_for(exc)


#: The JSON Schema of a problem document, for the OpenAPI description.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "about:blank or epcisException:<name>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "issues": {"type": "array", "items": {"type": "string"}},
    },
}


def _describe_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with FastAPI's validation error bodies, and error responses described by
    no body, replaced by problem documents."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    validation_error = {"$ref": "#/components/schemas/HTTPValidationError"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if status[:1] in {"4", "5"} and (
                    not content
                    or content.get("application/json", {}).get("schema") == validation_error
                ):
                    response["content"] = dict(problem)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema


def install_problem_handler(app: FastAPI) -> None:
    """Register :func:`problem_handler` for the exception tree, validation and HTTP errors
    and anything unforeseen (a 500 is a problem too), and describe the error responses of
    the OpenAPI document as problems."""
    for kind in (LinesideError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, problem_handler)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _describe_problems(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
