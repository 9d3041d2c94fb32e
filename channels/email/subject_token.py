"""Our conversation token in email subjects, `[#SB-<10 letters or digits>]`: found, added once."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\[#SB-([0-9A-Z]{10})\]", re.IGNORECASE)


def find_subject_token(subject: str) -> str | None:
    """The first token of ours in a subject, upper-cased (mail clients keep it as we wrote it)."""
    match = _TOKEN.search(subject)
    return match.group(1).upper() if match else None


def with_subject_token(subject: str, token: str) -> str:
    """`subject` carrying `[#SB-<token>]` exactly once, at the end unless it is already there.

    Other tokens of ours (from an older conversation the customer replied to) are removed, so
    the next reply cannot thread by them.
    """
    wanted = token.upper()
    kept = False

    def keep_first(match: re.Match[str]) -> str:
        nonlocal kept
        if match.group(1).upper() == wanted and not kept:
            kept = True
            return match.group(0)
        return ""

    text = " ".join(_TOKEN.sub(keep_first, subject).split())
    return text if kept else f"{text} [#SB-{wanted}]".lstrip()
