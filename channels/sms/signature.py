"""Twilio's X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted form parameters."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from functools import lru_cache

FormParams = Mapping[str, str] | Iterable[tuple[str, str]]
"""Form parameters as a mapping or as (name, value) pairs; pairs may repeat a name."""

_STANDARD_PORTS = {"https": "443", "http": "80"}


def twilio_signature(auth_token: str, url: str, params: FormParams) -> str:
    """The signature Twilio sends for a request to `url` carrying these form parameters.

    Twilio's documented rule: start from the full URL (query string included), append every
    parameter sorted by name as name + value with no separators, HMAC-SHA1 the result keyed
    with the auth token, and base64 the digest. A name that occurs several times contributes
    each of its distinct values, sorted, as Twilio's own helper libraries do.
    """
    return _signature(auth_token.encode("utf-8"), url, _signed_params(params))


def signature_matches(auth_token: str, url: str, params: FormParams, signature: str) -> bool:
    """True when `signature` is Twilio's for this URL (with or without its port) and params.

    Each candidate URL's signature is compared in constant time. A match ends the search (the
    URL as given, the usual case, is tried first): which variant matched tells the sender
    nothing it did not sign itself. A forged signature is compared with every candidate.
    """
    key = auth_token.encode("utf-8")
    signed_params = _signed_params(params)
    offered = signature.encode("utf-8")
    return any(
        hmac.compare_digest(_signature(key, candidate, signed_params).encode("ascii"), offered)
        for candidate in url_variants(url)
    )


def _signature(key: bytes, url: str, signed_params: str) -> str:
    digest = hmac.digest(key, (url + signed_params).encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest).decode("ascii")


def _signed_params(params: FormParams) -> str:
    return "".join(map("".join, _sorted_pairs(params)))


@lru_cache(maxsize=1024)
def url_variants(url: str) -> tuple[str, ...]:
    """The URL as given, without its port, and with the scheme's standard port if it had none.

    Twilio may sign the URL with or without the port, so its libraries accept either form.
    """
    split = _split_authority(url)
    if split is None:
        return (url,)
    head, userinfo, host, port, tail = split
    without_port = head + userinfo + host + tail
    variants = [url, without_port]
    standard = _STANDARD_PORTS.get(head.split(":", 1)[0].lower())
    if port is None and standard is not None:
        variants.append(head + userinfo + host + ":" + standard + tail)
    return tuple(dict.fromkeys(variants))


def _split_authority(url: str) -> tuple[str, str, str, str | None, str] | None:
    """Cut `url` into (scheme://, userinfo@, host, port, rest) without re-encoding anything."""
    scheme_end = url.find("://")
    if scheme_end <= 0:
        return None
    head = url[: scheme_end + 3]
    rest = url[scheme_end + 3 :]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, hostport = authority.rpartition("@")
    userinfo += at
    host, port = _split_port(hostport)
    return head, userinfo, host, port, tail


def _split_port(hostport: str) -> tuple[str, str | None]:
    """Separate a trailing :port from a host, leaving IPv6 literals like [::1] whole."""
    bracket = hostport.rfind("]")
    colon = hostport.rfind(":")
    if colon > bracket and hostport[colon + 1 :].isdigit():
        return hostport[:colon], hostport[colon + 1 :]
    return hostport, None


def _pairs(params: FormParams) -> Iterable[tuple[str, str]]:
    if isinstance(params, Mapping):
        return list(params.items())
    return params


def _sorted_pairs(params: FormParams) -> list[tuple[str, str]]:
    """Names sorted by code point; each name's distinct values sorted the same way.

    Sorting the distinct (name, value) pairs does both at once: tuples compare name first.
    """
    return sorted(set(_pairs(params)))
