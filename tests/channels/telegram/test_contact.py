"""A shared contact's number is international whether or not it has its '+', and comes out as
the E.164 the pipeline's own normalization (timeline/identities.py) leaves unchanged."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.telegram.contact import international_phone
from timeline.identities import InvalidIdentity, normalize_phone

REGIONS = ["US", "GB", "IR", "DE", "IN", "BR", "FR", "AE", "TR", "RU", "NG", "JP", "AU", "CA"]


@pytest.mark.parametrize(
    "given",
    [
        "989121234567",
        "+989121234567",
        "+98 912 123 4567",
        "00989121234567",
        "۹۸۹۱۲۱۲۳۴۵۶۷",
        "۰۰۹۸۹۱۲۱۲۳۴۵۶۷",
        " 98-912-123-4567 ",
    ],
)
def test_every_spelling_telegram_clients_send_is_one_number(given: str) -> None:
    assert international_phone(given) == "+989121234567"


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("workspace_country", ["US", "IR", "GB"])
def test_the_result_is_what_the_pipeline_keeps_in_any_workspace(
    region: str, workspace_country: str
) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert international_phone(e164.removeprefix("+")) == e164
    assert normalize_phone(international_phone(e164.removeprefix("+")), workspace_country) == e164


def test_without_the_plus_the_pipeline_alone_would_read_another_number() -> None:
    """Why the channel adds the '+' itself: read in a US workspace, Telegram's "447700900123"
    is not the British mobile it is."""
    try:
        as_local = normalize_phone("447700900123", "US")
    except InvalidIdentity:
        as_local = None
    assert as_local != international_phone("447700900123") == "+447700900123"


@pytest.mark.parametrize("given", ["12", "98912", "not a number", "+", "00"])
def test_what_is_not_a_possible_number_is_refused(given: str) -> None:
    with pytest.raises(ValueError):
        international_phone(given)


@given(st.text(max_size=40))
def test_any_text_is_a_number_in_e164_or_refused(text: str) -> None:
    try:
        number = international_phone(text)
    except ValueError:
        return
    assert number.startswith("+") and number[1:].isascii() and number[1:].isdigit()
