"""Twilio's default STOP / START / HELP keywords and the OptOutType override."""

from __future__ import annotations

import pytest

from channels.sms.keywords import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    KeywordKind,
    KeywordMatch,
    classify_keyword,
)


def test_keyword_lists_are_twilios_defaults() -> None:
    # help.twilio.com "Twilio support for opt-out keywords (SMS STOP filtering)" and the
    # Advanced Opt-Out tutorial: these are the defaults on long codes and toll-free numbers.
    assert {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPTOUT",
        "REVOKE",
    } == OPT_OUT_KEYWORDS
    assert {"START", "YES", "UNSTOP"} == OPT_IN_KEYWORDS
    assert {"HELP", "INFO"} == HELP_KEYWORDS


@pytest.mark.parametrize(
    ("body", "kind", "keyword"),
    [
        ("STOP", KeywordKind.OPT_OUT, "STOP"),
        ("stop", KeywordKind.OPT_OUT, "STOP"),
        ("  sToP \n", KeywordKind.OPT_OUT, "STOP"),
        ("StopAll", KeywordKind.OPT_OUT, "STOPALL"),
        ("unsubscribe", KeywordKind.OPT_OUT, "UNSUBSCRIBE"),
        ("Cancel", KeywordKind.OPT_OUT, "CANCEL"),
        ("end", KeywordKind.OPT_OUT, "END"),
        ("QUIT", KeywordKind.OPT_OUT, "QUIT"),
        ("optout", KeywordKind.OPT_OUT, "OPTOUT"),
        ("Revoke", KeywordKind.OPT_OUT, "REVOKE"),
        ("start", KeywordKind.OPT_IN, "START"),
        ("Yes", KeywordKind.OPT_IN, "YES"),
        ("UNSTOP", KeywordKind.OPT_IN, "UNSTOP"),
        ("help", KeywordKind.HELP, "HELP"),
        ("\tINFO ", KeywordKind.HELP, "INFO"),
    ],
)
def test_whole_message_keywords(body: str, kind: KeywordKind, keyword: str) -> None:
    assert classify_keyword(body) == KeywordMatch(kind=kind, keyword=keyword)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "stop please",
        "please stop",
        "STOP.",
        "S T O P",
        "stopp",
        "yes!",
        "ſtop",  # Latin long s: upper-cases to "STOP" but is not what Twilio matches
        "ＳＴＯＰ",  # fullwidth letters
    ],
)
def test_anything_but_the_bare_keyword_is_an_ordinary_message(body: str) -> None:
    assert classify_keyword(body) is None


def test_opt_out_type_wins_for_a_custom_keyword() -> None:
    # Advanced Opt-Out lets a Messaging Service add its own words; only OptOutType tells us.
    assert classify_keyword("Baja", "STOP") == KeywordMatch(KeywordKind.OPT_OUT, "BAJA")
    assert classify_keyword("arrêt", "stop") == KeywordMatch(KeywordKind.OPT_OUT, "ARRÊT")
    assert classify_keyword("Alta", "START") == KeywordMatch(KeywordKind.OPT_IN, "ALTA")
    assert classify_keyword("Ayuda", "HELP") == KeywordMatch(KeywordKind.HELP, "AYUDA")


def test_opt_out_type_overrides_the_body() -> None:
    assert classify_keyword("START", "STOP") == KeywordMatch(KeywordKind.OPT_OUT, "START")


def test_empty_body_takes_the_keyword_from_opt_out_type() -> None:
    assert classify_keyword("", "HELP") == KeywordMatch(KeywordKind.HELP, "HELP")


def test_unknown_opt_out_type_falls_back_to_the_body() -> None:
    assert classify_keyword("stop", "SOMETHING") == KeywordMatch(KeywordKind.OPT_OUT, "STOP")
    assert classify_keyword("hello", "SOMETHING") is None
    assert classify_keyword("stop", "") == KeywordMatch(KeywordKind.OPT_OUT, "STOP")
