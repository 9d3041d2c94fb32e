"""The secret key when none is configured: generated once into the data folder, readable by its
owner only, and read from there by every later command of the same installation."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret_key"


def key_from_data_folder(data_dir: Path) -> str:
    """The key kept in `data_dir`, made (and announced, once) if there is none yet.

    O_EXCL makes two commands starting at once agree: the one that loses the race reads the
    winner's key. OSError (a folder that cannot be written) is left to the caller.
    """
    path = data_dir / KEY_FILE_NAME
    make_private_folder(data_dir)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    log.warning(
        "SWITCHBOARD_SECRET_KEY is not set: generated one into %s (mode 0600). It encrypts the "
        "channels' credentials: back it up with the database, or set SWITCHBOARD_SECRET_KEY.",
        path,
    )
    return key


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and its parents) if missing; one the hub creates is its owner's only."""
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
