"""Tests for channels.email.imap_url: mailbox URLs and after-import actions."""

from __future__ import annotations

import pytest

from channels.email.imap_url import AfterImport, MailboxUrl


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imap://bob:secret@mail.example.com/INBOX", ("imap", "mail.example.com", 143, "INBOX")),
        ("imaps://bob:secret@mail.example.com", ("imaps", "mail.example.com", 993, "INBOX")),
        ("IMAPS://bob:secret@Mail.Example.com:1993/", ("imaps", "mail.example.com", 1993, "INBOX")),
        ("imap://bob:secret@127.0.0.1:10143/inbox", ("imap", "127.0.0.1", 10143, "INBOX")),
        ("imap://bob:secret@[::1]:143/Support", ("imap", "::1", 143, "Support")),
        ("imap://bob:secret@host/Archive/2024", ("imap", "host", 143, "Archive/2024")),
        ("imap://bob:secret@host/Gr%C3%BC%C3%9Fe%20Box", ("imap", "host", 143, "Grüße Box")),
    ],
)
def test_mailbox_url_parses(url: str, expected: tuple[str, str, int, str]) -> None:
    parsed = MailboxUrl.parse(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.mailbox) == expected
    assert (parsed.user, parsed.password) == ("bob", "secret")
    assert parsed.tls is (parsed.scheme == "imaps")


def test_mailbox_url_percent_decodes_user_and_password_and_hides_the_password() -> None:
    parsed = MailboxUrl.parse("imaps://support%40example.com:p%40ss%3Aw%2Fo%25rd%23@host")
    assert parsed.user == "support@example.com"
    assert parsed.password == "p@ss:w/o%rd#"
    assert "p@ss" not in repr(parsed) and "p@ss" not in str(parsed)
    unencoded = MailboxUrl.parse("imap://a@example.com:pa:ss@host")
    assert (unencoded.user, unencoded.password) == ("a@example.com", "pa:ss")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("http://bob:secret@host/", "imap:// or imaps://"),
        ("bob:secret@host", "imap:// or imaps://"),
        ("imap://bob:secret@/INBOX", "no host"),
        ("imap://:secret@host/INBOX", "no user"),
        ("imap://bob@host/INBOX", "no password"),
        ("imap://bob:secret@host:99999/INBOX", "port"),
        ("imap://bob:secret@host:0/INBOX", "port"),
        ("imap://bob:secret@host:abc/INBOX", "port"),
        ("imap://bob:secret@host/INBOX?x=1", "query"),
        ("imap://bob:se#cret@host/INBOX", "fragment"),
        ("imap://bob:se%0Acret@host/INBOX", "control character"),
        ("imap://bob:secret@host/IN%0DBOX", "control character"),
    ],
)
def test_mailbox_url_rejects_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        MailboxUrl.parse(url)
    assert "secret" not in str(raised.value)


def test_after_import_action_parsing() -> None:
    assert AfterImport.parse("none") == AfterImport("none")
    assert AfterImport.parse(" SEEN ") == AfterImport("seen")
    assert AfterImport.parse("move:Archive/2024") == AfterImport("move", "Archive/2024")
    for bad in ("", "move:", "move: ", "seen:x", "delete", "move:a\r\nb"):
        with pytest.raises(ValueError):
            AfterImport.parse(bad)
