"""``lineside server audit``: the signing key, checkpoints now, and verification of the
audit trail against the signed checkpoints kept outside the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lineside.errors import ConfigError, LinesideError

app = typer.Typer(
    name="audit",
    help="Anchor the audit trail outside the database and verify it.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (env LINESIDE_SERVER_* wins)."),
]


def _fail(exc: LinesideError, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(code)


@app.command()
def keygen(
    key: Annotated[Path, typer.Option("--key", help="Where to write the new private key.")],
    public: Annotated[
        Path | None, typer.Option("--public", help="Also write the public key (PEM) here.")
    ] = None,
) -> None:
    """Make an Ed25519 signing key (mode 0600; never overwrites one) and show its public key."""
    from server.services.audit_anchor import key_id, public_pem, write_new_key

    try:
        made = write_new_key(key)
    except LinesideError as exc:
        raise _fail(exc) from exc
    pem = public_pem(made.public_key())
    if public is not None:
        public.write_text(pem)
    Console().print(f"key {key_id(made.public_key())} written to {key}\n{pem}", highlight=False)


def _anchor_settings(config: Path | None) -> tuple[Path | None, Path, str]:
    from server.settings import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise _fail(exc) from exc
    if settings.audit_checkpoint_file is None:
        raise _fail(ConfigError("audit_checkpoint_file: not set in the settings"))
    return settings.audit_signing_key_file, settings.audit_checkpoint_file, settings.database_url


@app.command()
def checkpoint(config: ConfigOption = None) -> None:
    """Sign the records added since the last checkpoint now (the server does it periodically)."""
    from server.db import make_engine, make_session_factory
    from server.services.audit_anchor import AnchorTarget, checkpoint_now
    from server.settings import load_settings

    key_file, checkpoint_file, database_url = _anchor_settings(config)
    if key_file is None:
        raise _fail(ConfigError("audit_signing_key_file: not set in the settings"))
    settings = load_settings(config)
    engine = make_engine(database_url)
    try:
        target = AnchorTarget(
            key_file,
            checkpoint_file,
            portal_url=settings.audit_checkpoint_portal_url if settings.portal_enabled else None,
            portal_token=settings.portal_bearer_token() if settings.portal_enabled else None,
        )
        with make_session_factory(engine)() as session, session.begin():
            made = checkpoint_now(session, target)
    except LinesideError as exc:
        raise _fail(exc, 1) from exc
    finally:
        engine.dispose()
    if made is None:
        Console().print("nothing new to sign")
    else:
        Console().print(f"checkpoint: records {made.from_seq}-{made.seq} signed ({made.key_id})")


@app.command()
def verify(
    config: ConfigOption = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Checkpoint file (default: audit_checkpoint_file), e.g. the portal's copy."
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="Public key (PEM); default: from the signing key."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check the stored trail against the signed checkpoints; name the first altered record."""
    from server.db import make_engine, make_session_factory
    from server.services.audit_anchor import (
        load_private_key,
        load_public_key,
        read_checkpoints,
        verify_against_checkpoints,
    )

    key_file, checkpoint_file, database_url = _anchor_settings(config)
    try:
        if public_key is not None:
            public = load_public_key(public_key)
        elif key_file is not None:
            public = load_private_key(key_file).public_key()
        else:
            raise ConfigError("--public-key: needed when audit_signing_key_file is not set")
        entries = read_checkpoints(checkpoints or checkpoint_file)
    except LinesideError as exc:
        raise _fail(exc) from exc
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            report = verify_against_checkpoints(session, entries, public)
    finally:
        engine.dispose()
    if as_json:
        body = {
            "intact": report.intact,
            "records": report.records,
            "anchored_seq": report.anchored_seq,
            "checkpoints": report.checkpoints,
            "first_altered": report.first_altered,
            "problems": report.problems,
        }
        typer.echo(json.dumps(body, ensure_ascii=False))
    elif report.intact:
        Console().print(
            f"[green]intact[/green]: {report.records} records, {report.checkpoints} checkpoints, "
            f"signed up to record {report.anchored_seq}"
        )
    else:
        err = Console(stderr=True)
        if report.first_altered is not None:
            err.print(f"[red]first altered record: {report.first_altered}[/red]")
        for problem in report.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
    if not report.intact:
        raise typer.Exit(1)
