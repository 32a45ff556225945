"""The aggregator's web application, built by :func:`create_app` (no module-level app).

>>> from server.settings import ServerSettings
>>> app = create_app(ServerSettings(database_url="sqlite://"))
>>> app.title
'Lineside aggregator'
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from lineside import __version__
from lineside.errors import LinesideError
from server.api.browser import install_login_redirect, install_offline_docs
from server.api.epcis_http import add_version_headers
from server.api.guard import RequestGuard
from server.api.problems import install_problem_handler
from server.api.routes import (
    audit,
    broker,
    dashboard,
    dead_letters,
    epcis,
    epcis_queries,
    epcis_resources,
    masterdata,
    production,
    public,
    resolver,
    trace,
    users,
)
from server.db.engine import make_engine, make_session_factory
from server.db.replica import ReadReplica
from server.errors import BodyTooLarge, CaptureLimitExceededException
from server.ingest import Ingestor, IngestSettings
from server.portal import start_worker
from server.services.commands import CommandPublisher, MqttCommandPublisher
from server.services.epcis import DEFAULT_CAPTURE_MAX_BYTES
from server.services.epcis_subscriptions import SubscriptionWorker
from server.services.media import MAX_PHOTO_BYTES
from server.services.metrics import ServerMetrics
from server.services.ratelimit import AccountLockout, TokenBuckets
from server.services.signin import SignInDesk
from server.settings import ServerSettings
from server.web import STATIC_DIR, make_templates

logger = logging.getLogger(__name__)

#: The most a sign-in request body may hold (a name and a password).
SIGN_IN_MAX_BYTES = 16 * 1024


def _start_background(app: FastAPI, settings: ServerSettings) -> list[Any]:
    """Start the MQTT ingestor and the portal worker when the settings enable them."""
    started: list[Any] = []
    factory: sessionmaker[Session] = app.state.session_factory
    if settings.ingest_enabled and settings.ingest_source == "jetstream":
        from server.ingest.jetstream import JetStreamIngestor

        consumer = JetStreamIngestor(settings.jetstream_settings(), factory)
        consumer.start()
        started.append(consumer)
    elif settings.ingest_enabled:
        broker = settings.broker_endpoint()
        ingestor = Ingestor(
            IngestSettings(
                host=broker.host,
                port=broker.port,
                tls=broker.tls,
                username=broker.username,
                password=broker.password,
                client_id=settings.ingest_client_id,
                share_group=settings.ingest_share_group,
            ),
            factory,
        )
        ingestor.start()
        started.append(ingestor)
    if settings.portal_enabled:
        worker = start_worker(settings, factory)
        started.append(worker)
    if settings.audit_signing_key_file is not None and settings.audit_checkpoint_file:
        from server.services.audit_anchor import AnchorTarget, AnchorWorker

        target = AnchorTarget(
            settings.audit_signing_key_file,
            settings.audit_checkpoint_file,
            # portal_enabled = false keeps everything, checkpoints included, off the portal.
            portal_url=settings.audit_checkpoint_portal_url if settings.portal_enabled else None,
            portal_token=settings.portal_bearer_token() if settings.portal_enabled else None,
        )
        anchor = AnchorWorker(factory, target, settings.audit_checkpoint_interval_s)
        anchor.start()
        started.append(anchor)
    if settings.epcis_subscriptions_enabled:
        subscriptions = SubscriptionWorker(factory)
        subscriptions.start()
        started.append(subscriptions)
    return started


def create_app(
    settings: ServerSettings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    command_publisher: CommandPublisher | None = None,
) -> FastAPI:
    """Build the aggregator app: API, resolver, dashboard, static files and lifespan.

    ``session_factory`` and ``command_publisher`` replace the ones built from
    ``settings`` (tests and embedding).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = _start_background(app, settings)
        flusher = asyncio.create_task(
            app.state.sign_in_desk.keep_flushing(settings.failed_login_window_seconds)
        )
        try:
            yield
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            for worker in reversed(background):
                worker.stop()
            if app.state.read_replica is not None:
                app.state.read_replica.dispose()
            if owns_engine:
                app.state.session_factory.kw["bind"].dispose()

    app = FastAPI(
        title="Lineside aggregator",
        version=__version__,
        description="Traceability aggregator: master data, work orders, trace queries, "
        "GS1 Digital Link resolver, dashboard and yearly indicators.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    owns_engine = session_factory is None
    app.state.settings = settings
    app.state.session_factory = session_factory or make_session_factory(
        make_engine(settings.database_url)
    )
    # Traces and resolver look-ups read from the standby while it keeps up (server.db.replica).
    app.state.read_replica = (
        None
        if settings.database_read_url is None
        else ReadReplica.from_url(
            app.state.session_factory.kw["bind"],
            settings.database_read_url,
            max_lag_seconds=settings.replica_max_lag_seconds,
            check_interval_seconds=settings.replica_check_interval_seconds,
        )
    )
    app.state.command_publisher = command_publisher or MqttCommandPublisher(
        settings.broker_endpoint()
    )
    app.state.rate_limiter = TokenBuckets(
        rate_per_second=settings.rate_limit_per_minute / 60, burst=settings.rate_limit_burst
    )
    app.state.metrics = ServerMetrics(app.state.session_factory)
    if app.state.read_replica is not None:
        app.state.metrics.watch_replica(app.state.read_replica)
    app.state.sign_in_desk = SignInDesk(
        app.state.session_factory,
        lockout=AccountLockout(
            settings.lockout_threshold, settings.lockout_base_seconds, settings.lockout_max_seconds
        ),
        hash_concurrency=settings.password_hash_concurrency,
        queue_limit=settings.password_hash_queue,
    )
    app.state.templates = make_templates(settings.zone())
    install_problem_handler(app)
    install_login_redirect(app)
    install_offline_docs(app)

    app.middleware("http")(add_version_headers)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        # The router records the matched route in the scope: count by its template.
        route = request.scope.get("route")
        route_path = getattr(route, "path", None) or "unmatched"
        app.state.metrics.record(request.method, route_path, response.status_code)
        return response

    _include_routes(app)
    _guard(app, settings)
    return app


def _include_routes(app: FastAPI) -> None:
    app.include_router(public.router)
    app.include_router(masterdata.router)
    app.include_router(production.router)
    app.include_router(trace.router)
    app.include_router(audit.router)
    app.include_router(dead_letters.router)
    app.include_router(users.router)
    app.include_router(broker.router)
    app.include_router(dashboard.router)
    app.include_router(epcis.create_router())
    app.include_router(epcis_queries.create_queries_router())
    app.include_router(epcis_resources.create_resources_router())
    app.include_router(resolver.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Last: it matches any single path segment (a compressed Digital Link).
    app.include_router(resolver.compressed_router)


def _guard(app: FastAPI, settings: ServerSettings) -> None:
    """The outermost middleware, added last: the client address is settled first, then
    hostile requests are refused before any route reads them."""
    app.add_middleware(
        RequestGuard,
        max_body=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
        body_limits={
            "/epcis/capture": DEFAULT_CAPTURE_MAX_BYTES,
            "/auth/token": SIGN_IN_MAX_BYTES,
            "/login": SIGN_IN_MAX_BYTES,
            # Product photos: the photo check itself answers for what is over its limit.
            "/products/": MAX_PHOTO_BYTES + 64 * 1024,
        },
        too_large=_too_large,
    )
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))


def _too_large(path: str, limit: int) -> LinesideError:
    message = f"the request body is larger than {limit} bytes, the most {path} reads"
    if path.startswith("/epcis/capture"):
        return CaptureLimitExceededException(message)
    return BodyTooLarge(message)
