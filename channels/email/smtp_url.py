"""SmtpUrl: an outbound SMTP server's address, TLS mode and login, parsed from one URL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

_DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_OPTION_NAME = re.compile(r"[A-Za-z_]{1,32}")
_ENCODE_HINT = "percent-encode '@', ':', '/', '?' and '#' in the user and password"


class StartTls(StrEnum):
    """What a plain smtp:// connection does about STARTTLS."""

    AUTO = "auto"  # upgrade when the server offers it
    NO = "no"  # never upgrade
    REQUIRE = "require"  # upgrade, and refuse to send when the server does not offer it


@dataclass(frozen=True, slots=True)
class SmtpUrl:
    """Where and how to submit mail; str() and repr() never show the password.

    `smtp://[user[:password]@]host[:port][?starttls=auto|no|require][&tls_verify=yes|no]`
    (port 587 by default) or `smtps://...` (implicit TLS, port 465 by default, no starttls
    option). User and password are percent-decoded. An smtp:// URL that logs in (has a user)
    defaults to `starttls=require`, so a password never crosses the network in clear unless
    `starttls=no` says so; without a login the default is `auto`.
    """

    host: str
    port: int
    implicit_tls: bool = False
    starttls: StartTls = StartTls.AUTO
    tls_verify: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpUrl:
        """Parse an smtp:// or smtps:// URL; raise ValueError naming what is wrong."""
        if not isinstance(url, str) or not url.strip():
            raise ValueError("SMTP URL is empty; expected smtp://user:password@host:587")
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(
                f"SMTP URL must start with smtp:// or smtps:// (got {_safe_scheme(scheme)!r})"
            )
        _reject_extras(parts.path, parts.fragment)
        username, password = _credentials(parts.netloc)
        options = _options(parts.query)
        implicit_tls = scheme == "smtps"
        if implicit_tls and "starttls" in options:
            raise ValueError("SMTP URL: starttls does not apply to smtps:// (TLS from the start)")
        return cls(
            host=_host(parts.hostname),
            port=_port(parts, _DEFAULT_PORTS[scheme]),
            implicit_tls=implicit_tls,
            starttls=_starttls(options.get("starttls", _default_starttls(username))),
            tls_verify=_boolean("tls_verify", options.get("tls_verify", "yes")),
            username=username,
            password=password,
        )

    @property
    def scheme(self) -> str:
        return "smtps" if self.implicit_tls else "smtp"

    def __str__(self) -> str:
        login = f"{quote(self.username, safe='')}:***@" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = []
        if not self.implicit_tls and self.starttls is not StartTls.AUTO:
            query.append(f"starttls={self.starttls.value}")
        if not self.tls_verify:
            query.append("tls_verify=no")
        suffix = "?" + "&".join(query) if query else ""
        return f"{self.scheme}://{login}{host}:{self.port}{suffix}"

    def __repr__(self) -> str:
        return f"SmtpUrl({str(self)!r})"


def _safe_scheme(scheme: str) -> str:
    return scheme if _OPTION_NAME.fullmatch(scheme) else "something else"


def _reject_extras(path: str, fragment: str) -> None:
    if path not in ("", "/"):
        raise ValueError(f"SMTP URL must not have a path after the host; {_ENCODE_HINT}")
    if fragment:
        raise ValueError(f"SMTP URL must not have a '#' fragment; {_ENCODE_HINT}")


def _credentials(netloc: str) -> tuple[str | None, str | None]:
    if "@" not in netloc:
        return None, None
    userinfo = netloc.rpartition("@")[0]
    user, has_password, password = userinfo.partition(":")
    if not user:
        raise ValueError("SMTP URL has an empty user name before '@'")
    return unquote(user), unquote(password) if has_password else None


def _host(hostname: str | None) -> str:
    if not hostname:
        raise ValueError("SMTP URL has no host; expected smtp://user:password@host:587")
    return hostname


def _port(parts: SplitResult, default: int) -> int:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        return default
    if not 1 <= port <= 65535:
        raise ValueError(f"SMTP URL port must be a number from 1 to 65535; {_ENCODE_HINT}")
    return port


def _options(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"SMTP URL has a malformed query string; {_ENCODE_HINT}") from None
    for name, value in pairs:
        key = name.lower()
        if key not in ("starttls", "tls_verify"):
            shown = repr(name) if _OPTION_NAME.fullmatch(name) else "an option"
            raise ValueError(
                f"SMTP URL has {shown} it does not know; expected starttls and tls_verify"
            )
        if key in options:
            raise ValueError(f"SMTP URL gives {key} twice")
        options[key] = value.strip().lower()
    return options


def _default_starttls(username: str | None) -> StartTls:
    """Require STARTTLS where the client logs in (AUTH would send the password in clear)."""
    return StartTls.AUTO if username is None else StartTls.REQUIRE


def _starttls(value: str) -> StartTls:
    try:
        return StartTls(value)
    except ValueError:
        raise ValueError("SMTP URL: starttls must be auto, no or require") from None


def _boolean(name: str, value: str) -> bool:
    if value not in _BOOLEANS:
        raise ValueError(f"SMTP URL: {name} must be yes or no")
    return _BOOLEANS[value]
