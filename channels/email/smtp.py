"""Submit one composed email over SMTP and map every failure to Transient or Permanent."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectResponseError,
    SMTPDataError,
    SMTPException,
    SMTPHeloError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
)

from channels.base import CheckFailed, PermanentSendError, TransientSendError
from channels.email.smtp_url import SmtpUrl, StartTls

SendError = TransientSendError | PermanentSendError
_TLS_CONNECTION_LOST = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


async def send_email(
    url: SmtpUrl,
    envelope_from: str,
    recipients: list[str],
    message: EmailMessage,
    *,
    timeout: float = 30,
    local_hostname: str | None = None,
) -> str:
    """Send `message` to `recipients`; return the server's reply text to DATA.

    Connects, says EHLO, secures the connection as the URL says (implicit TLS, or STARTTLS
    when offered / required), logs in when the URL has a user, sends, then QUITs. `timeout`
    bounds each network step. Raises TransientSendError for connection failures, timeouts,
    disconnects and 4xx replies, PermanentSendError for 5xx replies, TLS failures, a missing
    STARTTLS that the URL requires, and a recipient list the server refused in part (the
    others got the message, so a retry would duplicate it). Error texts carry the server's
    code and words as it sent them. A failure after the server accepted DATA (at QUIT) is
    ignored: the message was sent.
    """
    _check_envelope(envelope_from, recipients)
    client = _client(url, timeout, local_hostname)
    try:
        refused, reply = await _transaction(client, url, envelope_from, recipients, message)
    except (SMTPException, OSError, ValueError) as error:
        client.close()
        raise send_error(error, url) from error
    except BaseException:
        client.close()
        raise
    await _quit(client)
    if refused:
        raise PermanentSendError(_partly_refused(refused, url))
    return reply


async def check_login(url: SmtpUrl, *, timeout: float = 15) -> None:
    """Connect, secure the connection and log in as a send would, then quit; CheckFailed
    names what failed."""
    client = _client(url, timeout, None)
    try:
        await client.connect()
        await _secure(client, url)
        if url.username is not None:
            await client.login(url.username, url.password or "")
    except PermanentSendError as error:
        client.close()
        raise CheckFailed(str(error)) from error
    except (SMTPException, OSError, ValueError) as error:
        client.close()
        raise CheckFailed(str(send_error(error, url))) from error
    await _quit(client)


def _client(url: SmtpUrl, timeout: float, local_hostname: str | None) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=url.host,
        port=url.port,
        use_tls=url.implicit_tls,
        start_tls=False,
        validate_certs=url.tls_verify,
        timeout=timeout,
        local_hostname=local_hostname,
    )


def send_error(error: BaseException, url: SmtpUrl) -> SendError:
    """The Transient or Permanent error an aiosmtplib / socket / TLS failure stands for."""
    where = f"SMTP server {url.host}:{url.port}"
    if isinstance(error, SMTPRecipientsRefused):
        return _all_refused(error.recipients, where)
    if isinstance(error, SMTPResponseException):
        return _by_code(error.code, f"{where} refused {_stage(error)}: {_reply(error)}")
    tls_error = _tls_error(error)
    if tls_error is not None:
        return PermanentSendError(f"{where}: TLS failed: {tls_error}")
    if isinstance(error, OSError):  # refused, reset, timed out, SMTPServerDisconnected ...
        return TransientSendError(f"{where}: {_describe(error)}")
    if isinstance(error, ValueError):
        return PermanentSendError(f"cannot send: {error}")
    return PermanentSendError(f"{where}: {_describe(error)}")


def _check_envelope(envelope_from: str, recipients: list[str]) -> None:
    """Refuse addresses aiosmtplib would silently rewrite.

    It sends the first address email.utils.parseaddr finds: "a@x, b@y" -> "a@x".
    """
    if not recipients:
        raise PermanentSendError("no recipients to send the email to")
    if envelope_from and not _bare_address(envelope_from):
        raise PermanentSendError(f"the envelope sender {envelope_from!r} is not a bare address")
    bad = [address for address in recipients if not _bare_address(address)]
    if bad:
        raise PermanentSendError(f"not bare email addresses: {', '.join(map(repr, bad))}")


def _bare_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    clean = not any(c.isspace() or c in '<>,;"()' for c in address)
    return bool(local and at and domain) and clean and parseaddr(address)[1] == address


async def _transaction(
    client: aiosmtplib.SMTP,
    url: SmtpUrl,
    envelope_from: str,
    recipients: list[str],
    message: EmailMessage,
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    await client.connect()
    await _secure(client, url)
    if url.username is not None:
        await client.login(url.username, url.password or "")
    return await client.send_message(message, sender=envelope_from, recipients=recipients)


async def _secure(client: aiosmtplib.SMTP, url: SmtpUrl) -> None:
    if url.implicit_tls or url.starttls is StartTls.NO:
        return
    await client.ehlo()
    if client.supports_extension("starttls"):
        await client.starttls()
    elif url.starttls is StartTls.REQUIRE:
        raise PermanentSendError(
            f"SMTP server {url.host}:{url.port} does not offer STARTTLS "
            "and the URL requires it (starttls=require)"
        )


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (SMTPException, OSError):
        client.close()


def _by_code(code: int, text: str) -> SendError:
    return PermanentSendError(text) if 500 <= code <= 599 else TransientSendError(text)


def _all_refused(refusals: list[SMTPRecipientRefused], where: str) -> SendError:
    listed = "; ".join(f"{r.recipient}: {_reply(r)}" for r in refusals)
    text = f"{where} refused every recipient: {listed}"
    if all(400 <= r.code <= 499 for r in refusals):
        return TransientSendError(text)
    return PermanentSendError(text)


def _partly_refused(refused: dict[str, aiosmtplib.SMTPResponse], url: SmtpUrl) -> str:
    listed = "; ".join(f"{address}: {r.code} {r.message}" for address, r in refused.items())
    return (
        f"SMTP server {url.host}:{url.port} refused some recipients "
        f"(the others got the message): {listed}"
    )


def _stage(error: SMTPResponseException) -> str:
    if isinstance(error, SMTPRecipientRefused):
        return f"RCPT TO <{error.recipient}>"
    if isinstance(error, SMTPSenderRefused):
        return f"MAIL FROM <{error.sender}>"
    stages: list[tuple[type[SMTPResponseException], str]] = [
        (SMTPAuthenticationError, "AUTH"),
        (SMTPDataError, "DATA"),
        (SMTPHeloError, "EHLO"),
        (SMTPConnectResponseError, "the connection"),
    ]
    return next((name for kind, name in stages if isinstance(error, kind)), "a command")


def _reply(error: SMTPResponseException) -> str:
    return f"{error.code} {error.message}"


def _tls_error(error: BaseException) -> ssl.SSLError | None:
    """The TLS failure (untrusted certificate, no common protocol ...) behind `error`, if any;
    a connection cut during the handshake is not one (it may work next time)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and not isinstance(seen, _TLS_CONNECTION_LOST):
            return seen
        seen = seen.__cause__
    return None


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text
