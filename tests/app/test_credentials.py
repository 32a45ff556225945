"""Demo and first-user credentials: a password never on the command line, and the demo's
well-known password never in a database someone named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.demo.stack import DEMO_ADMIN_PASSWORD, DemoOptions, DemoStack
from server.db import make_engine, make_session_factory, migrate
from server.db.models import User
from server.services.auth import verify_password


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    migrate(url)
    monkeypatch.setenv("LINESIDE_SERVER_DATABASE_URL", url)
    return url


def _hash_of(url: str, username: str) -> str:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            found = session.scalar(select(User.password_hash).where(User.username == username))
    finally:
        engine.dispose()
    assert found is not None, f"no user {username!r}"
    return found


def test_add_user_refuses_a_password_on_the_command_line(database: str) -> None:
    result = CliRunner().invoke(
        app,
        ["server", "add-user", "boss", "--role", "administrator", "--password", "s3cret-pass"],
    )
    assert result.exit_code == 2
    assert "--password" in result.output


def test_add_user_reads_the_password_from_a_file(database: str, tmp_path: Path) -> None:
    secret = tmp_path / "boss.password"
    secret.write_text("correct horse battery\n")
    result = CliRunner().invoke(
        app,
        ["server", "add-user", "boss", "--role", "administrator", "--password-file", str(secret)],
    )
    assert result.exit_code == 0, result.output
    assert verify_password(_hash_of(database, "boss"), "correct horse battery")
    assert "correct horse" not in result.output


def test_add_user_asks_for_the_password_twice_without_echo(database: str) -> None:
    result = CliRunner().invoke(
        app,
        ["server", "add-user", "clerk", "--role", "auditor"],
        input="a-long-password\na-long-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a-long-password" not in result.output
    assert verify_password(_hash_of(database, "clerk"), "a-long-password")


def test_add_user_names_a_short_password_from_a_file(database: str, tmp_path: Path) -> None:
    secret = tmp_path / "short"
    secret.write_text("short\n")
    result = CliRunner().invoke(
        app, ["server", "add-user", "x", "--role", "auditor", "--password-file", str(secret)]
    )
    assert result.exit_code == 2
    assert "at least 8 characters" in result.output


def test_add_user_names_a_missing_password_file(database: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["server", "add-user", "x", "--role", "auditor", "--password-file", str(tmp_path / "no")],
    )
    assert result.exit_code == 2
    assert "--password-file" in result.output


def test_the_demo_never_leaves_its_known_password_in_a_named_database(
    database: str, tmp_path: Path
) -> None:
    stack = DemoStack(DemoOptions(workdir=tmp_path / "demo", database_url=database))
    stack._prepare_database()
    admin = _hash_of(database, "admin")
    assert not verify_password(admin, DEMO_ADMIN_PASSWORD)
    assert verify_password(admin, stack.admin_password)
    assert len(stack.admin_password) >= 16
    other = DemoStack(DemoOptions(workdir=tmp_path / "demo2", database_url=database))
    assert other.admin_password != stack.admin_password


def test_the_demo_keeps_its_known_password_in_its_own_database(tmp_path: Path) -> None:
    stack = DemoStack(DemoOptions(workdir=tmp_path / "demo"))
    assert stack.admin_password == DEMO_ADMIN_PASSWORD


def test_seed_demo_takes_no_password_on_the_command_line(database: str) -> None:
    result = CliRunner().invoke(app, ["server", "seed-demo", "--admin-password", "s3cret-pass"])
    assert result.exit_code == 2
