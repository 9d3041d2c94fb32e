"""Twilio's standard opt-out, opt-in and help keywords, recognised in an inbound SMS."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class KeywordKind(StrEnum):
    """What a keyword message asks for; the values are Twilio's OptOutType values, lower-cased."""

    OPT_OUT = "stop"
    OPT_IN = "start"
    HELP = "help"


OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

_KIND_BY_KEYWORD = (
    {word: KeywordKind.OPT_OUT for word in OPT_OUT_KEYWORDS}
    | {word: KeywordKind.OPT_IN for word in OPT_IN_KEYWORDS}
    | {word: KeywordKind.HELP for word in HELP_KEYWORDS}
)
_KIND_BY_OPT_OUT_TYPE = {
    "STOP": KeywordKind.OPT_OUT,
    "START": KeywordKind.OPT_IN,
    "HELP": KeywordKind.HELP,
}


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """A recognised keyword message: what it asks for and the word the customer sent."""

    kind: KeywordKind
    keyword: str


def classify_keyword(body: str, opt_out_type: str | None = None) -> KeywordMatch | None:
    """Recognise a keyword message, preferring Twilio's own OptOutType verdict when present.

    Twilio counts a message as a keyword only when the whole trimmed body is the keyword,
    in any letter case ("Stop" is one, "stop please" is not). With Advanced Opt-Out a
    Messaging Service may define its own keywords; then only OptOutType tells us.
    """
    text = body.strip()
    word = text.upper()
    if opt_out_type:
        kind = _KIND_BY_OPT_OUT_TYPE.get(opt_out_type.strip().upper())
        if kind is not None:
            return KeywordMatch(kind=kind, keyword=word or opt_out_type.strip().upper())
    if not text.isascii():  # "ſtop".upper() == "STOP": only plain letters count
        return None
    kind = _KIND_BY_KEYWORD.get(word)
    return None if kind is None else KeywordMatch(kind=kind, keyword=word)
