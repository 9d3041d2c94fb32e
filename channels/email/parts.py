"""Reads one MIME part tolerantly: type, parameters, filename, Content-ID, decoded bytes."""

from __future__ import annotations

from email import policy as email_policy
from email.message import Message
from email.utils import collapse_rfc2231_value

from channels.email.headers import HeaderFields, fix_surrogates, unfold


def part_children(part: Message) -> list[Message]:
    """The sub-parts of a multipart or message/* part (none for a leaf)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return []


def part_content_type(part: Message) -> str:
    """`type/subtype`, lower-cased."""
    try:
        return part.get_content_type().lower()
    except Exception:  # an unreadable Content-Type counts as text/plain
        return "text/plain"


def part_disposition(part: Message) -> str | None:
    """`inline`, `attachment` or None, lower-cased."""
    try:
        value = part.get_content_disposition()
    except Exception:
        return None
    return value.lower() if value else None


def part_params(part: Message, header: str = "content-type") -> dict[str, str]:
    """A header's parameters from one reading of it (each reading parses the header anew):
    names lower-cased, the first of each name kept, RFC 2231 continuations joined."""
    try:
        pairs = part.get_params(header=header) or []
    except Exception:
        return {}
    params: dict[str, str] = {}
    for name, value in pairs:
        text = collapse_rfc2231_value(value) if isinstance(value, tuple) else value
        params.setdefault(name.lower(), str(text).strip())
    return params


def part_param(part: Message, name: str, header: str = "content-type") -> str | None:
    """A header parameter's value (RFC 2231 continuations joined), or None."""
    return part_params(part, header).get(name.lower())


def part_filename(part: Message) -> str | None:
    """The filename from Content-Disposition, else Content-Type's name, as written, or None."""
    try:
        name = part.get_filename()  # falls back to Content-Type's name itself
    except Exception:  # an unreadable Content-Disposition: Content-Type's name, if readable
        name = part_param(part, "name")
    return fix_surrogates(str(name), None) if name else None


def part_content_id(part: Message) -> str | None:
    """The Content-ID without <> and whitespace, or None."""
    values = HeaderFields.of(part).all("content-id")
    if not values:
        return None
    value = "".join(fix_surrogates(unfold(values[0]), None).split()).strip("<>")
    return value or None


def decoded_payload(part: Message, defects: list[str]) -> bytes:
    """The part's body with its transfer encoding undone (as is, with a defect, if it fails)."""
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"undecodable part body ({type(exc).__name__}); kept as is")
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def serialized(msg: Message) -> bytes:
    """A message as bytes, with the most faithful serializer that does not fail on it."""
    for policy in (msg.policy.clone(max_line_length=None, linesep="\r\n"), email_policy.compat32):
        try:
            return msg.as_bytes(policy=policy)
        except Exception:  # try the next, more lenient serializer
            continue
    return msg.as_string(policy=email_policy.compat32).encode("utf-8", "surrogateescape")
