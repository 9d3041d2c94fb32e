"""Fixtures for email tests: a real Dovecot IMAP server and a fresh account per test."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator

import pytest

from tests.channels.email.dovecot import Dovecot, DovecotError, ImapAccount, dovecot_available

_account_numbers = itertools.count(1)


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the session; skipped when not installed, a failure under CI=true."""
    if not dovecot_available():
        message = (
            "dovecot is not installed (Debian package dovecot-imapd); "
            "run scripts/install-system-deps.sh as root"
        )
        if _ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    if os.geteuid() != 0:
        message = "the test Dovecot must be started as root (it drops privileges itself)"
        if _ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    server = Dovecot()
    try:
        server.start()
    except DovecotError as exc:
        pytest.fail(f"could not start the test Dovecot: {exc}", pytrace=False)
    yield server
    server.stop()


def _new_account(dovecot: Dovecot) -> ImapAccount:
    name = f"user{next(_account_numbers)}-{secrets.token_hex(3)}"
    user = dovecot.add_user(name, secrets.token_urlsafe(12) + "%@/?# ")
    return ImapAccount(server=dovecot, user=user)


@pytest.fixture
def imap_account(dovecot: Dovecot) -> ImapAccount:
    """A new user with a random password; its INBOX exists (Dovecot creates it at login)."""
    return _new_account(dovecot)


@pytest.fixture
def other_imap_account(dovecot: Dovecot) -> ImapAccount:
    """A second new user, for a mailbox of another workspace."""
    return _new_account(dovecot)
