"""Tests for channels.email.flowed: format=flowed soft breaks and space-stuffing."""

from __future__ import annotations

from channels.email.flowed import unflow


def test_unflow() -> None:
    flowed = "This is a \nflowed line.\n> quoted \n> flowed\n-- \nSig\n  stuffed"
    assert unflow(flowed) == "This is a flowed line.\n> quoted flowed\n-- \nSig\n stuffed"
    assert unflow("one \ntwo", delsp=True) == "onetwo"
