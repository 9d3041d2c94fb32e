"""The sign-in settings read from the environment: defaults, Secure cookies behind TLS, and one
clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, SignInSettings, load_settings
from tests.conftest import TEST_SECRET_KEY


def _settings(tmp_path: Path, **env: str) -> SignInSettings:
    base = {"SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY, "SWITCHBOARD_DATA_DIR": str(tmp_path)}
    return load_settings({**base, **env}).sign_in


def test_sign_in_defaults_and_secure_cookies_behind_tls(tmp_path: Path) -> None:
    assert _settings(tmp_path) == SignInSettings()
    assert _settings(tmp_path, SWITCHBOARD_BASE_URL="https://hub.example").secure_cookies
    behind_proxy = _settings(tmp_path, SWITCHBOARD_SECURE_COOKIES="true")
    assert behind_proxy.secure_cookies
    assert not _settings(
        tmp_path, SWITCHBOARD_BASE_URL="https://hub.example", SWITCHBOARD_SECURE_COOKIES="false"
    ).secure_cookies
    tuned = _settings(
        tmp_path,
        SWITCHBOARD_SESSION_IDLE_SECONDS="600",
        SWITCHBOARD_SESSION_MAX_SECONDS="86400",
        SWITCHBOARD_SIGNIN_MAX_FAILURES="3",
        SWITCHBOARD_SIGNIN_LOCKOUT_SECONDS="60",
        SWITCHBOARD_SIGNIN_MAX_ADDRESS_FAILURES="30",
    )
    assert tuned == SignInSettings(600, 86400, False, 3, 60, 30)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SWITCHBOARD_SESSION_IDLE_SECONDS", "0"),
        ("SWITCHBOARD_SESSION_MAX_SECONDS", "-5"),
        ("SWITCHBOARD_SIGNIN_MAX_FAILURES", "٣"),
        ("SWITCHBOARD_SIGNIN_LOCKOUT_SECONDS", "1e3"),
        ("SWITCHBOARD_SECURE_COOKIES", "yes"),
    ],
)
def test_a_bad_sign_in_setting_fails_with_its_name(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        _settings(tmp_path, **{name: value})
