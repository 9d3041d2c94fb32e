"""`switchboard channel add`: options made from the channel's spec, the provider asked first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.channels.sms.fake_twilio import FakeTwilio
from tests.hub.test_cli import run
from tests.workspace import SMS_ACCOUNT_SID, SMS_AUTH_TOKEN

SID = SMS_ACCOUNT_SID
TOKEN = SMS_AUTH_TOKEN


def _add_sms(url: str, base_url: str, token: str, *extra: str) -> tuple[int, str, str]:
    done = run(
        url,
        *("channel", "add", "sms", "--workspace", "1", "--address", "+1 415 555 0100"),
        *("--account-sid", SID, "--auth-token", token, "--provider-base-url", base_url),
        *extra,
    )
    return done.returncode, done.stdout, done.stderr


async def test_the_provider_is_asked_before_the_channel_is_stored(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    url = f"sqlite:///{tmp_path}/check.db"
    assert run(url, "migrate").returncode == 0
    assert run(url, "workspace", "create", "Acme").returncode == 0

    code, _, error = await asyncio.to_thread(_add_sms, url, twilio.base_url, "a-wrong-token")
    assert code == 1
    assert error.strip() == (
        "switchboard: sms check failed: Twilio refused this account SID and auth token"
        " (--no-check skips it)"
    )
    twilio.status = "suspended"
    code, _, error = await asyncio.to_thread(_add_sms, url, twilio.base_url, TOKEN)
    assert code == 1 and "the Twilio account is suspended, not active" in error
    assert run(url, "channel", "list", "--json").stdout.strip() == "[]"

    twilio.status = "active"
    code, out, _ = await asyncio.to_thread(_add_sms, url, twilio.base_url, TOKEN)
    assert code == 0 and out.strip().isdigit()
    assert any(r.path == f"/2010-04-01/Accounts/{SID}.json" for r in twilio.requests)
    listed = run(url, "channel", "list").stdout
    assert "sms/twilio  +14155550100  active" in listed, "the number in E.164"


def test_each_kind_takes_the_options_its_spec_declares(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/options.db"
    sms = run(url, "channel", "add", "sms", "--help").stdout
    assert "--account-sid ACCOUNT-SID" in sms and "--auth-token AUTH-TOKEN" in sms
    assert "--imap-url" not in sms
    email = run(url, "channel", "add", "email", "--help").stdout
    assert "--imap-url IMAP-URL" in email and "--after-import AFTER-IMPORT" in email
    assert run(url, "migrate").returncode == 0
    missing = run(url, "channel", "add", "sms", "--workspace", "1", "--address", "+14155550100")
    assert missing.returncode == 1
    assert "credential account_sid: Field required" in missing.stderr
    not_a_number = run(
        url,
        *("channel", "add", "sms", "--workspace", "1", "--address", "call me"),
        *("--account-sid", SID, "--auth-token", TOKEN, "--no-check"),
    )
    assert not_a_number.returncode == 1 and "not a phone number" in not_a_number.stderr
    unknown = run(url, "channel", "add", "fax", "--workspace", "1")
    assert unknown.returncode == 2 and "invalid choice: 'fax'" in unknown.stderr
