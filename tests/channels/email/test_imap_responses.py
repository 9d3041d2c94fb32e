"""Tests for channels.email.imap_responses: FETCH literals and quoted mailbox names."""

from __future__ import annotations

import pytest

from channels.email.imap_errors import ImapConnectionLost
from channels.email.imap_responses import FetchedMessage, encode_mailbox_name, parse_fetch_lines


def test_mailbox_names_are_quoted_in_modified_utf7() -> None:
    assert encode_mailbox_name("INBOX") == '"INBOX"'
    assert encode_mailbox_name('Say "hi" \\ & bye') == '"Say \\"hi\\" \\\\ &- bye"'
    assert encode_mailbox_name("Entw\u00fcrfe") == '"Entw&APw-rfe"'
    assert encode_mailbox_name("\u65e5\u672c\u8a9e") == '"&ZeVnLIqe-"'


def test_fetch_parsing_handles_literals_items_after_them_and_unsolicited_updates() -> None:
    lines: list[bytes | bytearray] = [
        b"1 FETCH (UID 7 BODY[] {5}",
        bytearray(b"hello"),
        b" FLAGS (\\Seen $Label))",
        b"2 FETCH (FLAGS (\\Deleted))",
        b"3 FETCH (UID 9 FLAGS () BODY[] {0}",
        bytearray(b""),
        b")",
    ]
    assert parse_fetch_lines(lines) == [
        FetchedMessage(uid=7, raw=b"hello", flags=("\\Seen", "$Label")),
        FetchedMessage(uid=9, raw=b"", flags=()),
    ]
    assert all(type(m.raw) is bytes for m in parse_fetch_lines(lines))
    # Literals are recognised by position, so a future aioimaplib giving them as bytes works.
    as_bytes = [bytes(line) for line in lines]
    assert parse_fetch_lines(as_bytes) == parse_fetch_lines(lines)
    with pytest.raises(ImapConnectionLost, match="truncated"):
        parse_fetch_lines([b"1 FETCH (UID 7 BODY[] {9}", bytearray(b"hello"), b")"])
