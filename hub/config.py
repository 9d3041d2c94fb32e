"""Reads the SWITCHBOARD_* environment into typed settings; bad values fail with one line."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hub.client_addresses import ProxyListError, TrustedProxies
from hub.secret_key import key_from_data_folder, make_private_folder

DEFAULT_DATA_DIR = "var"
"""Where the embedded default keeps its SQLite database and, unless one is set, its secret key."""


DEFAULT_AUDIT_RETENTION_DAYS = 365
MAX_AUDIT_RETENTION_DAYS = 36_500


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and what is wrong."""


@dataclass(frozen=True, slots=True)
class SignInSettings:
    """Cookie sessions and the sign-in lockout (docs/operations.md lists their variables)."""

    idle_seconds: int = 8 * 3600
    """A session unused this long is over."""
    absolute_seconds: int = 7 * 24 * 3600
    """A session this old is over, however busy."""
    secure_cookies: bool = False
    """Mark the session cookie Secure: browsers then send it over TLS only."""
    max_failures: int = 5
    """Failed sign-ins for one email from one address before that pair is locked."""
    lockout_seconds: int = 15 * 60
    """How long the pair stays locked (counted from its first failure)."""
    max_address_failures: int = 50
    """Failed sign-ins from one address, whatever the emails, before the address is locked
    (for as long as a pair): guessing one password across many emails (password spraying)
    was unlimited, and every guess cost the hub an argon2 verification."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    base_url: str
    host: str
    port: int
    pull_lease_seconds: float = 30.0
    """How long a process's hold on a pull channel (a mailbox) lasts unless renewed."""
    secret_key_configured: bool = True
    """False when the key was generated into the data folder rather than set by the operator;
    `serve` then refuses to listen beyond this machine."""
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS
    """Audit entries older than this are removed by the scheduler."""
    sign_in: SignInSettings = SignInSettings()
    trusted_proxies: TrustedProxies = TrustedProxies()
    """Reverse proxies whose X-Forwarded-For names the client (rate limits, lockouts, audit)."""
    provider_urls_by_api: bool = False
    """Whether a channel's provider URL may be set through the API (it always may by the CLI)."""


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    host = env.get("SWITCHBOARD_HOST", "127.0.0.1")
    port = _port(env.get("SWITCHBOARD_PORT", "8080"))
    data_dir = Path(env.get("SWITCHBOARD_DATA_DIR") or DEFAULT_DATA_DIR)
    database_url = _database_url(
        env.get("SWITCHBOARD_DATABASE_URL") or f"sqlite:///{data_dir}/switchboard.db"
    )
    redis_url = env.get("SWITCHBOARD_REDIS_URL") or None
    if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"SWITCHBOARD_REDIS_URL must be a redis:// or rediss:// URL, got {redis_url!r}"
        )
    secret_key = env.get("SWITCHBOARD_SECRET_KEY") or None
    configured = secret_key is not None
    if secret_key is None:
        try:
            secret_key = key_from_data_folder(data_dir)
        except OSError as error:
            raise ConfigError(
                f"SWITCHBOARD_SECRET_KEY is not set and no key can be kept in "
                f"SWITCHBOARD_DATA_DIR ({data_dir}): {error.strerror}"
            ) from None
    if len(secret_key) < 32:
        raise ConfigError("SWITCHBOARD_SECRET_KEY must be at least 32 characters long")
    base_url = (env.get("SWITCHBOARD_BASE_URL") or f"http://{host}:{port}").rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise ConfigError(f"SWITCHBOARD_BASE_URL must be an http(s) URL, got {base_url!r}")
    lease = _lease_seconds(env.get("SWITCHBOARD_PULL_LEASE_SECONDS", "30"))
    retention = _retention_days(
        env.get("SWITCHBOARD_AUDIT_RETENTION_DAYS", str(DEFAULT_AUDIT_RETENTION_DAYS))
    )
    return Settings(
        database_url,
        redis_url,
        secret_key,
        base_url,
        host,
        port,
        lease,
        configured,
        data_dir,
        retention,
        _sign_in(env, base_url),
        _trusted_proxies(env.get("SWITCHBOARD_TRUSTED_PROXIES", "")),
        _switch(env, "SWITCHBOARD_API_PROVIDER_URLS"),
    )


def _switch(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "") or "false"
    if value not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value == "true"


def _trusted_proxies(text: str) -> TrustedProxies:
    try:
        return TrustedProxies.parse(text)
    except ProxyListError as error:
        raise ConfigError(f"SWITCHBOARD_TRUSTED_PROXIES: {error}") from None


def _sign_in(env: Mapping[str, str], base_url: str) -> SignInSettings:
    defaults = SignInSettings()
    secure = env.get("SWITCHBOARD_SECURE_COOKIES", "")
    if secure not in ("", "true", "false"):
        raise ConfigError(f"SWITCHBOARD_SECURE_COOKIES must be true or false, got {secure!r}")
    return SignInSettings(
        idle_seconds=_whole_number(env, "SWITCHBOARD_SESSION_IDLE_SECONDS", defaults.idle_seconds),
        absolute_seconds=_whole_number(
            env, "SWITCHBOARD_SESSION_MAX_SECONDS", defaults.absolute_seconds
        ),
        # Behind TLS (an https base URL) unless the operator says otherwise.
        secure_cookies=secure == "true" or (not secure and base_url.startswith("https://")),
        max_failures=_whole_number(env, "SWITCHBOARD_SIGNIN_MAX_FAILURES", defaults.max_failures),
        max_address_failures=_whole_number(
            env, "SWITCHBOARD_SIGNIN_MAX_ADDRESS_FAILURES", defaults.max_address_failures
        ),
        lockout_seconds=_whole_number(
            env, "SWITCHBOARD_SIGNIN_LOCKOUT_SECONDS", defaults.lockout_seconds
        ),
    )


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name) or str(default)
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 10**8:
        raise ConfigError(f"{name} must be a whole number from 1 to 100000000, got {value!r}")
    return int(value)


def require_configured_key_beyond_loopback(settings: Settings) -> None:
    """A key generated on first start is fine for a trial on this machine; a hub that others
    can reach must have one its operator set (and backs up, and gives every process)."""
    if settings.secret_key_configured or _loopback(settings.host):
        return
    raise ConfigError(
        f"SWITCHBOARD_SECRET_KEY must be set to serve on {settings.host}, beyond this machine "
        "(32+ random characters; keep it with your backups)"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lease_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= 3600:
        raise ConfigError(
            "SWITCHBOARD_PULL_LEASE_SECONDS must be a number of seconds from 1 to 3600, "
            f"got {value!r}"
        )
    return seconds


def _retention_days(value: str) -> int:
    days = int(value) if value.isascii() and value.isdigit() else 0
    if not 1 <= days <= MAX_AUDIT_RETENTION_DAYS:
        raise ConfigError(
            "SWITCHBOARD_AUDIT_RETENTION_DAYS must be a whole number of days from 1 to "
            f"{MAX_AUDIT_RETENTION_DAYS}, got {value!r}"
        )
    return days


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"SWITCHBOARD_PORT must be a TCP port number (1-65535), got {value!r}")
    return int(value)


def _database_url(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            make_private_folder(Path(path).parent)
        return "sqlite+aiosqlite:///" + path
    raise ConfigError(
        f"SWITCHBOARD_DATABASE_URL must be a postgresql:// or sqlite:/// URL, got scheme {scheme!r}"
    )
