"""Tests for channels.email.charsets: labels found in the wild, fallbacks, detection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.email.charsets import decode_text

FRENCH = "Bonjour, je n'arrive pas à me connecter à mon compte depuis hier. Merci, Cécile"


def iso2022jp_windows(jis_pairs: bytes) -> bytes:
    return b"\x1b$B" + jis_pairs + b"\x1b(B"


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("Grüße".encode(), "us-ascii", "Grüße"),
        ("Grüße".encode(), "iso-8859-1", "Grüße"),
        ("Grüße".encode(), '"utf8"', "Grüße"),
        ("Grüße".encode(), "UTF-8;", "Grüße"),
        ("Grüße".encode(), "x-unknown", "Grüße"),
        ("Grüße".encode(), None, "Grüße"),
        ("Grüße".encode(), "zlib", "Grüße"),
        (b"\\u0041", "unicode_escape", "\\u0041"),
        ("“Grüße” – 5 €…".encode("cp1252"), "iso-8859-1", "“Grüße” – 5 €…"),
        ("“quoted” – 5 €".encode("cp1252"), "us-ascii", "“quoted” – 5 €"),
        (FRENCH.encode("cp1252"), None, FRENCH),  # long enough for charset detection
        ("朱镕基".encode("gbk"), "gb2312", "朱镕基"),
        ("朱镕基".encode("gb18030"), "x-gbk", "朱镕基"),
        ("똠방각하".encode("cp949"), "ks_c_5601-1987", "똠방각하"),
        ("Preis: 20 €".encode("utf-7"), "unicode-1-1-utf-7", "Preis: 20 €"),
        ("テスト～①".encode("cp932"), "shift_jis", "テスト～①"),
        ("テスト".encode("iso2022_jp"), "_iso-2022-jp$ESC", "テスト"),
        (iso2022jp_windows(b'-!-"'), "iso-2022-jp", "①②"),
        ("中文測試".encode("big5"), "big5", "中文測試"),
        ("สวัสดี".encode("cp874"), "windows-874", "สวัสดี"),
        ("שלום".encode("iso8859_8"), "iso-8859-8-i", "שלום"),
        ("Здравствуйте".encode("koi8-r"), "koi8-r", "Здравствуйте"),
        ("Здравствуйте".encode("cp1251"), "windows-1251", "Здравствуйте"),
        ("Grüße".encode() + b"\xff" + "Köln".encode(), "utf-8", "Grüße\ufffdKöln"),
        ("Grüße aus Köln".encode("cp1252"), "utf-8", "Grüße aus Köln"),
        ("テスト".encode(), "shift_jis", "テスト"),
        (b"", "utf-8", ""),
    ],
)
def test_decode_text(data: bytes, label: str | None, expected: str) -> None:
    assert decode_text(data, label) == expected


@given(
    st.binary(max_size=300),
    st.sampled_from(
        [
            None,
            "utf-8",
            "us-ascii",
            "iso-8859-1",
            "iso-2022-jp",
            "gb2312",
            "utf-7",
            "utf-16",
            "x-unknown",
            "ks_c_5601-1987",
            "shift_jis",
            "big5",
            "koi8-r",
            "rot13",
            "base64",
        ]
    ),
)
@settings(max_examples=200, deadline=None)
def test_decode_text_never_raises(data: bytes, label: str | None) -> None:
    assert isinstance(decode_text(data, label), str)
