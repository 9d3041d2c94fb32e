"""`switchboard user set-password`, `user set-role` and `user reset-two-factor` from the command
line: each ends the user's sessions, and the user signs in afterwards as the change says."""

from __future__ import annotations

import getpass
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from hub.config import Settings
from hub.context import Hub
from hub.errors import ApiError
from hub.sign_in import Client, SignInForm
from tests.conftest import TEST_BASE_URL, TEST_SECRET_KEY
from tests.hub.test_cli import run
from timeline.models import AuditEntry

HERE = Client("127.0.0.1", "tests")


def _database_with_ann(tmp_path: Path) -> tuple[str, str, Hub]:
    """A migrated database (its URL for the command) with one user, Ann, of password "first
    password"; her id, and a Hub on the database."""
    url = f"sqlite:///{tmp_path}/cli.db"
    assert run(url, "migrate").returncode == 0
    workspace = run(url, "workspace", "create", "Acme").stdout.strip()
    created = run(
        url, "user", "create", "--workspace", workspace, "--email", "ann@acme.test",
        "--name", "Ann", "--password", "first password",
    )  # fmt: skip
    user = created.stdout.strip()
    settings = Settings(
        f"sqlite+aiosqlite:///{tmp_path}/cli.db", None, TEST_SECRET_KEY, TEST_BASE_URL, "h", 1
    )
    hub = Hub(settings, pull_channels=False)
    return url, user, hub


async def test_set_password_and_set_role_end_the_users_sessions(tmp_path: Path) -> None:
    url, user, hub = _database_with_ann(tmp_path)
    try:
        first = await hub.sign_in.sign_in(
            hub.engine, SignInForm("ann@acme.test", "first password"), HERE, None
        )
        result = run(url, "user", "set-role", "--user", user, "--role", "manager")
        assert (result.returncode, result.stdout) == (0, "role set; the user's sessions ended\n")
        async with hub.engine.connect() as conn:
            assert await hub.sessions.find(conn, first.session.token) is None
        second = await hub.sign_in.sign_in(
            hub.engine, SignInForm("ann@acme.test", "first password"), HERE, None
        )
        assert second.principal.role == "manager"

        short = run(url, "user", "set-password", "--user", user, "--password", "short")
        assert short.returncode != 0 and "10 to 1024 characters" in short.stderr
        result = run(url, "user", "set-password", "--user", user, "--password", "temporary pass")
        assert (result.returncode, result.stdout) == (0, "password set; 1 session(s) ended\n")
        with pytest.raises(ApiError):
            await hub.sign_in.sign_in(
                hub.engine, SignInForm("ann@acme.test", "first password"), HERE, None
            )
        await hub.sign_in.sign_in(
            hub.engine, SignInForm("ann@acme.test", "temporary pass"), HERE, None
        )
        assert run(url, "user", "set-role", "--user", "999", "--role", "agent").returncode != 0
    finally:
        await hub.stop()


async def test_reset_two_factor_removes_it_ends_the_sessions_and_names_the_os_user(
    tmp_path: Path,
) -> None:
    url, user, hub = _database_with_ann(tmp_path)
    form = SignInForm("ann@acme.test", "first password")
    try:
        first = await hub.sign_in.sign_in(hub.engine, form, HERE, None)
        async with hub.engine.begin() as conn:
            enrolment = await hub.two_factor.begin(conn, first.principal.user_id)
            code = pyotp.TOTP(enrolment.secret).now()
            assert await hub.two_factor.confirm(conn, first.principal, code)
        with pytest.raises(ApiError, match="authenticator app"):
            await hub.sign_in.sign_in(hub.engine, form, HERE, None)

        result = run(url, "user", "reset-two-factor", "--user", user)
        assert (result.returncode, result.stdout) == (0, "two-factor removed; 1 session(s) ended\n")
        async with hub.engine.connect() as conn:
            assert await hub.sessions.find(conn, first.session.token) is None
            reset = await conn.execute(
                select(AuditEntry.actor_user_id, AuditEntry.os_user, AuditEntry.entity_id).where(
                    AuditEntry.action == "two_factor.reset"
                )
            )
            assert list(reset) == [(None, getpass.getuser(), user)]
        await hub.sign_in.sign_in(hub.engine, form, HERE, None)

        again = run(url, "user", "reset-two-factor", "--user", user)
        assert (again.returncode, again.stderr) == (
            1,
            "switchboard: this user has no two-factor to reset\n",
        )
        assert run(url, "user", "reset-two-factor", "--user", "999").returncode == 1
    finally:
        await hub.stop()
