"""The gate every request passes before any route sees it (an ASGI middleware).

It refuses, as ``application/problem+json``:

- a path or query string holding a NUL byte, bytes that are not UTF-8 (a lone
  surrogate included) or a number longer than :data:`MAX_NUMBER_DIGITS` digits: 400;
- a body larger than the route reads (``Content-Length`` checked first, then the stream
  counted while it is read, so a lying or missing length reads no further): 413;
- a write to a route that needs a token, sent with no ``Authorization`` header: 401,
  before a byte of its body is read;
- a form holding the same; any other body but XML (read as JSON:
  FastAPI does so for a body with no type) holding NUL, lone surrogates, text that is
  not UTF-8, nesting deeper than ``max_depth``, a number longer than
  :data:`MAX_NUMBER_DIGITS` digits or with an exponent of 100 or more, ``NaN`` or
  ``Infinity``: 400. XML is left to its parser, which refuses the same.

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
'a number JSON cannot hold (NaN, Infinity, an exponent of 100 or more)'
>>> hostile_text(b"name=ann%00")
'NUL byte'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lineside.errors import LinesideError
from server.api.problems import problem_for
from server.errors import BodyTooLarge, MalformedRequest, NotSignedIn

__all__ = ["MAX_NUMBER_DIGITS", "RequestGuard", "hostile_json", "hostile_text"]

#: The longest run of digits a JSON number may have (no GS1 quantity comes close).
MAX_NUMBER_DIGITS = 100

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPEN_CLOSE = bytes.maketrans(b"[]{}", b"()()")
_DIGITS_AS_ZEROS = bytes(ord("0") if byte in b"0123456789" else ord(" ") for byte in range(256))
_LONG_NUMBER = b"0" * (MAX_NUMBER_DIGITS + 1)
_SURROGATE_PAIR = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
# A positive exponent of 100 or more: no route takes such numbers, and with a long
# mantissa they overflow a float (PostgreSQL and JSON answers refuse infinity).
_BIG_EXPONENT = re.compile(rb"[eE]\+?0*[1-9]\d{2}")


def _utf8_problem(data: bytes) -> str | None:
    if b"\x00" in data:
        return "NUL byte"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes that are not UTF-8 (or a lone surrogate)"
    return None


def _url_problem(decoded: bytes) -> str | None:
    """What no path or query value may hold: NUL, bytes that are not UTF-8, a number
    longer than :data:`MAX_NUMBER_DIGITS` digits."""
    problem = _utf8_problem(decoded)
    if problem is None and _LONG_NUMBER in decoded.translate(_DIGITS_AS_ZEROS):
        problem = f"number longer than {MAX_NUMBER_DIGITS} digits"
    return problem


def hostile_text(data: bytes) -> str | None:
    """What is wrong with a URL-encoded string (a query or a form body), or None."""
    for part in re.split(rb"[&=]", data):
        problem = _url_problem(unquote_to_bytes(part.replace(b"+", b" ")))
        if problem is not None:
            return problem
    return None


def _lone(hex_digits: bytes) -> str:
    return f"lone surrogate \\u{hex_digits.decode()} in a JSON string"


def _escape_problem(escapes: bytes) -> str | None:
    """NUL characters and lone surrogates written as ``\\uXXXX`` escapes (in a body whose
    escaped backslashes are gone)."""
    found = _SUSPECT_ESCAPE.search(_SURROGATE_PAIR.sub(b"", escapes))
    if found is None:
        return None
    if found.group(1) == b"0000":
        return "NUL character in a JSON string"
    return _lone(found.group(1))


def _skeleton(escapes: bytes) -> bytes:
    """The body with the contents of its strings removed (``"..."`` becomes ``""``)."""
    parts = escapes.replace(b'\\"', b"").split(b'"')
    return b'""'.join(parts[::2])


def hostile_json(body: bytes, *, max_depth: int) -> str | None:
    """What makes a JSON body unfit for any route, or None; valid JSON is not checked
    here (the route's parser says what is wrong with it)."""
    problem = _utf8_problem(body)
    if problem is not None:
        return f"{problem} in the JSON body"
    # Escaped backslashes pair up from the left, as a parser reads them; once they are
    # gone, every backslash left starts an escape. Only bytes operations and searches
    # that start on a literal: linear and fast, even for the 16 MiB of a capture.
    escapes = body.replace(b"\\\\", b"")
    if b"\\u" in escapes:
        problem = _escape_problem(escapes)
        if problem is not None:
            return problem
    skeleton = _skeleton(escapes)
    if _LONG_NUMBER in skeleton.translate(_DIGITS_AS_ZEROS):
        return f"a JSON number longer than {MAX_NUMBER_DIGITS} digits"
    if b"NaN" in skeleton or b"Infinity" in skeleton or _BIG_EXPONENT.search(skeleton):
        return "a number JSON cannot hold (NaN, Infinity, an exponent of 100 or more)"
    if _depth_exceeds(skeleton, max_depth):
        return f"JSON nested deeper than {max_depth} levels"
    return None


def _depth_exceeds(skeleton: bytes, max_depth: int) -> bool:
    """Whether the brackets of ``skeleton`` (strings removed) nest deeper than
    ``max_depth``; brackets left open count as nested."""
    brackets = skeleton.translate(_OPEN_CLOSE, _NOT_BRACKETS)
    # Each round removes the innermost pairs: as many rounds as levels.
    rounds = 0
    while b"()" in brackets:
        if rounds == max_depth:
            return True
        brackets = brackets.replace(b"()", b"")
        rounds += 1
    return rounds + brackets.count(b"(") > max_depth


def _body_problem(body: bytes, content_type: str, max_depth: int) -> str | None:
    """What is hostile in a body: a form is URL-encoded text; XML is left to its parser
    (lxml refuses depth, NUL and bad character references), images to the photo check;
    anything else may end up in
    a JSON parser (FastAPI reads a body with no type as JSON, the capture reads any
    non-XML type as JSON), so it is checked as JSON."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return hostile_text(body)
    if media.endswith(("/xml", "+xml")):
        return None
    if media.startswith("image/") or media == "application/octet-stream":
        return None  # binary (a product photo): no parser of text reads it
    return hostile_json(body, max_depth=max_depth)


class RequestGuard:
    """ASGI middleware refusing hostile requests before they reach a route.

    ``max_body`` bytes are read at most; paths starting with a prefix of ``body_limits``
    read up to the size it gives instead (more for the EPCIS capture, less for sign-in).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_depth: int,
        body_limits: dict[str, int] | None = None,
        too_large: Callable[[str, int], LinesideError] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_depth = max_depth
        self.body_limits = dict(body_limits or {})
        self.too_large = too_large or _too_large
        self._token_routes: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

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
        problem = _url_problem(unquote_to_bytes(raw_path))
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
        if declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
            raise self.too_large(scope["path"], limit)
        body = await self._read(scope, receive, limit)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        problem = _body_problem(body, content_type, self.max_depth)
        if problem is not None:
            raise MalformedRequest(f"the request body holds {problem}")
        return _replay(body, receive)

    def _limit(self, path: str) -> int:
        for prefix, limit in self.body_limits.items():
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
        """Whether the operation this request goes to asks for a bearer token (a write
        with none is refused before its body is read). Read from the app's OpenAPI
        document, whose ``security`` says it for every route."""
        if self._token_routes is None:
            app = scope.get("app")
            openapi = getattr(app, "openapi", None)
            self._token_routes = _token_routes(openapi() if callable(openapi) else {})
        method = scope["method"].lower()
        return any(
            method in methods and pattern.fullmatch(scope["path"])
            for pattern, methods in self._token_routes
        )


def _token_routes(openapi: dict[str, Any]) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Path patterns and the methods on them whose operations ask for a bearer token."""
    routes = []
    for template, operations in openapi.get("paths", {}).items():
        methods = frozenset(
            method
            for method, operation in operations.items()
            if isinstance(operation, dict) and operation.get("security")
        )
        if methods:
            pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
            routes.append((re.compile(pattern), methods))
    return routes


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
