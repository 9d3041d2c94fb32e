"""A local stand-in for the Telegram Bot API server: the same URLs (`/bot<token>/<method>`,
`/file/bot<token>/<path>`), the same ways of passing parameters (query string, form,
multipart, JSON), the same answers (`{"ok": true, "result": ...}`, or `{"ok": false,
"error_code", "description", "parameters"}`), so python-telegram-bot talks to it unchanged
through `Bot(token, base_url=fake.base_url, base_file_url=fake.base_file_url)`.

It keeps what a bot's server side keeps: the queue of updates getUpdates confirms by offset
(long polling included, one poller at a time), the webhook and its secret token, the
messages sent, the files uploaded and those a test puts in chats for getFile to find. It
records every call and can be told to refuse the next ones as Telegram does (429 with
retry_after, 403 from a user who blocked the bot, any 400).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.telegram.utf16 import Utf16Index

from .markup_reader import MarkupError, parse_html, parse_markdown_v2

DEFAULT_TOKEN = "7012345678:AAHfakeFAKEfake0123456789abcdefghij"
"""The demo bot's token: BotFather's shape (bot id, ':', 35 URL-safe characters)."""
DEFAULT_BOT_USERNAME = "switchboard_demo_bot"
MAX_TEXT_UNITS = 4096
MAX_CAPTION_UNITS = 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
"""getFile refuses larger files: bots download at most 20 MB."""
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
"""What a bot receives when allowed_updates was never set, or set to []: everything except
chat_member, message_reaction and message_reaction_count, which must be asked for."""
_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEBHOOK_PORTS = (443, 80, 88, 8443)
_BLOCKED = "Forbidden: bot was blocked by the user"


class ApiError(Exception):
    """An error answer: HTTP status = error_code, and the JSON the Bot API sends with it."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request, as received: the method as spelled, the parameters (scalars as the
    strings they are on the wire, arrays and objects decoded), the files uploaded."""

    method: str
    params: dict[str, Any]
    files: dict[str, Upload] = field(default_factory=dict)
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file the server holds: what getFile describes and the file URL serves."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_size: int


@dataclass
class Webhook:
    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


class FakeBotApi:
    """One bot's Bot API server. Start it, point a Bot at `base_url` and `base_file_url`."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = DEFAULT_BOT_USERNAME,
        allow_any_webhook_url: bool = False,
    ) -> None:
        self.token = token
        self.me = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Switchboard Support",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.allow_any_webhook_url = allow_any_webhook_url
        """Take http:// URLs on any port, for delivering webhooks to a local hub."""
        self.calls: list[ApiCall] = []
        self.webhook = Webhook()
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.updates: list[dict[str, Any]] = []
        """Pending updates, oldest first: getUpdates drops those below its offset."""
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        self.downloads: list[str] = []
        """The file paths downloaded, in order."""
        self.blocked_by: set[int] = set()
        """Chats (private chats are users) whose user blocked the bot: sends answer 403."""
        self._next_update_id = 733_000_100
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1000)
        )
        self._file_numbers = itertools.count(1)
        self._scripted: defaultdict[str, deque[ApiError]] = defaultdict(deque)
        self._arrived = asyncio.Event()
        self._poller = 0
        self._server: TestServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def root(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeBotApi is not started")
        return str(self._server.make_url("")).rstrip("/")

    @property
    def base_url(self) -> str:
        """What Bot(base_url=...) takes: the token is appended to it."""
        return f"{self.root}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._server = TestServer(app, host="127.0.0.1", port=None)
        await self._server.start_server()

    async def close(self) -> None:
        self._poller += 1
        self._arrived.set()
        if self._server is not None:
            await self._server.close()
            self._server = None

    # -- what a test arranges --------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update (its update_id replaced by the next one), as if a user just acted.

        Returns it, or None when allowed_updates filters its type out (Telegram does not even
        keep those). The chats in it become known, so the bot can answer them.
        """
        kind = next(key for key in update if key != "update_id")
        if kind not in self.allowed_updates:
            return None
        queued = {**update, "update_id": self._next_update_id}
        self._next_update_id += 1
        message = queued.get(kind)
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            self.chats[message["chat"]["id"]] = message["chat"]
            if "message_id" in message:
                self.messages[(message["chat"]["id"], message["message_id"])] = message
        self.updates.append(queued)
        self._arrived.set()
        return queued

    def add_chat(self, chat: dict[str, Any]) -> None:
        self.chats[chat["id"]] = chat

    def add_file(
        self,
        content: bytes,
        *,
        folder: str = "documents",
        suffix: str = "",
        size: int | None = None,
    ) -> StoredFile:
        """A file as if a user had sent it: its file_id goes into an update's message, getFile
        finds it. `size` overrides the size Telegram reports (to test the 20 MB refusal)."""
        number = next(self._file_numbers)
        stored = StoredFile(
            file_id=f"BQACAgQAAxkBAAI{number:06d}fake{len(content)}AAQ",
            file_unique_id=f"AgAD{number:06d}",
            file_path=f"{folder}/file_{number}{suffix}",
            content=content,
            file_size=len(content) if size is None else size,
        )
        self.files[stored.file_id] = stored
        return stored

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next call of `method` (any spelling) with this error instead."""
        self._scripted[method.lower()].append(ApiError(error_code, description, parameters))

    def retry_after(self, method: str, seconds: int) -> None:
        """Answer the next call of `method` as flood control does: 429 with retry_after."""
        self.fail_next(
            method, 429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
        )

    def block(self, chat_id: int) -> None:
        """The user of this private chat blocks the bot: every send to it answers 403."""
        self.blocked_by.add(chat_id)

    def calls_of(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    async def deliver_webhook(self, session: aiohttp.ClientSession) -> list[int]:
        """POST each pending update to the webhook, as Telegram does, with the secret token
        header; an update is dropped once answered 2xx. Returns the statuses answered."""
        statuses = []
        for update in list(self.updates):
            headers = {"Content-Type": "application/json"}
            if self.webhook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook.secret_token
            async with session.post(
                self.webhook.url, data=json.dumps(update), headers=headers
            ) as answer:
                statuses.append(answer.status)
                if 200 <= answer.status < 300:
                    self.updates.remove(update)
                else:
                    self.webhook.last_error_date = int(time.time())
                    self.webhook.last_error_message = (
                        f"Wrong response from the webhook: {answer.status} {answer.reason}"
                    )
        return statuses

    # -- HTTP ------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params, files = await _parameters(request)
            self.calls.append(ApiCall(method, params, files, request.content_type))
            self._authorize(request.match_info["token"])
            scripted = self._scripted[method.lower()]
            if scripted:
                raise scripted.popleft()
            handler = self._METHODS.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await handler(self, params, files)
        except ApiError as error:
            return web.json_response(error.body(), status=error.error_code)
        answer: dict[str, Any] = {"ok": True, "result": result}
        if isinstance(result, bool) and method.lower() in _DESCRIBED:
            answer["description"] = _DESCRIBED[method.lower()]
        return web.json_response(answer)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        path = request.match_info["path"]
        self.downloads.append(path)
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=stored.content, content_type="application/octet-stream")

    def _authorize(self, token: str) -> None:
        if not _TOKEN.fullmatch(token):
            raise ApiError(404, "Not Found")
        if token != self.token:
            raise ApiError(401, "Unauthorized")

    # -- methods ---------------------------------------------------------------------------

    async def _get_me(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        return self.me

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        url = _string(params, "url", required=True)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url:
            self._check_webhook_url(url)
        if _flag(params, "drop_pending_updates"):
            self.updates.clear()
        self._set_allowed_updates(params)
        self.webhook = Webhook(
            url=url,
            secret_token=secret,
            max_connections=_integer(params, "max_connections", 40, 1, 100),
        )
        return True

    def _check_webhook_url(self, url: str) -> None:
        parts = urlsplit(url)
        if self.allow_any_webhook_url:
            return
        if parts.scheme != "https":
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if (parts.port or 443) not in _WEBHOOK_PORTS:
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        if _flag(params, "drop_pending_updates"):
            self.updates.clear()
        self.webhook = Webhook()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if self.webhook.url:
            info["max_connections"] = self.webhook.max_connections
            if self.allowed_updates != DEFAULT_UPDATE_TYPES:
                info["allowed_updates"] = sorted(self.allowed_updates)
        if self.webhook.last_error_date is not None:
            info["last_error_date"] = self.webhook.last_error_date
            info["last_error_message"] = self.webhook.last_error_message
        return info

    async def _get_updates(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        if self.webhook.url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poller += 1
        poller = self._poller
        self._arrived.set()  # wakes the poller this call terminates
        offset = _integer(params, "offset", 0)
        limit = _integer(params, "limit", 100, 1, 100)
        timeout = _integer(params, "timeout", 0, 0)
        self._set_allowed_updates(params)
        if offset < 0:
            del self.updates[: max(0, len(self.updates) + offset)]
        elif offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.updates:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
            if self._poller != poller:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        return self.updates[:limit]

    def _set_allowed_updates(self, params: dict[str, Any]) -> None:
        """Kept until changed: a call without the parameter leaves the previous choice."""
        if "allowed_updates" not in params:
            return
        chosen = params["allowed_updates"]
        if not isinstance(chosen, list) or not all(isinstance(kind, str) for kind in chosen):
            raise ApiError(400, "Bad Request: can't parse allowed updates JSON array")
        self.allowed_updates = frozenset(chosen) or DEFAULT_UPDATE_TYPES

    async def _send_message(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._writable_chat(params)
        text, entities = _formatted(params, "text", "entities")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if Utf16Index(text).length > MAX_TEXT_UNITS:
            raise ApiError(400, "Bad Request: message is too long")
        message = self._new_message(chat, params, text=text)
        if entities:
            message["entities"] = entities
        return message

    async def _send_photo(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._writable_chat(params)
        stored = self._input_file(params, files, "photo", "photos", ".jpg")
        photo = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "width": 800,
            "height": 600,
        }
        return self._media_message(chat, params, photo=[photo])

    async def _send_document(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._writable_chat(params)
        stored = self._input_file(params, files, "document", "documents", "")
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        upload = files.get("document")
        if upload is not None:
            document.update(file_name=upload.filename, mime_type=upload.content_type)
        return self._media_message(chat, params, document=document)

    async def _get_file(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        stored = self.files.get(_string(params, "file_id", required=True))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    _METHODS = {
        "getme": _get_me,
        "setwebhook": _set_webhook,
        "deletewebhook": _delete_webhook,
        "getwebhookinfo": _get_webhook_info,
        "getupdates": _get_updates,
        "sendmessage": _send_message,
        "sendphoto": _send_photo,
        "senddocument": _send_document,
        "getfile": _get_file,
    }
    """Method names are case-insensitive in the Bot API."""

    # -- sending ---------------------------------------------------------------------------

    def _writable_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _integer(params, "chat_id", None, required=True)
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked_by:
            raise ApiError(403, _BLOCKED)
        return chat

    def _new_message(self, chat: dict[str, Any], params: dict[str, Any], **content: Any) -> dict:
        message_id = next(self._message_ids[chat["id"]])
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        replied = self._replied(chat, params)
        if replied is not None:
            message["reply_to_message"] = replied
        self.messages[(chat["id"], message_id)] = message
        return message

    def _media_message(self, chat: dict[str, Any], params: dict[str, Any], **media: Any) -> dict:
        caption, entities = _formatted(params, "caption", "caption_entities")
        if Utf16Index(caption).length > MAX_CAPTION_UNITS:
            raise ApiError(400, "Bad Request: message caption is too long")
        message = self._new_message(chat, params, **media)
        if caption:
            message["caption"] = caption
        if entities:
            message["caption_entities"] = entities
        return message

    def _replied(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if reply is None and "reply_to_message_id" in params:
            reply = {"message_id": _integer(params, "reply_to_message_id", None)}
        if reply is None:
            return None
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
            raise ApiError(400, "Bad Request: can't parse reply parameters JSON object")
        replied = self.messages.get((chat["id"], reply["message_id"]))
        if replied is None and not reply.get("allow_sending_without_reply"):
            raise ApiError(400, "Bad Request: message to be replied not found")
        return replied

    def _input_file(
        self, params: dict[str, Any], files: dict[str, Upload], name: str, folder: str, suffix: str
    ) -> StoredFile:
        upload = files.get(name)
        if upload is not None:
            return self.add_file(upload.content, folder=folder, suffix=suffix)
        stored = self.files.get(params.get(name, ""))
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return stored


_DESCRIBED = {
    "setwebhook": "Webhook was set",
    "deletewebhook": "Webhook was deleted",
}


async def _parameters(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """A call's parameters from wherever the Bot API accepts them: the query string, an
    urlencoded or multipart form (arrays and objects JSON-serialized in a field), or JSON."""
    params: dict[str, Any] = {key: _decoded(value) for key, value in request.query.items()}
    files: dict[str, Upload] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON object") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: can't parse JSON object")
        params.update({key: _wire(value) for key, value in body.items()})
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[key] = Upload(value.filename, value.content_type, value.file.read())
            else:
                params[key] = _decoded(str(value))
    return params, files


def _decoded(value: str) -> Any:
    """A form value: arrays and objects are sent JSON-serialized; scalars stay strings."""
    if value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _wire(value: Any) -> Any:
    """A JSON body's value as the same parameter reads in a form: scalars as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _string(params: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = params.get(name)
    if value is None:
        if required:
            raise ApiError(400, f'Bad Request: parameter "{name}" is required')
        return ""
    return str(value)


def _integer(
    params: dict[str, Any],
    name: str,
    default: int | None,
    least: int | None = None,
    most: int | None = None,
    *,
    required: bool = False,
) -> int:
    value = params.get(name)
    if value is None:
        if required or default is None:
            raise ApiError(400, f'Bad Request: parameter "{name}" is required')
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None
    if least is not None:
        number = max(number, least)
    return number if most is None else min(number, most)


def _flag(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "false")).lower() in ("true", "1")


def _formatted(params: dict[str, Any], text_name: str, entities_name: str) -> tuple[str, list]:
    """The text as Telegram stores it: markup read by its parse mode, or given entities."""
    text = _string(params, text_name)
    mode = params.get("parse_mode")
    if mode is None:
        return text, params.get(entities_name) or []
    readers = {"markdownv2": parse_markdown_v2, "html": parse_html}
    reader = readers.get(str(mode).lower())
    if reader is None:
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    try:
        return reader(text)
    except MarkupError as error:
        raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
