"""The `switchboard` command as a user runs it: migrate, demo, users, tokens, quarantine."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from channels.base import MalformedPayload
from channels.sms.simulate import inbound_sms_form
from channels.sms.twilio import TwilioSmsAdapter
from hub.context import Hub
from hub.intake import take_in
from hub.replay import replay_quarantined
from tests.conftest import TEST_SECRET_KEY, free_port
from tests.workspace import OUR_NUMBER, seed_workspace
from timeline.events import RawPayload
from timeline.models import TimelineEvent
from timeline.policy import READING

SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))


def run(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
        **env,
    }
    return subprocess.run(
        [SWITCHBOARD, *args], env=environment, capture_output=True, text=True, timeout=60
    )


def test_demo_prints_one_json_object_with_what_a_client_needs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    assert run(url, "migrate").returncode == 0
    result = run(url, "demo", "--json", "--provider-base-url", "http://127.0.0.1:4010")
    assert result.returncode == 0, result.stderr
    demo = json.loads(result.stdout)
    assert {"workspace_id", "api_token", "base_url", "agents", "channels"} <= set(demo)
    assert demo["api_token"].startswith("sbt_")
    assert all({"email", "password"} <= set(agent) for agent in demo["agents"])
    sms = demo["channels"]["sms"]
    assert sms["provider"] == "twilio" and sms["secret"]
    key = sms["webhook_url"].removeprefix("http://127.0.0.1:8080/webhooks/sms/twilio/")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key), "an unguessable key, not the channel's id"


def test_users_tokens_and_channels_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert run(url, "migrate").returncode == 0
    workspace = run(url, "workspace", "create", "Acme", "--country", "DE").stdout.strip()
    user = run(
        url,
        "user",
        "create",
        "--workspace",
        workspace,
        "--email",
        "Ann@Acme.test",
        "--name",
        "Ann",
        "--role",
        "admin",
        "--password",
        "s3cret-pass",
    )
    assert user.returncode == 0, user.stderr
    token = run(url, "token", "create", "--user", user.stdout.strip())
    assert token.stdout.startswith("sbt_")
    channel = run(
        url,
        "channel",
        "add",
        "sms",
        "--workspace",
        workspace,
        "--address",
        "+4930123456",
        "--account-sid",
        "AC" + "2" * 32,
        "--auth-token",
        "tok",
        "--no-check",
    )
    assert channel.returncode == 0, channel.stderr
    channel_id = int(channel.stdout.strip())
    webhook_url = channel.stderr.strip().removeprefix("webhook URL: ")
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/webhooks/sms/twilio/[\w-]{43}", webhook_url)
    [listed] = json.loads(run(url, "channel", "list", "--json").stdout)
    assert (listed["id"], listed["webhook_url"]) == (channel_id, webhook_url)
    assert listed["active"] is True
    updated = run(
        url, "channel", "update", str(channel_id), "--deactivate", "--credential", "auth_token=new"
    )
    assert updated.returncode == 0, updated.stderr
    assert "revision 2" in updated.stdout
    [listed] = json.loads(run(url, "channel", "list", "--json").stdout)
    assert listed["active"] is False
    emptied = run(url, "channel", "update", str(channel_id), "--credential", "auth_token=")
    assert emptied.returncode == 1 and "auth_token" in emptied.stderr
    assert json.loads(run(url, "channel", "list", "--json").stdout)[0]["active"] is False
    rotated = run(url, "channel", "update", str(channel_id), "--rotate-webhook-key")
    assert rotated.returncode == 0, rotated.stderr
    new_url = rotated.stderr.strip().removeprefix("webhook URL: ")
    assert new_url != webhook_url
    assert json.loads(run(url, "channel", "list", "--json").stdout)[0]["webhook_url"] == new_url
    missing = run(url, "token", "create", "--user", "4242")
    assert missing.returncode == 1 and "no user 4242" in missing.stderr


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("SWITCHBOARD_PORT", "eighty", "SWITCHBOARD_PORT"),
        ("SWITCHBOARD_SECRET_KEY", "short", "at least 32"),
        ("SWITCHBOARD_DATABASE_URL", "mysql://x", "SWITCHBOARD_DATABASE_URL"),
        ("SWITCHBOARD_REDIS_URL", "http://localhost", "SWITCHBOARD_REDIS_URL"),
        ("SWITCHBOARD_PULL_LEASE_SECONDS", "0.1", "SWITCHBOARD_PULL_LEASE_SECONDS"),
        ("SWITCHBOARD_PULL_LEASE_SECONDS", "soon", "SWITCHBOARD_PULL_LEASE_SECONDS"),
    ],
)
def test_bad_configuration_fails_with_one_clear_line(
    tmp_path: Path, variable: str, value: str, words: str
) -> None:
    result = run(f"sqlite:///{tmp_path}/x.db", "migrate", **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


@pytest.mark.parametrize(
    "command", [["serve"], ["workspace", "create", "Acme"], ["token", "list", "--workspace", "1"]]
)
def test_commands_refuse_an_unmigrated_database_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """`serve` always did; the others ended in a traceback (no such table)."""
    result = run(f"sqlite:///{tmp_path}/empty.db", *command)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"switchboard: the database schema is at nothing, not \d{4}: run `switchboard migrate`",
        last_line,
    )
    assert "Traceback" not in result.stderr


def test_commands_name_a_database_they_cannot_reach(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"
    result = run(url, "token", "list", "--workspace", "1")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("switchboard: cannot reach the database:")


def test_arguments_that_are_not_utf8_are_a_usage_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates, which no database stores."""
    url = f"sqlite:///{tmp_path}/x.db"
    result = subprocess.run(
        [SWITCHBOARD.encode(), b"workspace", b"create", b"Acme\xff"],
        env={**os.environ, "SWITCHBOARD_DATABASE_URL": url},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"arguments must be UTF-8 text; this one is not: 'Acme\\\\xff'" in result.stderr


async def test_a_quarantined_payload_is_listed_and_replays_after_a_fix(
    hub: Hub, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await seed_workspace(hub)
    await hub.start()
    channel = await hub.channels.get(ws.sms_channel_id)
    fields = inbound_sms_form(sender="+14155550123", recipient=OUR_NUMBER, body="Olá")
    raw = RawPayload("application/x-www-form-urlencoded", urlencode(fields).encode())

    def broken_parser(
        self: TwilioSmsAdapter, payload: RawPayload, decoded: object = None
    ) -> list[object]:
        raise MalformedPayload("parser bug: cannot read Body")

    with monkeypatch.context() as patch:
        patch.setattr(TwilioSmsAdapter, "parse", broken_parser)
        result = await take_in(hub, channel, raw)
    assert result.quarantined_id is not None

    listing = run(database_url, "quarantine", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    [item] = json.loads(listing.stdout)
    assert item["id"] == result.quarantined_id and "parser bug" in item["error"]

    assert await replay_quarantined(hub) == [(result.quarantined_id, None)]
    async with hub.engine.connect() as conn:
        bodies = (await conn.execute(select(TimelineEvent.body))).scalars().all()
    assert bodies == ["Olá"]
    assert json.loads(run(database_url, "quarantine", "list", "--json").stdout) == []


def test_replaying_what_still_fails_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    assert run(url, "migrate").returncode == 0
    demo = json.loads(run(url, "demo", "--json").stdout)

    async def quarantine_garbage() -> None:
        from hub.config import load_settings

        hub = Hub(
            load_settings(
                {"SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY}
            )
        )
        channel = await hub.channels.get(demo["channels"]["sms"]["id"])
        await take_in(hub, channel, RawPayload("application/x-www-form-urlencoded", b"\xff\xfe"))
        await hub.stop()

    asyncio.run(quarantine_garbage())
    replay = run(url, "quarantine", "replay")
    assert replay.returncode == 1
    assert "0 replayed, 1 still failing" in replay.stdout


def test_teams_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/teams.db"
    assert run(url, "migrate").returncode == 0
    workspace = run(url, "workspace", "create", "Acme").stdout.strip()
    for email in ("ann@acme.test", "bob@acme.test"):
        made = run(url, "user", "create", "--workspace", workspace, "--email", email, "--name", "x")
        assert made.returncode == 0, made.stderr
    team = run(
        url,
        *("team", "create", "--workspace", workspace, "--name", "Billing"),
        *("--member", "Ann@acme.test", "--member", "bob@acme.test"),
    )
    assert team.returncode == 0, team.stderr
    assert team.stdout.strip().isdigit()
    again = run(url, "team", "create", "--workspace", workspace, "--name", "Billing")
    assert again.returncode == 1 and "already exists" in again.stderr
    stranger = run(
        url,
        *("team", "create", "--workspace", workspace, "--name", "Sales"),
        *("--member", "eve@elsewhere.test"),
    )
    assert stranger.returncode == 1 and "eve@elsewhere.test" in stranger.stderr


def _bare(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A command run as a new user runs it: in a fresh folder, no SWITCHBOARD_* set."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [SWITCHBOARD, *args],
        env={**environment, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_secret_key_one_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = _bare(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("generated one into var/secret_key") == 1
    demo = _bare(tmp_path, "demo", "--json")
    assert demo.returncode == 0, demo.stderr
    assert "generated" not in demo.stderr
    sms_id = str(json.loads(demo.stdout)["channels"]["sms"]["id"])
    # A later command decrypts what the demo encrypted: the same key, read from the file.
    changed = _bare(tmp_path, "channel", "update", sms_id, "--credential", "auth_token=" + "x" * 32)
    assert changed.returncode == 0, changed.stderr
    var = tmp_path / "var"
    modes = {path.name: path.stat().st_mode & 0o777 for path in (var, *var.iterdir())}
    assert modes == {"var": 0o700, "secret_key": 0o600, "switchboard.db": 0o600}
    assert len((var / "secret_key").read_text().strip()) >= 43


def test_serving_beyond_this_machine_needs_a_configured_key(tmp_path: Path) -> None:
    refused = _bare(tmp_path, "serve", SWITCHBOARD_HOST="0.0.0.0")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "switchboard: configuration error: SWITCHBOARD_SECRET_KEY must be set to serve on "
        "0.0.0.0, beyond this machine (32+ random characters; keep it with your backups)"
    )


def test_the_embedded_database_and_its_journal_are_private(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [SWITCHBOARD, "serve", "--migrate", "--demo-if-empty"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
            "SWITCHBOARD_PORT": str(port),
        },
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if (tmp_path / "var" / "switchboard.db-wal").exists():
                break
            time.sleep(0.1)
        files = sorted((tmp_path / "var").iterdir())
    finally:
        server.kill()
        server.wait()
    assert {path.name for path in files} >= {"switchboard.db", "switchboard.db-wal"}
    assert {path.name: path.stat().st_mode & 0o777 for path in files} == {
        path.name: 0o600 for path in files
    }


def test_audit_verify_names_an_edited_entry_and_commands_name_their_user(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path}/audit.db"
    assert run(url, "migrate").returncode == 0
    assert run(url, "workspace", "create", "Acme").returncode == 0
    intact = run(url, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert "1 entries in 1 chains" in intact.stdout
    with sqlite3.connect(tmp_path / "audit.db") as db:
        [(entry_id, os_user)] = db.execute("SELECT id, os_user FROM audit_log").fetchall()
        assert os_user and os_user == os.environ.get("USER", os_user)
        db.execute("DROP TRIGGER audit_log_append_only")  # the database's own guard, gone
        db.execute('UPDATE audit_log SET changes = \'{"name": "Evil"}\'')
    broken = run(url, "audit", "verify")
    assert broken.returncode == 1
    assert f"entry #{entry_id} was changed" in broken.stdout


def test_tokens_are_created_scoped_listed_and_revoked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tokens.db"
    assert run(url, "migrate").returncode == 0
    workspace = run(url, "workspace", "create", "Acme").stdout.strip()
    user = run(
        url, "user", "create", "--workspace", workspace, "--email", "a@a.test", "--name", "A"
    )
    created = run(
        url,
        "token",
        "create",
        "--user",
        user.stdout.strip(),
        "--name",
        "ro",
        "--read-only",
        "--expires-in-days",
        "5",
    )
    assert created.returncode == 0 and created.stdout.startswith("sbt_"), created.stderr
    [listed] = json.loads(run(url, "token", "list", "--workspace", workspace, "--json").stdout)
    assert listed["name"] == "ro" and listed["permissions"] == sorted(READING)
    assert listed["expires_at"] and listed["revoked_at"] is None
    revoked = run(url, "token", "revoke", "--workspace", workspace, str(listed["id"]))
    assert revoked.returncode == 0, revoked.stderr
    [listed] = json.loads(run(url, "token", "list", "--workspace", workspace, "--json").stdout)
    assert listed["revoked_at"] is not None
    elsewhere = run(
        url, "token", "revoke", "--workspace", str(int(workspace) + 1), str(listed["id"])
    )
    assert elsewhere.returncode == 1 and "no API token" in elsewhere.stderr
