"""The CLI reads every number as the API does: the digits 0-9 within the column's range, or a
clear usage error (never a Unicode digit read as another id, never a traceback from the
database refusing a number past 64 bits)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from hub.cli import _parser
from hub.cli_args import row_id, whole_number
from timeline.models.base import MAX_BIGINT


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield from _actions(command)


def test_no_argument_is_read_by_int_alone() -> None:
    assert [action.dest for action in _actions(_parser()) if action.type is int] == []


@pytest.mark.parametrize(
    "text", ["٢", "²", "+2", " 2", "2.0", "2_0", "0", "-1", str(MAX_BIGINT + 1), "", "x"]
)
@pytest.mark.parametrize(
    "command",
    [
        ["user", "deactivate", "--user"],
        ["token", "revoke", "--workspace", "1"],
        ["channel", "update"],
        ["quarantine", "replay", "1"],
        ["customer", "export", "--workspace"],
    ],
)
def test_ids_out_of_range_or_not_in_ascii_digits_are_usage_errors(
    command: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args([*command, text])
    assert exited.value.code == 2
    expected = f"expected a whole number from 1 to {MAX_BIGINT} in the digits 0-9, got {text!r}"
    assert expected in capsys.readouterr().err


def test_the_range_is_inclusive() -> None:
    assert row_id("1") == 1
    assert row_id(str(MAX_BIGINT)) == MAX_BIGINT
    days = whole_number(1, 36_500)
    assert days("36500") == 36_500
    with pytest.raises(argparse.ArgumentTypeError):
        days("36501")
