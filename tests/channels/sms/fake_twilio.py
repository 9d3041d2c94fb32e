"""A local stand-in for Twilio's Messages REST API, and a sender of signed status callbacks."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"
DEFAULT_CUSTOMER = "+15558675310"
DEFAULT_OUR_NUMBER = "+15017122661"
_MESSAGES_PATH = "/2010-04-01/Accounts/{account}/Messages.json"
_ACCOUNT_PATH = "/2010-04-01/Accounts/{account}.json"
FIXTURES = Path(__file__).with_name("fixtures")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, as it arrived."""

    method: str
    path: str
    auth: tuple[str, str] | None
    content_type: str
    form: tuple[tuple[str, str], ...]

    def field(self, name: str) -> str | None:
        """The first value of a form field, or None."""
        return next((value for key, value in self.form if key == name), None)

    def fields(self, name: str) -> list[str]:
        """Every value of a form field, in order (MediaUrl repeats)."""
        return [value for key, value in self.form if key == name]


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    body: bytes


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """The JSON body Twilio's REST API answers an error with."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio:
    """Speaks enough of Twilio's 2010-04-01 Messages API for adapter and end-to-end tests.

    By default every valid create answers 201 with a fresh Message (`SM` + 32 hex digits).
    `fail_next` / `respond_next` script the next answers; `drop_next` closes the connection
    without answering; `stall_next` holds a request to provoke client timeouts. Every request
    is recorded in `requests`, dropped ones included.
    """

    def __init__(
        self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.status = "active"
        """The account's status, as an Account lookup answers it (suspended, closed ...)."""
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self._scripted: deque[_Scripted] = deque()
        self._drops = 0
        self._stalls: deque[float] = deque()
        self._release = asyncio.Event()
        self._server: TestServer | None = None

    @property
    def base_url(self) -> str:
        """Where to point an adapter's provider_base_url, e.g. http://127.0.0.1:PORT."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=None)
        await self._server.start_server()

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()
            self._server = None

    def fail_next(self, status: int, code: int, message: str) -> None:
        """Answer the next request with this HTTP status and Twilio error JSON."""
        self.respond_next(status, twilio_error(status, code, message))

    def respond_next(self, status: int, body: dict[str, Any] | str | bytes) -> None:
        """Answer the next request with exactly this status and body (a dict becomes JSON)."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._scripted.append(_Scripted(status, body))

    def drop_next(self, n: int = 1) -> None:
        """Close the connection without an answer on the next `n` requests."""
        self._drops += n

    def stall_next(self, seconds: float) -> None:
        """Hold the next request this long (or until close) before answering it normally."""
        self._stalls.append(seconds)

    async def report_status(
        self, session: aiohttp.ClientSession, message_sid: str, status: str, **extra: str
    ) -> tuple[int, str]:
        """POST a signed status callback to the StatusCallback given when the message was made."""
        message = self.messages[message_sid]
        url = message["_status_callback"]
        if not url:
            raise LookupError(f"message {message_sid} was created without a StatusCallback")
        fields = {"To": message["to"], "From": message["from"], "AccountSid": self.account_sid}
        return await send_status_callback(
            session, url, self.auth_token, message_sid, status, **{**fields, **extra}
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = _record(request, body)
        self.requests.append(recorded)
        if self._stalls:
            await self._stall(self._stalls.popleft())
        if self._drops:
            self._drops -= 1
            return _drop_connection(request)
        if self._scripted:
            scripted = self._scripted.popleft()
            return web.Response(
                status=scripted.status, body=scripted.body, content_type="application/json"
            )
        return self._answer(request, recorded)

    async def _stall(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), seconds)

    def _answer(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        expected_path = _MESSAGES_PATH.format(account=self.account_sid)
        if recorded.auth != (self.account_sid, self.auth_token):
            return _json(401, twilio_error(401, 20003, "Authenticate"))
        if request.method == "GET" and recorded.path == _ACCOUNT_PATH.format(
            account=self.account_sid
        ):
            return _json(200, self._account())
        if request.method != "POST" or recorded.path != expected_path:
            message = f"The requested resource {recorded.path} was not found"
            return _json(404, twilio_error(404, 20404, message))
        problem = _invalid_create(recorded)
        if problem is not None:
            return _json(400, twilio_error(400, *problem))
        message = self._create_message(recorded)
        return _json(201, {k: v for k, v in message.items() if not k.startswith("_")})

    def _account(self) -> dict[str, Any]:
        """The Account resource, as the recorded fixture has it, for this fake's account."""
        account = json.loads((FIXTURES / "accounts_fetch__200.json").read_text())
        account.update(sid=self.account_sid, owner_account_sid=self.account_sid, status=self.status)
        return account

    def _create_message(self, recorded: RecordedRequest) -> dict[str, Any]:
        media = recorded.fields("MediaUrl")
        sid = ("MM" if media else "SM") + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=False)
        body = recorded.field("Body") or ""
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        message: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": recorded.field("From"),
            "messaging_service_sid": None,
            "num_media": str(len(media)),
            "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": recorded.field("To"),
            "uri": f"{base}.json",
            "_status_callback": recorded.field("StatusCallback"),
        }
        self.messages[sid] = message
        return message


async def send_status_callback(
    session: aiohttp.ClientSession,
    url: str,
    auth_token: str,
    message_sid: str,
    status: str,
    **extra: str,
) -> tuple[int, str]:
    """POST a status callback for `message_sid`, signed as Twilio signs it, to `url`.

    Fields follow Twilio's status callback; `extra` adds or overrides any of them
    (ErrorCode="30003", To=..., From=...). Returns the HTTP status and body of the answer.
    """
    fields = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": DEFAULT_CUSTOMER,
        "MessageSid": message_sid,
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "From": DEFAULT_OUR_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    fields.update(extra)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign_like_twilio(auth_token, url, fields),
    }
    async with session.post(url, data=urlencode(fields), headers=headers) as response:
        return response.status, await response.text()


def sign_like_twilio(auth_token: str, url: str, fields: dict[str, str]) -> str:
    """Twilio's documented recipe, kept separate from the adapter's code on purpose."""
    signed = url + "".join(name + fields[name] for name in sorted(fields))
    mac = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _record(request: web.Request, body: bytes) -> RecordedRequest:
    content_type = request.headers.get("Content-Type", "")
    form: tuple[tuple[str, str], ...] = ()
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = tuple(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return RecordedRequest(
        method=request.method,
        path=request.path,
        auth=_basic_auth(request.headers.get("Authorization", "")),
        content_type=content_type,
        form=form,
    )


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _invalid_create(recorded: RecordedRequest) -> tuple[int, str] | None:
    """Twilio's error code and message for an unacceptable create, or None."""
    if not recorded.field("To"):
        return 21604, "A 'To' phone number is required."
    if not recorded.field("From"):
        return 21603, "A 'From' phone number is required."
    body = recorded.field("Body") or ""
    if not body and not recorded.fields("MediaUrl"):
        return 21602, "Message body is required."
    if len(body) > 1600:
        return 21617, "The concatenated message body exceeds the 1600 character limit."
    return None


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, status=status)


def _drop_connection(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=500)
