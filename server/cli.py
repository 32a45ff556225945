"""``lineside server``: run the aggregator, migrate its database, seed demo data, add users."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from lineside.errors import ConfigError, LinesideError

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from server.settings import ServerSettings

app = typer.Typer(
    name="server", help="The central aggregator (API, resolver, dashboard).", no_args_is_help=True
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (env LINESIDE_SERVER_* wins)."),
]


def _settings(config: Path | None) -> ServerSettings:
    from server.settings import load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def run(config: ConfigOption = None) -> None:
    """Serve the aggregator with uvicorn on the configured host and port."""
    import uvicorn

    from server.app import create_app

    settings = _settings(config)
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()


def uvicorn_config(app: FastAPI, settings: ServerSettings) -> uvicorn.Config:
    """How uvicorn serves ``app``: uvicorn's own handling of ``X-Forwarded-For`` is off
    (it believes any local peer); the app believes ``settings.trusted_proxies`` only."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Bring the database schema up to date."""
    from server.db import migrate as run_migrations

    settings = _settings(config)
    try:
        run_migrations(settings.database_url)
    except LinesideError as exc:
        Console(stderr=True).print(f"[red]migration failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    Console().print("[green]database is up to date[/green]")


@app.command()
def partitions(
    config: ConfigOption = None,
    ahead: Annotated[int, typer.Option(help="Years after this one to create.")] = 1,
) -> None:
    """Create the coming years' event partitions (PostgreSQL; run yearly, or at deploy)."""
    from server.db import make_engine
    from server.db.partitions import ensure_event_partitions, is_partitioned

    engine = make_engine(_settings(config).database_url)
    try:
        with engine.begin() as connection:
            if not is_partitioned(connection):
                Console().print("events are not partitioned here: nothing to do")
                return
            made = ensure_event_partitions(connection, ahead=ahead)
    finally:
        engine.dispose()
    created = ", ".join(str(year) for year in made) or "none"
    Console().print(f"[green]event partitions up to date[/green] (created: {created})")


@app.command("seed-demo")
def seed_demo(
    config: ConfigOption = None,
    admin_password_file: Annotated[
        Path | None,
        typer.Option(
            "--admin-password-file",
            help="Read the demo 'admin' password from this file ('-': standard input);"
            " without it the password is asked for.",
        ),
    ] = None,
) -> None:
    """Add a demo cooperative, line, OCOP product, commissioned units and an admin user."""
    from server.db import make_engine, make_session_factory
    from server.services.demo import seed_demo as seed

    settings = _settings(config)
    admin_password = _read_password(admin_password_file)
    if len(admin_password) < 8:
        Console(stderr=True).print("[red]password:[/red] needs at least 8 characters")
        raise typer.Exit(2)
    engine = make_engine(settings.database_url)
    try:
        summary = seed(make_session_factory(engine), admin_password)
    finally:
        engine.dispose()
    first = summary.serials[0]
    Console().print(
        f"demo GTIN {summary.gtin}, {len(summary.serials)} units; try "
        f"{settings.resolver_domain}/01/{summary.gtin}/21/{first}"
    )


def _read_password(password_file: Path | None) -> str:
    """A password from a file (first line), standard input (``-``) or a hidden prompt."""
    import sys

    if password_file is None:
        answer: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return answer
    try:
        text = sys.stdin.read() if str(password_file) == "-" else password_file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        Console(stderr=True).print(f"[red]--password-file:[/red] cannot read it: {exc}")
        raise typer.Exit(2) from exc
    lines = text.splitlines()
    return lines[0] if lines else ""


@app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str, typer.Option(help="administrator, technician, operator, inspector or auditor")
    ],
    config: ConfigOption = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help="Read the password from the first line of this file ('-': standard input)."
            " Without it the password is asked for, never taken from the command line.",
        ),
    ] = None,
) -> None:
    """Create a user (the first administrator, typically)."""
    import getpass

    from sqlalchemy.exc import IntegrityError

    from server.db import make_engine, make_session_factory
    from server.db.models import User
    from server.services.audit import record_action
    from server.services.auth import Role, hash_password

    try:
        chosen = Role(role)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        Console(stderr=True).print(f"[red]--role:[/red] {role!r} is not one of {names}")
        raise typer.Exit(2) from None
    password = _read_password(password_file)
    if len(password) < 8:
        Console(stderr=True).print("[red]password:[/red] needs at least 8 characters")
        raise typer.Exit(2)
    settings = _settings(config)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            session.add(User(username=username, role=chosen, password_hash=hash_password(password)))
            session.flush()
            record_action(
                session,
                actor=f"host:{getpass.getuser()}",
                role="host",
                action="user.create",
                target=f"user:{username}",
                details={"role": chosen.value, "via": "cli"},
            )
    except IntegrityError as exc:
        Console(stderr=True).print(f"[red]{username!r}:[/red] a user with this name exists")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    Console().print(f"user {username!r} ({chosen.value}) created")


@app.command("jetstream-setup")
def jetstream_setup(
    config: ConfigOption = None,
    replicas: Annotated[
        int, typer.Option(min=1, max=5, help="Copies of the stream (3 survives a node lost).")
    ] = 3,
    ack_wait_s: Annotated[
        float, typer.Option(min=1, help="Seconds before an unacknowledged message moves on.")
    ] = 30.0,
) -> None:
    """Create or update the JetStream stream and the aggregators' shared consumer.

    Refuses while a registered line or site has an ID the NATS MQTT gateway cannot carry.
    """
    from sqlalchemy import or_, select

    from server.db import make_engine, make_session_factory
    from server.db.models import Line
    from server.ingest.jetstream import ensure_stream

    settings = _settings(config)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            dotted = session.execute(
                select(Line.site, Line.id).where(
                    or_(Line.id.contains("."), Line.site.contains("."))
                )
            ).all()
    finally:
        engine.dispose()
    if dotted:
        named = ", ".join(f"{site}/{line}" for site, line in dotted)
        Console(stderr=True).print(
            f"[red]line IDs:[/red] {named}: the NATS MQTT gateway refuses a '.' in a topic; "
            "rename these lines or sites before moving them to the cluster"
        )
        raise typer.Exit(2)
    try:
        js = settings.jetstream_settings().model_copy(
            update={"replicas": replicas, "ack_wait_s": ack_wait_s}
        )
        ensure_stream(js)
    except LinesideError as exc:
        Console(stderr=True).print(f"[red]jetstream-setup failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    Console().print(
        f"[green]stream {js.stream!r} ({replicas} replicas) and consumer {js.durable!r} ready"
        "[/green]"
    )


def _register_broker_commands() -> None:
    from server.audit_cli import app as audit_app
    from server.broker_cli import register

    register(app)
    app.add_typer(audit_app)


_register_broker_commands()
