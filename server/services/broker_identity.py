"""Broker identities of lines: each line its own MQTT user, topics and client ID.

Mosquitto's dynamic-security plugin holds the broker's users and their topic rights; the
server changes them by publishing commands to ``$CONTROL/dynamic-security/v1`` as the
broker's administrator (``broker_admin_username`` in the settings). A line enrolled here
gets:

- the user ``{site}.{line}`` with a random password (written to the agent's credential
  files, never stored by the server);
- the role ``lineside-line-{site}.{line}``: publish under ``lineside/v1/{site}/{line}/``
  only, subscribe to its own ``commands`` and statuses only;
- a bound client ID (the agent's default ``lineside-edge-{site}-{line}``): the broker
  refuses this user under any other client ID, so a line cannot take over the session of
  another line or of an aggregator, and no other line can take over this one's.

Rotating sets a new password and disconnects the line at once; revoking deletes the user
and its role, which disconnects it too.

>>> sorted(a["topic"] for a in line_role("factory-1", "L1")["acls"])[:2]
['lineside/v1/factory-1/L1/acks', 'lineside/v1/factory-1/L1/alarms']
>>> agent_client_id("factory-1", "L1")
'lineside-edge-factory-1-L1'
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session

from lineside import contract
from lineside.errors import InvalidInput, LinesideError, TransportError
from lineside.mqtt import BrokerEndpoint, connect, make_client
from server.db.models import Line
from server.errors import Conflict, NotFound
from server.services.audit import Actor, audit_action, record_action

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
AGGREGATOR_ROLE = "lineside-aggregator"
#: What a line publishes under its own lineside/v1/{site}/{line}/.
LINE_WRITES = ("events", "status", "devices/+/status", "alarms", "reports", "acks")
#: What a line may subscribe to: its commands, the server's receipts of its events, and
#: its own statuses (retained).
LINE_READS = ("commands", "receipts", "status", "devices/+/status")
#: What the aggregators send to every line.
AGGREGATOR_WRITES = ("commands", "receipts")
#: What the aggregators read from every line.
AGGREGATOR_READS = ("events", "status", "devices/+/status", "alarms", "reports", "acks")


class BrokerAdminError(LinesideError):
    """The broker refused an administrative command (the text says which and why)."""


@dataclass(frozen=True, slots=True)
class LineCredentials:
    """What a line agent needs to sign in to the broker (the password never in a repr)."""

    site: str
    line: str
    username: str
    client_id: str
    password: str = field(repr=False)


def line_username(site: str, line: str) -> str:
    return f"{site}.{line}"


def line_role_name(site: str, line: str) -> str:
    return f"lineside-line-{site}.{line}"


def agent_client_id(site: str, line: str) -> str:
    """The client ID the edge agent uses when its configuration names none."""
    return f"lineside-edge-{site}-{line}"


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


def line_role(site: str, line: str) -> dict[str, Any]:
    """The dynamic-security role of one line: its own topics and nothing else."""
    base = f"lineside/v1/{site}/{line}"
    acls = [_acl("publishClientSend", f"{base}/{leaf}") for leaf in LINE_WRITES]
    acls += [_acl("subscribePattern", f"{base}/{leaf}") for leaf in LINE_READS]
    return {"rolename": line_role_name(site, line), "acls": acls}


def aggregator_role() -> dict[str, Any]:
    """Every line's reports (also through shared subscriptions); commands and receipts
    to lines."""
    acls = [_acl("publishClientSend", f"lineside/v1/+/+/{leaf}") for leaf in AGGREGATOR_WRITES]
    for leaf in AGGREGATOR_READS:
        acls.append(_acl("subscribePattern", f"lineside/v1/+/+/{leaf}"))
        acls.append(_acl("subscribePattern", f"$share/+/lineside/v1/+/+/{leaf}"))
    return {"rolename": AGGREGATOR_ROLE, "acls": acls}


def _check_identifier(what: str, value: str) -> None:
    if not contract.IDENTIFIER.fullmatch(value):
        raise InvalidInput(f"{what}: {value[:80]!r} is not an identifier (letters, digits, - _)")


class DynsecAdmin:
    """A connection to the broker as its administrator, sending dynamic-security commands.

    >>> DynsecAdmin(BrokerEndpoint("127.0.0.1", username="admin")).endpoint.port
    1883
    """

    def __init__(self, endpoint: BrokerEndpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._client: mqtt.Client | None = None
        self._lock = threading.Condition()
        self._responses: list[dict[str, Any]] = []
        self._connack: Any = None
        self._subscribed = False
        self._refused = False

    def __enter__(self) -> DynsecAdmin:
        client = make_client(
            self.endpoint, f"lineside-admin-{uuid.uuid4().hex[:12]}", persistent_session=False
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        connect(client, self.endpoint, persistent_session=False)
        client.loop_start()
        self._client = client
        try:
            self._wait(lambda: self._connack is not None, "did not answer")
            if self._connack.is_failure:
                raise TransportError(
                    f"MQTT broker {self.endpoint} refused the administrator: {self._connack}"
                )
            client.subscribe(RESPONSE_TOPIC, qos=1)
            self._wait(lambda: self._subscribed, "did not confirm the subscription")
            if self._refused:
                raise TransportError(
                    f"MQTT broker {self.endpoint}: {self.endpoint.username!r} may not read "
                    "the dynamic-security answers (not the broker's administrator?)"
                )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, _c: object, _u: object, _f: object, reason: Any, _p: object) -> None:
        with self._lock:
            self._connack = reason
            self._lock.notify_all()

    def _on_subscribe(self, _c: object, _u: object, _m: int, reasons: Any, _p: object) -> None:
        with self._lock:
            self._subscribed = True
            self._refused = any(reason.is_failure for reason in reasons)
            self._lock.notify_all()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            answer = json.loads(message.payload)
        except ValueError:
            return
        with self._lock:
            self._responses.append(answer)
            self._lock.notify_all()

    def _wait(self, condition: Any, what: str) -> None:
        with self._lock:
            if not self._lock.wait_for(condition, self.timeout):
                raise TransportError(
                    f"MQTT broker {self.endpoint} {what} within {self.timeout:g} s"
                )

    def run(
        self, *commands: dict[str, Any], tolerate: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Send ``commands`` in one message; the broker's answer to each (``error`` set
        when it refused one). Raises :class:`BrokerAdminError` for an error not listed in
        ``tolerate``."""
        if self._client is None:
            raise RuntimeError("DynsecAdmin used outside its with block")
        with self._lock:
            self._responses.clear()
        payload = json.dumps({"commands": list(commands)}).encode()
        self._client.publish(CONTROL_TOPIC, payload, qos=1)
        self._wait(lambda: bool(self._responses), "did not answer the command")
        with self._lock:
            answers = self._responses.pop(0).get("responses", [])
        if not isinstance(answers, list) or len(answers) != len(commands):
            raise BrokerAdminError(f"broker answered {answers!r:.200} to {len(commands)} commands")
        for command, answer in zip(commands, answers, strict=True):
            error = answer.get("error")
            if error is not None and error not in tolerate:
                raise BrokerAdminError(f"broker refused {command['command']}: {error}")
        return answers


