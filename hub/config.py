"""Reads the SWITCHBOARD_* environment into typed settings; bad values fail with one line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/switchboard.db"
DEV_SECRET_KEY = "switchboard-development-secret-key-change-me"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and what is wrong."""


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


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    host = env.get("SWITCHBOARD_HOST", "127.0.0.1")
    port = _port(env.get("SWITCHBOARD_PORT", "8080"))
    database_url = _database_url(env.get("SWITCHBOARD_DATABASE_URL") or DEFAULT_DATABASE_URL)
    redis_url = env.get("SWITCHBOARD_REDIS_URL") or None
    if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"SWITCHBOARD_REDIS_URL must be a redis:// or rediss:// URL, got {redis_url!r}"
        )
    secret_key = env.get("SWITCHBOARD_SECRET_KEY") or DEV_SECRET_KEY
    if len(secret_key) < 32:
        raise ConfigError("SWITCHBOARD_SECRET_KEY must be at least 32 characters long")
    base_url = (env.get("SWITCHBOARD_BASE_URL") or f"http://{host}:{port}").rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise ConfigError(f"SWITCHBOARD_BASE_URL must be an http(s) URL, got {base_url!r}")
    lease = _lease_seconds(env.get("SWITCHBOARD_PULL_LEASE_SECONDS", "30"))
    return Settings(database_url, redis_url, secret_key, base_url, host, port, lease)


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
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return "sqlite+aiosqlite:///" + path
    raise ConfigError(
        f"SWITCHBOARD_DATABASE_URL must be a postgresql:// or sqlite:/// URL, got scheme {scheme!r}"
    )
