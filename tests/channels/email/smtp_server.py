"""A real SMTP server for tests (aiosmtpd): records mail, scripts failures, AUTH, TLS, restarts."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from weakref import WeakKeyDictionary

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Stage = Literal["MAIL", "RCPT", "DATA"]
SERVER_NAME = "smtp.test"


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One accepted transaction: the envelope, the DATA bytes as received, how the client came."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None
    tls: bool

    def parsed(self) -> EmailMessage:
        message = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(message, EmailMessage)
        return message


@dataclass(slots=True)
class _Rule:
    stage: Stage
    reply: str | None  # None drops the connection instead of answering
    transactions: int
    recipient: str | None
    delay: float


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 / localhost / smtp.test and its key, as PEM."""

    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path) -> TlsFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _self_signed(key)
        files = cls(cert=directory / "cert.pem", key=directory / "key.pem")
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return files

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    names = [
        x509.DNSName(SERVER_NAME),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )


class RecordingHandler:
    """aiosmtpd handler: records accepted mail and answers as scripted by `script`."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._rules: list[_Rule] = []
        self._armed: WeakKeyDictionary[Session, list[_Rule]] = WeakKeyDictionary()
        self.received: list[ReceivedMail] = []
        self.transactions = 0
        self.logins = 0

    def wait_for(self, count: int, timeout: float) -> list[ReceivedMail]:
        """Block until `count` mails have arrived (AssertionError after `timeout` seconds)."""
        with self._lock:
            arrived = self._lock.wait_for(lambda: len(self.received) >= count, timeout)
            assert arrived, f"{len(self.received)} of {count} mails arrived in {timeout}s"
            return list(self.received)

    def script(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self._armed[session] = self._arm()
        scripted = await self._scripted(server, session, "MAIL", address)
        if scripted is not None:
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        scripted = await self._scripted(server, session, "RCPT", address)
        if scripted is not None:
            return scripted
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        scripted = await self._scripted(server, session, "DATA", None)
        if scripted is not None:
            return scripted
        with self._lock:
            self.received.append(_received(server, session, envelope))
            number = len(self.received)
            self._lock.notify_all()
        return f"250 2.0.0 Ok: queued as TEST{number}"

    def _arm(self) -> list[_Rule]:
        """Take the rules that apply to the transaction a MAIL command starts."""
        with self._lock:
            self.transactions += 1
            armed = [rule for rule in self._rules if rule.transactions > 0]
            for rule in armed:
                rule.transactions -= 1
            self._rules = [rule for rule in self._rules if rule.transactions > 0]
        return armed

    async def _scripted(
        self, server: SMTP, session: Session, stage: Stage, address: str | None
    ) -> str | None:
        for rule in self._armed.get(session, []):
            if rule.stage != stage or not _matches(rule.recipient, address):
                continue
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.reply is None:
                assert server.transport is not None
                server.transport.abort()
                return "421 4.4.2 connection dropped by the test"
            return rule.reply
        return None


def _matches(recipient: str | None, address: str | None) -> bool:
    return recipient is None or (address or "").lower() == recipient.lower()


def _received(server: SMTP, session: Session, envelope: Envelope) -> ReceivedMail:
    data = envelope.original_content or b""
    auth = session.auth_data
    transport = server.transport
    implicit_tls = transport is not None and transport.get_extra_info("sslcontext") is not None
    return ReceivedMail(
        mail_from=envelope.mail_from or "",
        rcpt_tos=tuple(envelope.rcpt_tos),
        data=data,
        login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
        tls=session.ssl is not None or implicit_tls,  # aiosmtpd sets ssl only on STARTTLS
    )


class _TrackingController(Controller):
    """A Controller that can drop every open client connection when it stops."""

    def __init__(self, handler: RecordingHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        server = super().factory()
        self.sessions.append(server)
        return server

    def drop_connections(self) -> None:
        for server in self.sessions:
            if server.transport is not None:
                server.transport.abort()


class SmtpServer:
    """aiosmtpd on 127.0.0.1 and a fixed free port; stop() and start() keep port and records."""

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        port: int | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.auth = auth
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.require_starttls = require_starttls
        self.handler = RecordingHandler()
        self._tempdir = tempfile.TemporaryDirectory(prefix="switchboard-smtp-")
        needs_tls = starttls or implicit_tls
        self.tls = TlsFiles.create(Path(self._tempdir.name)) if needs_tls else None
        self._controller: _TrackingController | None = None

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.wait_for(0, 0)

    async def wait_for(self, count: int, timeout: float = 5) -> list[ReceivedMail]:
        """The mails received once there are at least `count` (for senders in the background)."""
        return await asyncio.to_thread(self.handler.wait_for, count, timeout)

    @property
    def logins_attempted(self) -> int:
        """How many AUTH exchanges reached the server (a password crossed the wire each time)."""
        return self.handler.logins

    @property
    def running(self) -> bool:
        return self._controller is not None

    def url(self, *, user: str | None = None, password: str | None = None, query: str = "") -> str:
        """An smtp:// (or smtps://) URL for this server, with its credentials by default."""
        user, password = (user, password) if user is not None else (self.auth or (None, None))
        login = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        options = [query] if query else []
        if self.tls is not None:
            options.append("tls_verify=no")
        scheme = "smtps" if self.implicit_tls else "smtp"
        suffix = "?" + "&".join(options) if options else ""
        return f"{scheme}://{login}{self.host}:{self.port}{suffix}"

    def reply_next(
        self,
        stage: Stage,
        reply: str,
        *,
        transactions: int = 1,
        recipient: str | None = None,
        delay: float = 0,
    ) -> None:
        """Answer `reply` (e.g. "451 4.3.0 try later") at `stage` in the next transactions.

        A RCPT rule with `recipient` refuses only that address; `delay` waits before answering.
        """
        self.handler.script(_Rule(stage, reply, transactions, recipient, delay))

    def drop_next(self, stage: Stage, *, transactions: int = 1) -> None:
        """Cut the connection, unanswered, at `stage` in the next transactions."""
        self.handler.script(_Rule(stage, None, transactions, None, 0))

    def start(self) -> None:
        assert self._controller is None, "the SMTP server is already running"
        controller = _TrackingController(self.handler, **self._controller_options())
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Close the port and drop every connection (the server is down until start())."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        controller.loop.call_soon_threadsafe(controller.drop_connections)
        controller.stop()

    def close(self) -> None:
        self.stop()
        self._tempdir.cleanup()

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _controller_options(self) -> dict[str, Any]:
        context = self.tls.server_context() if self.tls is not None else None
        options: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": SERVER_NAME,
            "ssl_context": context if self.implicit_tls else None,
            "tls_context": context if self.starttls else None,
            "require_starttls": self.require_starttls,
            "auth_require_tls": False,
        }
        if self.auth is not None:
            options["authenticator"] = _authenticator(*self.auth, self.handler)
            options["auth_required"] = True
            # AUTH without TLS is what the tests mean (set here: pytest resets filters per test).
            warnings.filterwarnings(
                "ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning
            )
        return options


def _authenticator(
    user: str, password: str, handler: RecordingHandler
) -> Callable[..., AuthResult]:
    expected = LoginPassword(user.encode(), password.encode())

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        handler.logins += 1
        if mechanism in ("PLAIN", "LOGIN") and data == expected:
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    return authenticate


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no AUTH) that records what it accepts."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Start SMTP servers with options (auth, starttls, implicit_tls ...); all stop afterwards."""
    servers: list[SmtpServer] = []

    def start(**options: Any) -> SmtpServer:
        server = SmtpServer(**options)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.close()
