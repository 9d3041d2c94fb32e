"""Request values written to logs cannot forge lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.log_text import printable


def test_line_breaks_and_escapes_are_shown_not_obeyed() -> None:
    forged = "From\n2026-12-06 INFO hub: admin signed in\r\x1b[2J\u2028x\\n"
    shown = printable(forged)
    assert shown == "From\\n2026-12-06 INFO hub: admin signed in\\r\\x1b[2J\\u2028x\\\\n"


def test_letters_of_every_script_stay_readable() -> None:
    assert printable("سارا احمدی Lena Vögel 山田") == "سارا احمدی Lena Vögel 山田"


def test_long_values_are_cut() -> None:
    assert printable("x" * 1000, limit=10) == "x" * 10 + "…"


@given(st.text())
def test_nothing_printed_can_end_a_line(value: str) -> None:
    shown = printable(value, limit=10_000)
    assert shown.splitlines() in ([shown], [])
