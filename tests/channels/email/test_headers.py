"""Tests for channels.email.headers: encoded-words and address normalization."""

from __future__ import annotations

import pytest

from channels.email.headers import decode_header_text, normalize_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"),
        ("Re: =?ISO-8859-1?Q?Gr=FC=DFe?=", "Re: Grüße"),
        ("=?UTF-8?B?8J+T?= =?UTF-8?B?pg==?=", "📦"),  # one character split over two words
        ("=?UTF-8?B?8J+Tpg?=", "📦"),  # unpadded base64
        ("=?utf-8?Q?two words?= here", "two words here"),
        ("=?utf-8?b?w7xiZXI", "über"),  # never terminated
        ("=?x-unknown?Q?Pr=C3=BCfung?=", "Prüfung"),
        ("=?utf-8*de?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # RFC 2231 language suffix
        ("=?bogus?B?@@@?= ok", "ok"),
        ("plain\r\n folded\r\n\tsubject", "plain folded subject"),
        ("caf\udce9 au lait", "café au lait"),  # raw 8-bit latin-1 byte in a header
        ("Gr\udcc3\udcbc\udcc3\udc9fe", "Grüße"),  # raw 8-bit UTF-8 in a header
    ],
)
def test_decode_header_text(raw: str, expected: str) -> None:
    assert decode_header_text(raw) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("John.Doe@Example.COM", "john.doe@example.com"),
        ("<a@b.c>", "a@b.c"),
        ("mailto:Sales@Example.org", "sales@example.org"),
        ("root@localhost", "root@localhost"),
        ("no-at-sign", None),
        ("@example.com", None),
        ("user@", None),
        ("a b@example.com", None),
        ("user@exa mple.com", None),
    ],
)
def test_normalize_email(value: str, expected: str | None) -> None:
    assert normalize_email(value) == expected