def _replace_role(admin: DynsecAdmin, role: dict[str, Any]) -> None:
    """Create the role, or give an existing one exactly these ACLs."""
    name = role["rolename"]
    admin.run({"command": "deleteRole", "rolename": name}, tolerate=("Role not found",))
    admin.run({"command": "createRole", **role})


def setup_aggregator(admin: DynsecAdmin, username: str, password: str) -> None:
    """The aggregators' role and user (created, or its password and role set again)."""
    _check_identifier("aggregator user", username)
    _replace_role(admin, aggregator_role())
    created = admin.run(
        {
            "command": "createClient",
            "username": username,
            "password": password,
            "textname": "Lineside aggregator",
            "roles": [{"rolename": AGGREGATOR_ROLE}],
        },
        tolerate=("Client already exists",),
    )
    if "error" in created[0]:
        admin.run(
            {"command": "setClientPassword", "username": username, "password": password},
            {"command": "addClientRole", "username": username, "rolename": AGGREGATOR_ROLE},
            tolerate=("Client is already in this role",),
        )


def new_password() -> str:
    return secrets.token_urlsafe(24)


def enroll_line(
    admin: DynsecAdmin, site: str, line: str, *, client_id: str | None = None
) -> LineCredentials:
    """Create the line's user, role and bound client ID; raises Conflict if it exists."""
    _check_identifier("site", site)
    _check_identifier("line", line)
    if "." in site:
        # "{site}.{line}" must name one line only: "a.b" + "c" and "a" + "b.c" would clash.
        raise InvalidInput(f"site: {site!r} has a '.', which broker user names cannot tell apart")
    credentials = LineCredentials(
        site=site,
        line=line,
        username=line_username(site, line),
        client_id=client_id or agent_client_id(site, line),
        password=new_password(),
    )
    if len(credentials.client_id) > 128 or not credentials.client_id.isprintable():
        raise InvalidInput("client ID: at most 128 printable characters")
    found = admin.run(
        {"command": "getClient", "username": credentials.username},
        tolerate=("Client not found",),
    )
    if "error" not in found[0]:
        raise Conflict(
            f"line {site}/{line} is already enrolled as {credentials.username!r}; "
            "rotate its credentials or revoke them first"
        )
    _replace_role(admin, line_role(site, line))
    admin.run(
        {
            "command": "createClient",
            "username": credentials.username,
            "password": credentials.password,
            "clientid": credentials.client_id,
            "textname": f"Lineside line {site}/{line}",
            "roles": [{"rolename": line_role_name(site, line)}],
        }
    )
    return credentials


