"""The national (or provincial) portal connector: stored events forwarded through an outbox.

>>> from server.portal import PortalTarget
>>> PortalTarget(name="national", url="https://portal.example/epcis/capture").format.value
'epcis'
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lineside.errors import ConfigError
from server.portal.forwarder import (
    ForwardResult,
    OutboxStatus,
    PortalFormat,
    PortalTarget,
    PortalWorker,
    enqueue_new,
    forward_due,
    outbox_status,
    portal_records,
)

__all__ = [
    "ForwardResult",
    "OutboxStatus",
    "PortalFormat",
    "PortalTarget",
    "PortalWorker",
    "enqueue_new",
    "forward_due",
    "outbox_status",
    "portal_records",
    "start_worker",
]


def start_worker(settings: Any, session_factory: sessionmaker[Session]) -> PortalWorker:
    """Start forwarding to ``settings.portal_endpoint`` (an EPCIS capture URL).

    Optional settings read when present: ``portal_token`` (bearer token) and
    ``portal_format`` (``"epcis"`` or ``"record"``).
    """
    endpoint = getattr(settings, "portal_endpoint", None)
    if not endpoint:
        raise ConfigError("portal_endpoint: required when portal_enabled is true")
    bearer = getattr(settings, "portal_bearer_token", None)
    if callable(bearer):
        secret = bearer()
    else:
        token: Any = getattr(settings, "portal_token", None)
        secret = token.get_secret_value() if hasattr(token, "get_secret_value") else token
    target = PortalTarget(
        name="portal",
        url=str(endpoint),
        token=secret,
        format=PortalFormat(getattr(settings, "portal_format", "epcis")),
    )
    worker = PortalWorker(session_factory, [target])
    worker.start()
    return worker
