"""``lineside server broker-setup``, ``enroll-line``, ``rotate-line``, ``revoke-line``:
the broker identities of the aggregator and of each line (Mosquitto dynamic security)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from lineside.errors import ConfigError, LinesideError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from server.services.broker_identity import LineCredentials
    from server.settings import ServerSettings

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (env LINESIDE_SERVER_* wins)."),
]
LineArgument = Annotated[str, typer.Argument(help="The line's id (as registered on the server).")]
CredentialsDir = Annotated[
    Path,
    typer.Option(
        "--credentials-dir",
        help="Where to write <line>.mqtt-user and <line>.mqtt-password (mode 0600) for the "
        "agent's [broker] section.",
    ),
]


def _fail(exc: LinesideError, code: int = 1) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(code)


def _settings(config: Path | None) -> ServerSettings:
    from server.settings import load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise _fail(exc, 2) from exc


def _in_transaction(settings: ServerSettings, work: Callable[[Session], T]) -> T:
    from server.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            return work(session)
    finally:
        engine.dispose()


def broker_setup(config: ConfigOption = None) -> None:
    """Create (or reset) the aggregators' broker role and user from the server settings."""
    from server.services.broker_identity import DynsecAdmin, setup_aggregator

    settings = _settings(config)
    try:
        password = settings.mqtt_password()
        if settings.broker_username is None or not password:
            raise ConfigError("broker_username and broker_password_file: both are needed")
        with DynsecAdmin(settings.broker_admin_endpoint()) as admin:
            setup_aggregator(admin, settings.broker_username, password)
    except LinesideError as exc:
        raise _fail(exc) from exc
    Console().print(f"broker user {settings.broker_username!r} may read every line's reports")


def _enrol(
    line_id: str, config: Path | None, directory: Path, *, rotate: bool, client_id: str | None
) -> None:
    from server.services.broker_identity import HostActor, enrol_line_record, write_credentials

    settings = _settings(config)

    def work(session: Session) -> LineCredentials:
        return enrol_line_record(
            session,
            settings.broker_admin_endpoint(),
            HostActor(getpass.getuser()),
            line_id,
            client_id=client_id,
            rotate=rotate,
        )

    try:
        credentials = _in_transaction(settings, work)
        user_file, password_file = write_credentials(directory, credentials)
    except (LinesideError, OSError) as exc:
        raise _fail(LinesideError(str(exc))) from exc
    Console().print(
        f"line {credentials.site}/{credentials.line}: broker user {credentials.username!r}, "
        f"client ID {credentials.client_id!r} (the only one the broker accepts for it)\n"
        f"  wrote {user_file} and {password_file}",
        highlight=False,
    )
    if rotate:
        Console().print("the broker disconnected the line: restart its agent with these files")


def enroll_line(
    line_id: LineArgument,
    credentials_dir: CredentialsDir,
    config: ConfigOption = None,
    client_id: Annotated[
        str | None,
        typer.Option(help="Client ID the agent uses (default lineside-edge-<site>-<line>)."),
    ] = None,
) -> None:
    """Give a registered line its own broker user, topics and client ID."""
    _enrol(line_id, config, credentials_dir, rotate=False, client_id=client_id)


def rotate_line(
    line_id: LineArgument, credentials_dir: CredentialsDir, config: ConfigOption = None
) -> None:
    """A new broker password for a line; the broker disconnects the old session."""
    _enrol(line_id, config, credentials_dir, rotate=True, client_id=None)


def revoke_line(
    line_id: LineArgument,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    config: ConfigOption = None,
) -> None:
    """Delete a line's broker user and topics; the broker disconnects it at once."""
    from server.services.broker_identity import HostActor, revoke_line_record

    settings = _settings(config)
    try:
        _in_transaction(
            settings,
            lambda session: revoke_line_record(
                session,
                settings.broker_admin_endpoint(),
                HostActor(getpass.getuser()),
                line_id,
                reason,
            ),
        )
    except LinesideError as exc:
        raise _fail(exc) from exc
    Console().print(f"line {line_id}: broker identity revoked", highlight=False)


def register(app: typer.Typer) -> None:
    """Add these commands to the ``server`` group."""
    app.command("broker-setup")(broker_setup)
    app.command("enroll-line")(enroll_line)
    app.command("rotate-line")(rotate_line)
    app.command("revoke-line")(revoke_line)
