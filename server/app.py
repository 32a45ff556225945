"""The aggregator's web application, built by :func:`create_app` (no module-level app).

>>> from server.settings import ServerSettings
>>> app = create_app(ServerSettings(database_url="sqlite://"))
>>> app.title
'Lineside aggregator'
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from lineside import __version__
from server.api.epcis_http import add_version_headers
from server.api.problems import install_problem_handler
from server.api.routes import (
    audit,
    dashboard,
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
from server.ingest import Ingestor, IngestSettings
from server.portal import start_worker
from server.services.commands import CommandPublisher, MqttCommandPublisher
from server.services.epcis_subscriptions import SubscriptionWorker
from server.services.metrics import ServerMetrics
from server.services.ratelimit import TokenBuckets
from server.settings import ServerSettings
from server.web import STATIC_DIR, make_templates

logger = logging.getLogger(__name__)


def _start_background(app: FastAPI, settings: ServerSettings) -> list[Any]:
    """Start the MQTT ingestor and the portal worker when the settings enable them."""
    started: list[Any] = []
    factory: sessionmaker[Session] = app.state.session_factory
    if settings.ingest_enabled:
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
        try:
            yield
        finally:
            for worker in reversed(background):
                worker.stop()
            if owns_engine:
                app.state.session_factory.kw["bind"].dispose()

    app = FastAPI(
        title="Lineside aggregator",
        version=__version__,
        description="Traceability aggregator: master data, work orders, trace queries, "
        "GS1 Digital Link resolver, dashboard and yearly indicators.",
        lifespan=lifespan,
    )
    owns_engine = session_factory is None
    app.state.settings = settings
    app.state.session_factory = session_factory or make_session_factory(
        make_engine(settings.database_url)
    )
    app.state.command_publisher = command_publisher or MqttCommandPublisher(
        settings.broker_endpoint()
    )
    app.state.rate_limiter = TokenBuckets(
        rate_per_second=settings.rate_limit_per_minute / 60, burst=settings.rate_limit_burst
    )
    app.state.metrics = ServerMetrics(app.state.session_factory)
    app.state.templates = make_templates()
    install_problem_handler(app)

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

    app.include_router(public.router)
    app.include_router(masterdata.router)
    app.include_router(production.router)
    app.include_router(trace.router)
    app.include_router(audit.router)
    app.include_router(users.router)
    app.include_router(dashboard.router)
    app.include_router(epcis.create_router())
    app.include_router(epcis_queries.create_queries_router())
    app.include_router(epcis_resources.create_resources_router())
    app.include_router(resolver.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
