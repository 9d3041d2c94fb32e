"""Keys derived from the secret key: encryption at rest (Fernet) and keyed hashes (HMAC)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret_key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        secret_key.encode()
    )


class KeyedHash:
    """HMAC-SHA256 of secrets a database thief must not be able to use or guess offline.

    `purpose` separates the uses (a session id is no recovery code), so one kind of secret can
    never be replayed as another."""

    def __init__(self, secret_key: str) -> None:
        self._key = _derive(secret_key, b"switchboard/sign-in-hashes/v1")

    def digest(self, purpose: str, value: str) -> str:
        message = purpose.encode() + b"\x00" + value.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


class SecretBox:
    """Authenticated encryption (Fernet) keyed by SWITCHBOARD_SECRET_KEY through HKDF."""

    def __init__(self, secret_key: str) -> None:
        derived = _derive(secret_key, b"switchboard/credentials/v1")
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, values: Mapping[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(dict(values)).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ValueError(
                "channel credentials cannot be decrypted: SWITCHBOARD_SECRET_KEY changed?"
            ) from None
