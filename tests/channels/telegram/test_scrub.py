"""Bot tokens never reach a log line or an error message: tried on what python-telegram-bot,
httpx (which it sends through) and aiohttp really log and raise with a token in the URL."""

from __future__ import annotations

import io
import logging

import aiohttp
import pytest
from telegram.error import InvalidToken

from channels.telegram.scrub import REDACTED, TokenScrubber, scrub

from .conftest import bot_for
from .fake_bot_api import DEFAULT_TOKEN, FakeBotApi

WRONG_TOKEN = "7012345678:AAHwrongWRONGwrong0123456789abcdefgh"
SECRET = DEFAULT_TOKEN.split(":")[1]


def test_a_known_token_is_replaced_and_the_bot_id_kept() -> None:
    line = f"POST https://api.telegram.org/bot{DEFAULT_TOKEN}/sendMessage failed"
    assert scrub(line, [DEFAULT_TOKEN]) == (
        f"POST https://api.telegram.org/bot7012345678:{REDACTED}/sendMessage failed"
    )


def test_a_token_of_any_shape_is_replaced_when_known_even_url_encoded() -> None:
    odd = "12:short/odd token"
    assert scrub(f"url=/bot12%3Ashort%2Fodd%20token/getMe {odd}", [odd]) == (
        f"url=/bot12:{REDACTED}/getMe 12:{REDACTED}"
    )
    assert scrub("not-numbered-token here", ["not-numbered-token"]) == f"{REDACTED} here"
    assert scrub("id:part of a token", ["id:part"]) == f"{REDACTED} of a token"


def test_anything_shaped_like_a_token_is_replaced_even_when_unknown() -> None:
    assert SECRET not in scrub(f"/bot{DEFAULT_TOKEN}/getMe")
    assert SECRET not in scrub(f"/bot{DEFAULT_TOKEN.replace(':', '%3A')}/getMe")
    assert scrub("order 48213:paid at 10:30:15") == "order 48213:paid at 10:30:15"


async def test_python_telegram_bots_invalid_token_error_is_scrubbed(
    fake_bot_api: FakeBotApi,
) -> None:
    with pytest.raises(InvalidToken) as refused:
        await bot_for(fake_bot_api, WRONG_TOKEN).initialize()
    assert WRONG_TOKEN in str(refused.value), "the library does put the token in its message"
    assert WRONG_TOKEN.split(":")[1] not in scrub(str(refused.value))


async def test_aiohttps_response_error_is_scrubbed(fake_bot_api: FakeBotApi) -> None:
    async with aiohttp.ClientSession(raise_for_status=True) as http:
        with pytest.raises(aiohttp.ClientResponseError) as refused:
            async with http.get(f"{fake_bot_api.base_url}{WRONG_TOKEN}/getMe"):
                pass
    assert WRONG_TOKEN in str(refused.value), "aiohttp puts the URL in its message"
    assert scrub(str(refused.value), [WRONG_TOKEN]).count(REDACTED) == 1


@pytest.fixture
def scrubbed_log() -> io.StringIO:
    """Everything logged, through a handler carrying the scrubber, as it would be written."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(TokenScrubber([DEFAULT_TOKEN]))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield written
    root.removeHandler(handler)
    root.setLevel(level)


class _Raw(logging.Handler):
    """Keeps each message as it is before any other handler's filter sees the record."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_the_librarys_log_lines_carry_the_token_until_scrubbed(
    fake_bot_api: FakeBotApi, scrubbed_log: io.StringIO
) -> None:
    raw = _Raw()
    logging.getLogger().handlers.insert(0, raw)
    try:
        async with bot_for(fake_bot_api) as bot:
            await bot.get_me()
    finally:
        logging.getLogger().removeHandler(raw)
    assert any(SECRET in m and m.startswith("Set Bot API URL") for m in raw.messages)
    assert any(SECRET in m and m.startswith("HTTP Request: POST") for m in raw.messages)
    written = scrubbed_log.getvalue()
    assert "HTTP Request: POST" in written and "Set Bot API URL" in written
    assert SECRET not in written


def test_an_exception_logged_with_its_traceback_is_scrubbed(scrubbed_log: io.StringIO) -> None:
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{DEFAULT_TOKEN}/getMe")
    except ConnectionError:
        logging.getLogger("switchboard.test").exception("sending failed for %s", DEFAULT_TOKEN)
    written = scrubbed_log.getvalue()
    assert "ConnectionError: cannot reach https://api.telegram.org/bot7012345678:" in written
    assert "Traceback" in written and SECRET not in written


def test_a_record_whose_arguments_do_not_fit_is_still_scrubbed(scrubbed_log: io.StringIO) -> None:
    logger = logging.getLogger("switchboard.test")
    logger.warning(f"token {DEFAULT_TOKEN} and %s %s", "only one argument")
    assert SECRET not in scrubbed_log.getvalue()
    assert f"token 7012345678:{REDACTED}" in scrubbed_log.getvalue()


def test_a_stack_is_scrubbed() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "stack", (), None)
    record.stack_info = f'Stack (most recent call last):\n  get("/bot{DEFAULT_TOKEN}/getMe")'
    TokenScrubber([DEFAULT_TOKEN]).filter(record)
    assert SECRET not in record.stack_info and "/bot7012345678:" in record.stack_info


def test_tokens_can_be_added_to_a_running_scrubber() -> None:
    scrubber = TokenScrubber()
    scrubber.tokens.add("x-odd-token")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "using %s", ("x-odd-token",), None)
    assert scrubber.filter(record) is True
    assert record.getMessage() == f"using {REDACTED}"
