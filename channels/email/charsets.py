"""Reads bytes in a declared charset as text, never raising: cleaned labels, fallbacks, detection.

The declared label is cleaned up and mapped to the superset real mail means
(gb2312 -> gb18030, ks_c_5601-1987 -> cp949, iso-8859-1 -> cp1252, shift_jis -> cp932, ...);
text declared as ASCII or a single-byte charset that is valid UTF-8 is read as UTF-8; then
the declared charset strictly; then charset-normalizer's guess (from 64 bytes on; shorter
unlabeled 8-bit text reads as windows-1252, mail's usual 8-bit charset); `errors="replace"` last.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

from charset_normalizer import from_bytes

_UNKNOWN_CHARSETS = {
    "",
    "x-unknown",
    "unknown",
    "unknown-8bit",
    "x-user-defined",
    "default",
    "charset",
    "none",
    "autodetect",
    "autodetect_all",
    "x-binaryenc",
    "binary",
    "8bit",
    "7bit",
}
_NOT_TEXT_CODECS = {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined"}
_ISO2022JP_VIA_CP932 = "x-iso2022jp-via-cp932"
# Python codec -> codecs to try strictly, in order (the superset real mail means first).
_FAMILIES: dict[str, tuple[str, ...]] = {
    "ascii": ("ascii",),
    "iso8859_1": ("cp1252", "latin_1"),
    "latin_1": ("cp1252", "latin_1"),
    "iso8859_9": ("cp1254", "iso8859_9"),
    "iso8859_11": ("cp874",),
    "tis_620": ("cp874",),
    "iso8859_8": ("iso8859_8", "cp1255"),
    "iso8859_6": ("iso8859_6", "cp1256"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "hz": ("hz", "gb18030"),
    "euc_kr": ("cp949",),
    "cp949": ("cp949",),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "cp932": ("cp932", "shift_jis_2004"),
    "shift_jis_2004": ("shift_jis_2004", "cp932"),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
    "iso2022_jp": (
        "iso2022_jp",
        "iso2022_jp_2",
        "iso2022_jp_ext",
        "iso2022_jp_2004",
        "iso2022_jp_3",
        _ISO2022JP_VIA_CP932,
    ),
    "big5": ("big5", "cp950", "big5hkscs"),
    "cp950": ("cp950", "big5hkscs"),
}
for _variant in (
    "iso2022_jp_1",
    "iso2022_jp_2",
    "iso2022_jp_3",
    "iso2022_jp_ext",
    "iso2022_jp_2004",
):
    _FAMILIES[_variant] = (_variant, *_FAMILIES["iso2022_jp"])
# Single-byte charsets almost any byte string decodes in; valid UTF-8 wins over them.
_UTF8_FIRST_PREFIXES = (
    "ascii",
    "latin_1",
    "iso8859",
    "cp125",
    "koi8",
    "mac_",
    "cp437",
    "cp850",
    "cp874",
)
_MIN_DETECTION_BYTES = 64  # below this, detection is noise: windows-1252 is the better bet
_DETECTABLE = [
    "utf_8",
    "cp1252",
    "cp1250",
    "cp1251",
    "koi8_r",
    "koi8_u",
    "iso8859_2",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp932",
    "euc_jp",
    "iso2022_jp",
    "gb18030",
    "big5",
    "cp949",
    "cp874",
]


def decode_text(data: bytes, charset: str | None, *, hint: str | None = None) -> str:
    """Bytes as text in the declared charset, never raising: see the module docstring."""
    if not data:
        return ""
    declared = _codec_chain(charset) or ("ascii", *_codec_chain(hint))
    for codec in _strict_order(declared):
        text = _strict(data, codec)
        if text is not None:
            return text
    utf8_or_unknown = declared[0] in ("utf_8", "ascii")
    if utf8_or_unknown and _mostly_utf8(data):
        return data.decode("utf-8", "replace")
    detected = _detect(data) if len(data) >= _MIN_DETECTION_BYTES else None
    if detected is not None:
        return detected
    return data.decode("cp1252" if utf8_or_unknown else declared[0], "replace")


def _strict_order(declared: tuple[str, ...]) -> tuple[str, ...]:
    """Valid UTF-8 first for single-byte charsets (they decode anything), else last."""
    if declared[0].startswith(_UTF8_FIRST_PREFIXES):
        return ("utf_8", *declared)
    return declared if "utf_8" in declared else (*declared, "utf_8")


def _codec_chain(label: str | None) -> tuple[str, ...]:
    codec = _lookup_codec(label)
    if codec is None:
        return ()
    return _FAMILIES.get(codec, (codec,))


def _lookup_codec(label: str | None) -> str | None:
    """The Python codec for a charset label as found in the wild, or None if unknown."""
    if label is None:
        return None
    name = label.strip().strip("\"'").strip().lower().replace("$esc", "")
    name = re.sub(r"[^a-z0-9_.:+()-]", "", name).strip("_")
    if name in _UNKNOWN_CHARSETS:
        return None
    for candidate in _label_variants(name):
        try:
            info = codecs.lookup(candidate)
        except LookupError:
            continue
        codec = info.name.replace("-", "_")
        if codec in _NOT_TEXT_CODECS or not getattr(info, "_is_text_encoding", True):
            return None
        return codec
    return None


def _label_variants(name: str) -> Iterable[str]:
    yield name
    bare = name[2:] if name.startswith("x-") else name
    yield bare
    yield re.sub(r"^(windows|win|ms|cp)-?", "cp", bare)
    yield re.sub(r"-[ie]$", "", bare)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        if codec == _ISO2022JP_VIA_CP932:
            return _iso2022jp_via_cp932(data)
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError):
        return None


def _mostly_utf8(data: bytes) -> bool:
    """Declared UTF-8 with a few broken bytes: keep UTF-8 rather than guess another charset."""
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return good > broken


def _detect(data: bytes) -> str | None:
    """charset-normalizer's best reading; ties broken towards windows-1252, mail's usual 8-bit."""
    try:
        matches = list(from_bytes(data, cp_isolation=_DETECTABLE))
    except Exception:  # detection is only a hint
        return None
    if not matches:
        return None
    least_chaos = min(m.chaos for m in matches)
    calm = [m for m in matches if m.chaos == least_chaos]
    best_coherence = max(m.coherence for m in calm)
    best = [m for m in calm if m.coherence >= best_coherence - 1e-9]
    chosen = min(
        best,
        key=lambda m: (
            _DETECTABLE.index(m.encoding) if m.encoding in _DETECTABLE else len(_DETECTABLE)
        ),
    )
    return str(chosen)


_JIS_ESCAPES = {
    b"\x1b(B": "ascii",
    b"\x1b(J": "ascii",
    b"\x1b(I": "kana",
    b"\x1b$@": "jis",
    b"\x1b$B": "jis",
}


def _iso2022jp_via_cp932(data: bytes) -> str:
    """ISO-2022-JP as Windows writes it (NEC/IBM extensions like ①): re-coded via cp932."""
    out = bytearray()
    mode = "ascii"
    i = 0
    while i < len(data):
        escape = next((e for e in _JIS_ESCAPES if data.startswith(e, i)), None)
        if escape is not None:
            mode = _JIS_ESCAPES[escape]
            i += len(escape)
        elif data[i] == 0x1B or data[i] >= 0x80:
            raise ValueError("not ISO-2022-JP with JIS X 0208 only")
        elif data[i] in (0x0E, 0x0F):
            mode = "kana" if data[i] == 0x0E else "ascii"
            i += 1
        elif mode == "jis" and data[i] not in (0x0A, 0x0D):
            out += _jis_to_sjis(data[i], data[i + 1] if i + 1 < len(data) else 0)
            i += 2
        else:
            out.append(data[i] | 0x80 if mode == "kana" and 0x21 <= data[i] <= 0x5F else data[i])
            i += 1
    return bytes(out).decode("cp932")


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
        raise ValueError("not a JIS X 0208 byte pair")
    s1 = ((j1 - 0x21) >> 1) + 0x81
    if s1 > 0x9F:
        s1 += 0x40
    odd_row = j1 % 2 == 1
    s2 = (j2 + 0x1F + (j2 >= 0x60)) if odd_row else j2 + 0x7E
    return bytes((s1, s2))


def usable_as_hint(charset: str | None) -> bool:
    """A declared body charset that can also read raw 8-bit header bytes (ASCII-compatible)."""
    codec = _lookup_codec(charset)
    return (
        codec is not None
        and codec != "ascii"
        and not codec.startswith(("utf_16", "utf_32", "utf_7", "iso2022", "hz"))
    )


_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)


def html_meta_charset(payload: bytes) -> str | None:
    """The charset an HTML document names in its <meta> tag (in its first 4 KiB), if any."""
    match = _META_CHARSET.search(payload[:4096])
    return match.group(1).decode("ascii") if match else None
