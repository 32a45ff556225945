"""Every operation of the OpenAPI document, fed hostile values in each path parameter, each
query parameter and the body: never a 5xx, never a stall, and 400 for what no route
accepts (NUL, lone surrogates, deep nesting, huge numbers)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.app import create_app
from server.services.auth import Role
from server.settings import ServerSettings
from tests.server.api.conftest import RecordingPublisher, auth, build_world

#: Longest a single call may take before it counts as a stall (a safety net, generous).
STALL_SECONDS = 30.0

NUL = "%00"
SURROGATE = "%ED%A0%80"
#: Values refused with 400 wherever they appear in a URL.
MUST_BE_400 = {"NUL": NUL, "lone surrogate": SURROGATE, "50,000 digits": "9" * 50_000}
#: Values that are merely odd in a URL: any answer but a 5xx.
ODD = {"[ x 1000": "%5B" * 1000, "4,000 digits": "9" * 4000, "²": "%C2%B2", "-1": "-1"}
#: Query parameters a route reads without declaring them in the OpenAPI document.
UNDECLARED = {
    "/epcis/events": [
        "perPage",
        "nextPageToken",
        "eventType",
        "EQ_action",
        "EQ_bizStep",
        "MATCH_epc",
        "MATCH_anyEPC",
        "GE_eventTime",
        "LT_recordTime",
        "EQ_bizLocation",
    ]
}

_DEEP = "[" * 1000
HOSTILE_BODIES: dict[str, bytes] = {
    "[ x 1000": _DEEP.encode(),
    "500-deep object": ('{"a":' * 500 + "1" + "}" * 500).encode(),
    "50,000-digit integer": b'{"username": "a", "password": "b", "n": ' + b"9" * 50_000 + b"}",
    "NUL escape": b'{"username": "a\\u0000", "password": "b"}',
    "lone surrogate": b'{"username": "\\ud800x", "password": "b"}',
    "not UTF-8": b'{"username": "\xc3\x28", "password": "b"}',
    "NaN": b'{"username": "a", "password": "b", "n": NaN}',
    "1e999": b'{"username": "a", "password": "b", "n": [1e999]}',
}


@dataclass(frozen=True)
class Call:
    what: str
    method: str
    url: str
    body: bytes | None
    must_be_400: bool


def _sample(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    kinds = {schema.get("type")} | {part.get("type") for part in schema.get("anyOf", [])}
    return "1" if "integer" in kinds or "number" in kinds else "L1"


def _url(template: str, path_values: dict[str, str], query: str = "") -> str:
    # A parameter the document does not describe (a route reading its own path) gets a sample.
    path = re.sub(r"\{(\w+)(?::path)?\}", lambda m: path_values.get(m.group(1), "L1"), template)
    return path + (f"?{query}" if query else "")


def _calls(openapi: dict[str, Any]) -> list[Call]:
    calls: list[Call] = []
    for template, operations in openapi["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            path_params = {p["name"]: _sample(p) for p in parameters if p["in"] == "path"}
            query_params = [p["name"] for p in parameters if p["in"] == "query"]
            query_params += UNDECLARED.get(template, [])

            name = f"{method.upper()} {template}"
            for kind, value in {**MUST_BE_400, **ODD}.items():
                hostile = kind in MUST_BE_400
                for param in path_params:
                    where = _url(template, {**path_params, param: value})
                    calls.append(Call(f"{name} {param}={kind}", method, where, None, hostile))
                for param in query_params:
                    where = _url(template, path_params, f"{param}={value}")
                    calls.append(Call(f"{name} ?{param}={kind}", method, where, None, hostile))
            if method in {"post", "put", "patch", "delete"}:
                for kind, body in HOSTILE_BODIES.items():
                    calls.append(
                        Call(f"{name} body {kind}", method, _url(template, path_params), body, True)
                    )
    return calls


def _refusals(call: Call, headers: dict[str, str]) -> set[int]:
    """How a hostile call may be refused: 400, or before that 401 without a token and 413
    for a body over the route's cap (sign-in reads 16 KiB)."""
    return {400} | ({401} if not headers else set()) | ({413} if call.body else set())


async def _run(app: Any, calls: list[Call], headers: dict[str, str]) -> list[str]:
    failures: list[str] = []
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://lineside") as http:
        for call in calls:
            # As an API client: the resolver answers browsers with pages, errors included.
            sent = {"Accept": "application/json", **headers}
            if call.body is not None:
                sent["Content-Type"] = "application/json"
            try:
                answer = await asyncio.wait_for(
                    http.request(call.method, call.url, content=call.body, headers=sent),
                    STALL_SECONDS,
                )
            except TimeoutError:
                failures.append(f"{call.what}: no answer within {STALL_SECONDS:g} s")
                continue
            status = answer.status_code
            if status >= 500:
                failures.append(f"{call.what}: {status}")
            elif call.must_be_400 and status not in _refusals(call, headers):
                failures.append(f"{call.what}: {status}, not 400")
            elif (
                status >= 400
                and not answer.headers["content-type"].startswith("application/problem+json")
                # The consumer page is a page whatever the client: "no such code" in HTML.
                and not (call.url.startswith("/p/") and status == 404)
            ):
                failures.append(f"{call.what}: {status} as {answer.headers['content-type']}")
            elif len(answer.content) > 20_000:
                failures.append(f"{call.what}: {len(answer.content)} bytes answered")
    return failures


async def test_no_route_answers_hostile_input_with_a_5xx_or_a_stall(
    settings: ServerSettings,
    clean_db: Engine,
    session_factory: sessionmaker[Session],
    tokens: dict[Role, str],
) -> None:
    build_world(session_factory)
    app = create_app(
        settings, session_factory=session_factory, command_publisher=RecordingPublisher()
    )
    calls = _calls(app.openapi())
    assert len({call.what.split(" ")[1] for call in calls}) > 20, "too few operations walked"
    assert len(calls) > 300
    failures = await _run(app, calls, auth(tokens[Role.ADMINISTRATOR]))
    # Without a token, too: the refusals come before authentication or instead of it.
    failures += [f"anonymous {failure}" for failure in await _run(app, calls, {})]
    if failures:
        pytest.fail(f"{len(failures)} of {2 * len(calls)} calls:\n" + "\n".join(failures[:40]))
