"""The gate every request passes before any route sees it (an ASGI middleware).

It refuses, as ``application/problem+json``:

- a path or query string holding a NUL byte or bytes that are not UTF-8 (a lone
  surrogate included): 400;
- a body larger than the route reads (``Content-Length`` checked first, then the stream
  counted while it is read, so a lying or missing length reads no further): 413;
- a write to a route that needs a token, sent with no ``Authorization`` header: 401,
  before a byte of its body is read;
- a JSON or form body holding NUL, lone surrogates, text that is not UTF-8, nesting deeper
  than ``max_depth``, a number longer than :data:`MAX_NUMBER_DIGITS` digits, ``NaN``,
  ``Infinity`` or a number too large for a float: 400.

The JSON checks scan the text, they do not build it: the route still parses the body
once, after its own access check.

>>> hostile_json(b'{"a": [1, 2]}', max_depth=8) is None
True
>>> hostile_json(b"[" * 100, max_depth=8)
'JSON nested deeper than 8 levels'
>>> hostile_json(b'{"name": "x\\\\u0000"}', max_depth=8)
'NUL character in a JSON string'
>>> hostile_json(b'["\\\\ud800"]', max_depth=8)
'lone surrogate \\\\ud800 in a JSON string'
>>> hostile_json(b'{"n": 1e999}', max_depth=8)
'a number JSON cannot hold (NaN, Infinity or too large)'
>>> hostile_text(b"name=ann%00")
'NUL byte'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lineside.errors import LinesideError
from server.api.deps import get_principal
from server.api.problems import problem_for
from server.errors import BodyTooLarge, MalformedRequest, NotSignedIn

__all__ = ["MAX_NUMBER_DIGITS", "RequestGuard", "hostile_json", "hostile_text"]

#: The longest run of digits a JSON number may have (no GS1 quantity comes close).
MAX_NUMBER_DIGITS = 100

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_LONG_NUMBER = re.compile(rb"\d{%d,}" % (MAX_NUMBER_DIGITS + 1))
_UNICODE_ESCAPE = re.compile(rb"(\\+)u([0-9a-fA-F]{4})")
# Python's parser takes these; JSON has no such values and PostgreSQL refuses them.
_NOT_A_NUMBER = re.compile(rb"\b(?:NaN|Infinity)\b")
_EXPONENT = re.compile(rb"-?\d+(?:\.\d+)?[eE]\+?\d+")


def _utf8_problem(data: bytes) -> str | None:
    if b"\x00" in data:
        return "NUL byte"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes that are not UTF-8 (or a lone surrogate)"
    return None


def hostile_text(data: bytes) -> str | None:
    """What is wrong with a URL-encoded string (a query or a form body), or None."""
    for part in re.split(rb"[&=]", data):
        problem = _utf8_problem(unquote_to_bytes(part.replace(b"+", b" ")))
        if problem is not None:
            return problem
    return None


def _lone(hex_digits: bytes) -> str:
    return f"lone surrogate \\u{hex_digits.decode()} in a JSON string"


def _escape_problem(body: bytes) -> str | None:
    """NUL characters and lone surrogates written as ``\\uXXXX`` escapes."""
    pending_high: int | None = None  # end of a high surrogate's escape, awaiting its pair
    for match in _UNICODE_ESCAPE.finditer(body):
        if len(match.group(1)) % 2 == 0:  # an escaped backslash followed by "u"
            continue
        code = int(match.group(2), 16)
        if pending_high is not None:
            start = match.start() + len(match.group(1)) - 1
            if start == pending_high and 0xDC00 <= code <= 0xDFFF:
                pending_high = None
                continue
            return _lone(body[pending_high - 4 : pending_high])
        if code == 0:
            return "NUL character in a JSON string"
        if 0xD800 <= code <= 0xDBFF:
            pending_high = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            return _lone(match.group(2))
    if pending_high is not None:
        return _lone(body[pending_high - 4 : pending_high])
    return None


def hostile_json(body: bytes, *, max_depth: int) -> str | None:
    """What makes a JSON body unfit for any route, or None; valid JSON is not checked
    here (the route's parser says what is wrong with it)."""
    problem = _utf8_problem(body)
    if problem is not None:
        return f"{problem} in the JSON body"
    if b"\\" in body:
        problem = _escape_problem(body)
        if problem is not None:
            return problem
    skeleton = _STRING.sub(b'""', body)
    if _LONG_NUMBER.search(skeleton):
        return f"a JSON number longer than {MAX_NUMBER_DIGITS} digits"
    if _NOT_A_NUMBER.search(skeleton) or any(
        math.isinf(float(number)) for number in _EXPONENT.findall(skeleton)
    ):
        return "a number JSON cannot hold (NaN, Infinity or too large)"
    steps = (1 if bracket in b"[{" else -1 for bracket in _BRACKETS.findall(skeleton))
    if max(accumulate(steps, initial=0)) > max_depth:
        return f"JSON nested deeper than {max_depth} levels"
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.endswith(("/json", "+json"))


def _is_form(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


def _needs_principal(dependant: Any) -> bool:
    return any(
        dependency.call is get_principal or _needs_principal(dependency)
        for dependency in dependant.dependencies
    )


class RequestGuard:
    """ASGI middleware refusing hostile requests before they reach a route.

    ``max_body`` bytes are read at most; paths starting with a prefix of ``larger_bodies``
    read up to the size it gives (the EPCIS capture).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_depth: int,
        larger_bodies: dict[str, int] | None = None,
        too_large: Callable[[str, int], LinesideError] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_depth = max_depth
        self.larger_bodies = dict(larger_bodies or {})
        self.too_large = too_large or _too_large
        self._needs_token: dict[APIRoute, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            receive = await self._check(scope, receive)
        except LinesideError as exc:
            await problem_for(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, receive: Receive) -> Receive:
        """Raise for a hostile request; otherwise the ``receive`` the app should use."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
        problem = _utf8_problem(unquote_to_bytes(raw_path))
        if problem is not None:
            raise MalformedRequest(f"the path holds a {problem}")
        problem = hostile_text(scope.get("query_string", b""))
        if problem is not None:
            raise MalformedRequest(f"the query string holds a {problem}")
        if scope["method"] not in _BODY_METHODS:
            return receive
        headers = {key.lower(): value for key, value in scope["headers"]}
        if b"authorization" not in headers and self._needs_token_for(scope):
            raise NotSignedIn("a bearer token is required")
        limit = self._limit(scope["path"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            raise self.too_large(scope["path"], limit)
        body = await self._read(scope, receive, limit)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if _is_json(content_type):
            problem = hostile_json(body, max_depth=self.max_depth)
        elif _is_form(content_type):
            problem = hostile_text(body)
        if problem is not None:
            raise MalformedRequest(f"the request body holds {problem}")
        return _replay(body, receive)

    def _limit(self, path: str) -> int:
        for prefix, limit in self.larger_bodies.items():
            if path.startswith(prefix):
                return limit
        return self.max_body

    async def _read(self, scope: Scope, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self.too_large(scope["path"], limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _needs_token_for(self, scope: Scope) -> bool:
        """Whether the route this request goes to checks a token (a write with none is
        refused before its body is read)."""
        app = scope.get("app")
        for route in getattr(app, "routes", ()):
            if not isinstance(route, APIRoute):
                continue
            match, _ = route.matches(scope)
            if match is Match.FULL:
                if route not in self._needs_token:
                    self._needs_token[route] = _needs_principal(route.dependant)
                return self._needs_token[route]
        return False


def _too_large(path: str, limit: int) -> LinesideError:
    return BodyTooLarge(f"the request body is larger than {limit} bytes, the most {path} reads")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over ``body`` once, then waits on the client as before."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