def rotate_line(admin: DynsecAdmin, site: str, line: str) -> LineCredentials:
    """A new password for an enrolled line; the broker disconnects its session at once."""
    username = line_username(site, line)
    password = new_password()
    found = admin.run(
        {"command": "getClient", "username": username}, tolerate=("Client not found",)
    )
    if "error" in found[0]:
        raise NotFound(f"line {site}/{line} is not enrolled at the broker")
    bound = found[0].get("data", {}).get("client", {}).get("clientid")
    client_id = bound if isinstance(bound, str) else agent_client_id(site, line)
    admin.run({"command": "setClientPassword", "username": username, "password": password})
    return LineCredentials(site, line, username, client_id, password)


def revoke_line(admin: DynsecAdmin, site: str, line: str) -> None:
    """Delete the line's user and role; the broker disconnects it at once."""
    answers = admin.run(
        {"command": "deleteClient", "username": line_username(site, line)},
        {"command": "deleteRole", "rolename": line_role_name(site, line)},
        tolerate=("Client not found", "Role not found"),
    )
    if "error" in answers[0]:
        raise NotFound(f"line {site}/{line} is not enrolled at the broker")


def write_credentials(directory: Path, credentials: LineCredentials) -> tuple[Path, Path]:
    """Write ``{line}.mqtt-user`` and ``{line}.mqtt-password`` (mode 0600) for the agent's
    ``[broker]`` section; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, value in (
        ("mqtt-user", credentials.username),
        ("mqtt-password", credentials.password),
    ):
        path = directory / f"{credentials.line}.{suffix}"
        temporary = path.with_name(path.name + ".new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        temporary.replace(path)
        written.append(path)
    return written[0], written[1]


# --------------------------------------------------------------- with the line's record


def line_site(session: Session, line_id: str) -> str:
    """The site of a registered line; :class:`NotFound` names an unknown one."""
    _check_identifier("line", line_id)
    row = session.get(Line, line_id)
    if row is None:
        raise NotFound(f"lines: no {line_id[:80]!r}")
    return row.site


def enrol_line_record(
    session: Session,
    endpoint: BrokerEndpoint,
    actor: AuditActor,
    line_id: str,
    *,
    client_id: str | None = None,
    rotate: bool = False,
    reason: str = "",
) -> LineCredentials:
    """Enrol (or, with ``rotate``, give a new password to) a registered line, audited as
    ``line.broker_enrol`` / ``line.broker_rotate`` in ``session``'s transaction."""
    site = line_site(session, line_id)
    with DynsecAdmin(endpoint) as admin:
        if rotate:
            credentials = rotate_line(admin, site, line_id)
        else:
            credentials = enroll_line(admin, site, line_id, client_id=client_id)
    actor.record(
        session,
        "line.broker_rotate" if rotate else "line.broker_enrol",
        f"line:{line_id}",
        reason=reason,
        details={"username": credentials.username, "client_id": credentials.client_id},
    )
    return credentials


def revoke_line_record(
    session: Session, endpoint: BrokerEndpoint, actor: AuditActor, line_id: str, reason: str
) -> None:
    """Revoke a registered line's broker identity, audited as ``line.broker_revoke``."""
    site = line_site(session, line_id)
    with DynsecAdmin(endpoint) as admin:
        revoke_line(admin, site, line_id)
    actor.record(session, "line.broker_revoke", f"line:{line_id}", reason=reason, details={})


class AuditActor(Protocol):
    """Writes one audit record for whoever acts (a signed-in user or the host's login)."""

    def record(
        self, session: Session, action: str, target: str, *, reason: str, details: dict[str, Any]
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class UserActor:
    """A signed-in user of the API."""

    user: Actor

    def record(
        self, session: Session, action: str, target: str, *, reason: str, details: dict[str, Any]
    ) -> None:
        audit_action(session, self.user, action, target, reason=reason, details=details)


@dataclass(frozen=True, slots=True)
class HostActor:
    """Someone on the server host, through the command line (``host:<login>``)."""

    login: str

    def record(
        self, session: Session, action: str, target: str, *, reason: str, details: dict[str, Any]
    ) -> None:
        record_action(
            session,
            actor=f"host:{self.login}",
            role="host",
            action=action,
            target=target,
            reason=reason,
            details={**details, "via": "cli"},
        )
