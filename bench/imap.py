"""10,000 varied mails from a real Dovecot into the timeline vs imaplib+email parsing, same run.

Run as root (Dovecot drops privileges): `.venv/bin/python bench/imap.py [--messages N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import email.policy
import os
import quopri
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.header import Header
from pathlib import Path
from urllib.parse import quote

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SWITCHBOARD,
    ScratchDatabase,
    free_port,
    hub_environment,
    run_cli,
    scratch_database,
)
from tests.channels.email.dovecot import Dovecot, MailUser

TARGET_RATIO = 0.50
TARGET_RSS_GROWTH = 1.25
FETCH_BATCH = 100
APPEND_CHUNK = 1000
CRLF = "\r\n"
OUR_ADDRESS = "support@bench.test"
SYNC_LINE = re.compile(r"imported (\d+), duplicates (\d+), quarantined (\d+)")

# -- the mailbox: deterministic, varied messages


@dataclass(frozen=True, slots=True)
class Language:
    charset: str
    encoding: str  # Content-Transfer-Encoding of the text parts
    greeting: str
    sentences: tuple[str, ...]
    subject: str


LANGUAGES: tuple[Language, ...] = (
    Language(
        "us-ascii",
        "7bit",
        "Hello,",
        (
            "My order {n} has not arrived yet and the tracking page has not moved for days.",
            "Could you check where the parcel is and tell me when I can expect it?",
            "I paid for express shipping, so I would like a refund of the difference.",
            "The invoice lists the wrong billing address; please send a corrected one.",
        ),
        "Where is my order {n}?",
    ),
    Language(
        "utf-8",
        "8bit",
        "Hi there —",
        (
            "Order {n} arrived damaged: the box was crushed and the mug is in pieces ☹.",
            "I’d like a replacement rather than a refund, if that’s possible.",
            "Photos are attached to my previous message; tell me if you need more.",
            "Thanks a lot for the quick answers so far — much appreciated!",
        ),
        "Damaged parcel — order {n} ☹",
    ),
    Language(
        "iso-8859-1",
        "quoted-printable",
        "Bonjour,",
        (
            "Ma commande numéro {n} n'est toujours pas arrivée, malgré l'envoi annoncé.",
            "Pourriez-vous vérifier où elle se trouve ? Je dois l'offrir à Noël.",
            "J'ai déjà écrit la semaine dernière mais je n'ai reçu aucune réponse.",
            "Merci d'avance pour votre aide, et à bientôt.",
        ),
        "Commande {n} : où en est la livraison ?",
    ),
    Language(
        "windows-1252",
        "quoted-printable",
        "Guten Tag,",
        (
            "Meine Bestellung {n} ist noch nicht angekommen – können Sie bitte nachsehen?",
            "Die Rechnung über 49,90 € stimmt nicht mit dem Warenkorb überein.",
            "Außerdem fehlt das Zubehör, das in der Beschreibung genannt wurde.",
            "Vielen Dank und freundliche Grüße aus München.",
        ),
        "Bestellung {n} – Rückfrage zur Rechnung (49,90 €)",
    ),
    Language(
        "koi8-r",
        "base64",
        "Здравствуйте!",
        (
            "Мой заказ номер {n} до сих пор не пришёл, хотя прошло уже две недели.",
            "Проверьте, пожалуйста, где он находится, и сообщите мне срок доставки.",
            "Если посылка потерялась, верните, пожалуйста, деньги на карту.",
            "Спасибо за помощь, жду вашего ответа.",
        ),
        "Заказ {n}: где посылка?",
    ),
    Language(
        "iso-2022-jp",
        "7bit",
        "お世話になっております。",
        (
            "注文番号{n}の商品がまだ届いていません。",
            "配送状況を確認していただけますでしょうか。",
            "至急対応していただけると助かります。",
            "どうぞよろしくお願いいたします。",
        ),
        "注文{n}の配送について",
    ),
    Language(
        "shift_jis",
        "base64",
        "こんにちは。",
        (
            "先週注文した商品{n}のサイズが合わないので交換をお願いします。",
            "返品の送料はどちらの負担になりますか。",
            "ご連絡をお待ちしております。",
        ),
        "商品{n}の交換希望",
    ),
    Language(
        "gb2312",
        "base64",
        "您好，",
        (
            "我的订单{n}还没有到，请帮我查一下物流信息。",
            "如果包裹丢失了，请尽快给我退款。",
            "谢谢你们的帮助，期待您的回复。",
        ),
        "订单{n}的物流问题",
    ),
    Language(
        "windows-1256",
        "base64",
        "مرحبا،",
        (
            "طلبي رقم {n} لم يصل بعد، هل يمكنكم التحقق من مكانه؟",
            "دفعت مقابل الشحن السريع وأريد استرداد الفرق.",
            "شكرا لمساعدتكم.",
        ),
        "استفسار عن الطلب {n}",
    ),
    Language(
        "iso-8859-7",
        "quoted-printable",
        "Καλημέρα σας,",
        (
            "Η παραγγελία μου {n} δεν έχει φτάσει ακόμα.",
            "Μπορείτε να ελέγξετε πού βρίσκεται το δέμα;",
            "Ευχαριστώ πολύ για τη βοήθεια.",
        ),
        "Παραγγελία {n}: καθυστέρηση",
    ),
)
QUOTE_INTRO = "On Mon, 3 Jun 2024 at 10:00, Support <support@bench.test> wrote:"
QUOTED = (
    "Thank you for contacting us. We are looking into your request and will come back",
    "to you within one business day. Your ticket reference is in the subject line.",
)
SIGNATURE = ("-- ", "Sent from my phone")


MIN_SIZE, MAX_SIZE = 1024, 30 * 1024
UNPARSEABLE = "no sender (quarantined)"


@dataclass(frozen=True, slots=True)
class Mailbox:
    """The generated messages and the kind of each."""

    messages: list[bytes]
    kinds: list[str]

    @property
    def unparseable(self) -> int:
        return self.kinds.count(UNPARSEABLE)

    def head(self, count: int) -> Mailbox:
        """The first `count` messages: what generate_mailbox(count) would make."""
        return Mailbox(self.messages[:count], self.kinds[:count])

    def mix(self) -> str:
        tally: dict[str, int] = {}
        for kind in self.kinds:
            tally[kind] = tally.get(kind, 0) + 1
        return ", ".join(f"{kind} {n}" for kind, n in sorted(tally.items(), key=lambda i: -i[1]))


def generate_mailbox(count: int, seed: int = 20240603) -> Mailbox:
    """`count` distinct messages, the same ones for the same seed (see `_message` for the mix)."""
    rng = random.Random(seed)
    sent: dict[int, list[str]] = {}
    messages: list[bytes] = []
    kinds: list[str] = []
    for n in range(count):
        kind, raw = _message(rng, n, sent)
        kinds.append(kind)
        messages.append(raw)
    return Mailbox(messages, kinds)


def _message(rng: random.Random, n: int, sent: dict[int, list[str]]) -> tuple[str, bytes]:
    """One message: its kind and its raw CRLF bytes, 1-30 KB.

    Customers (600, each writing one language and charset) send plain text (40%), text and
    HTML alternatives (40%), HTML only (5%) or text with a PDF or PNG (15%); 60% of those
    that wrote before reply to their last message (In-Reply-To and References), 5% have no
    Message-ID. Besides: 3% auto-replies, 2% bounces (multipart/report), 0.1% without any
    sender address (the hub quarantines them).
    """
    customer = rng.randrange(600)
    language = LANGUAGES[customer % len(LANGUAGES)]
    date = _date(n)
    if n % 1000 == 999:
        return UNPARSEABLE, _unattributable(n, date)
    roll = rng.random()
    if roll < 0.02 and n > 0:
        return "bounce", _bounce(rng, n, date)
    if roll < 0.05 and n > 0:
        return "auto-reply", _auto_reply(n, date, customer)
    message_id = None if rng.random() < 0.05 else f"<{n}.{rng.getrandbits(40):x}@mail.bench.test>"
    earlier = sent.setdefault(customer, [])
    reply_to = earlier[-1] if earlier and rng.random() < 0.6 else None
    if message_id is not None:
        earlier.append(message_id)
    target = int(MIN_SIZE * 29 ** rng.random())  # log-uniform, 1-29 KB, then 1-30 KB
    shape = rng.random()
    attachment = rng.randrange(512, max(1024, min(8192, target // 2))) if shape >= 0.85 else 0
    kind = ("plain", "alternative", "html only", "attachment")[
        (shape >= 0.40) + (shape >= 0.80) + (shape >= 0.85)
    ]
    head = CRLF.join(_customer_headers(rng, n, customer, language, date, message_id, reply_to))
    budget = target
    for _ in range(4):  # measure, then scale the text to land in 1-30 KB near the target
        body = _body(n, language, kind, budget, reply_to is not None, attachment)
        size = len(head) + len(body)
        if MIN_SIZE <= size <= MAX_SIZE and 0.8 < size / target < 1.25:
            break
        budget = max(100, int(budget * target / size))
    raw = (head + CRLF + body).encode("latin-1")  # 8bit parts' bytes as they are
    return f"{kind}{' reply' if reply_to else ''}", raw


def _body(n: int, language: Language, kind: str, budget: int, reply: bool, attachment: int) -> str:
    text = _text(random.Random(n), n, language, budget, reply)
    if kind == "plain":
        return _text_part(text, language, "plain")
    if kind == "html only":
        return _text_part(_html(text), language, "html")
    if kind == "alternative":
        parts = [_text_part(text, language, "plain"), _text_part(_html(text), language, "html")]
        return _multipart("alternative", f"alt{n}", parts)
    parts = [_text_part(text, language, "plain"), _attachment(random.Random(n), n, attachment)]
    return _multipart("mixed", f"mixed{n}", parts)


def _date(n: int) -> str:
    minutes = n * 7
    day, minute = 1 + (minutes // 1440) % 28, minutes % 1440
    return f"{day} Jun 2024 {minute // 60:02d}:{minute % 60:02d}:{n % 60:02d} +0200"


def _encoded(text: str, charset: str) -> str:
    if text.isascii():
        return text
    return Header(text, charset if charset != "us-ascii" else "utf-8").encode(linesep=CRLF)


def _customer_headers(
    rng: random.Random,
    n: int,
    customer: int,
    language: Language,
    date: str,
    message_id: str | None,
    reply_to: str | None,
) -> list[str]:
    name = f"{language.greeting.rstrip(',!。 —，،')} {customer}"
    address = f"customer{customer}@example{customer % 40}.test"
    subject = language.subject.format(n=n)
    headers = [
        f"Return-Path: <{address}>",
        f"Received: from mx{n % 7}.example.test by imap.bench.test; {date}",
        f"From: {_encoded(name, language.charset)} <{address}>",
        f"To: Support <{OUR_ADDRESS}>",
        f"Subject: {_encoded(('Re: ' if reply_to else '') + subject, language.charset)}",
        f"Date: {date}",
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.1:
        headers.append(f"Cc: colleague{customer}@example{customer % 40}.test")
    if message_id is not None:
        headers.append(f"Message-ID: {message_id}")
    if reply_to is not None:
        ours = f"<reply.{n}@bench.test>"
        headers += [f"In-Reply-To: {ours}", f"References: {reply_to} {ours}"]
    return headers


def _text(rng: random.Random, n: int, language: Language, target: int, reply: bool) -> str:
    sentences = [sentence.format(n=n) for sentence in language.sentences]
    sizes = [len(sentence.encode("utf-8")) + 2 for sentence in sentences]
    lines = [language.greeting, ""]
    size = 0
    while size < target:
        pick = rng.randrange(len(sentences))
        lines.append(sentences[pick])
        size += sizes[pick]
        if rng.random() < 0.2:
            lines.append("")
    lines += ["", *SIGNATURE]
    if reply:
        lines += ["", QUOTE_INTRO, *(f"> {line}" for line in QUOTED)]
    return CRLF.join(lines)


def _html(text: str) -> str:
    paragraphs = "".join(
        f"<p>{line.replace('&', '&amp;').replace('<', '&lt;')}</p>"
        for line in text.split(CRLF)
        if line
    )
    return (
        '<html><head><style>p{margin:0}</style></head><body><div dir="auto">'
        f'{paragraphs}<p><a href="https://shop.example/orders">My orders</a></p>'
        "</div></body></html>"
    )


def _text_part(text: str, language: Language, subtype: str) -> str:
    lines = text.split(CRLF)
    if subtype == "html":  # one long line: cut it, 7bit and 8bit lines stop at 998 bytes
        lines = [text[i : i + 200] for i in range(0, len(text), 200)]
    # Line by line: a stateful charset (ISO-2022-JP) returns to ASCII before each line break.
    encoded = [line.encode(language.charset) for line in lines]
    if language.encoding == "base64":
        body = base64.encodebytes(b"\r\n".join(encoded)).decode("ascii").replace("\n", CRLF)
    elif language.encoding == "quoted-printable":
        body = quopri.encodestring(b"\n".join(encoded)).decode("ascii").replace("\n", CRLF)
    else:
        body = b"\r\n".join(encoded).decode("latin-1") + CRLF  # 7bit/8bit: bytes as they are
    return (
        f"Content-Type: text/{subtype}; charset={language.charset}{CRLF}"
        f"Content-Transfer-Encoding: {language.encoding}{CRLF}{CRLF}{body}"
    )


def _multipart(subtype: str, tag: str, parts: list[str], extra: str = "") -> str:
    boundary = f"=_bench_{tag}_boundary"
    inner = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}{CRLF}{CRLF}'
        f"This is a multi-part message in MIME format.{CRLF}{inner}--{boundary}--{CRLF}"
    )


def _attachment(rng: random.Random, n: int, size: int) -> str:
    if n % 2:
        ctype, name, data = "application/pdf", f"invoice-{n}.pdf", b"%PDF-1.4\n"
    else:
        ctype, name, data = "image/png", f"фото-{n}.png", b"\x89PNG\r\n\x1a\n"
    data += rng.randbytes(size)
    disposition = (
        f'attachment; filename="{name}"'
        if name.isascii()
        else f"attachment; filename*=utf-8''{quote(name)}"
    )
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    return (
        f"Content-Type: {ctype}{CRLF}Content-Disposition: {disposition}{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{encoded}"
    )


def _auto_reply(n: int, date: str, customer: int) -> bytes:
    headers = [
        f"From: customer{customer}@example{customer % 40}.test",
        f"To: {OUR_ADDRESS}",
        f"Subject: Automatic reply: Re: your ticket {n}",
        f"Date: {date}",
        f"Message-ID: <auto.{n}@example{customer % 40}.test>",
        f"In-Reply-To: <reply.{n}@bench.test>",
        "Auto-Submitted: auto-replied",
        "X-Autoreply: yes",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    body = (
        f"I am out of the office until Monday ({n}) and will read your message then.{CRLF}"
        f"For urgent matters, please call the front desk.{CRLF}{CRLF}{QUOTE_INTRO}{CRLF}"
        f"{_quoted(MIN_SIZE)}"
    )
    return (CRLF.join(headers) + CRLF + CRLF + body).encode("utf-8")


def _quoted(size: int) -> str:
    """At least `size` bytes of quoted lines, as replies carry the message they answer."""
    lines: list[str] = []
    while sum(len(line) + 2 for line in lines) < size:
        lines += [f"> {line}" for line in QUOTED]
    return CRLF.join(lines) + CRLF


def _bounce(rng: random.Random, n: int, date: str) -> bytes:
    lost = f"nobody{n}@gone.example.test"
    headers = [
        f"From: Mail Delivery System <MAILER-DAEMON@mx{n % 5}.bench.test>",
        f"To: {OUR_ADDRESS}",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {date}",
        f"Message-ID: <bounce.{n}.{rng.getrandbits(32):x}@mx{n % 5}.bench.test>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
    ]
    explanation = (
        f"Content-Type: text/plain; charset=us-ascii{CRLF}{CRLF}"
        f"This is the mail system. Your message could not be delivered to {lost}:{CRLF}"
        f"550 5.1.1 <{lost}>: Recipient address rejected: User unknown{CRLF}"
    )
    status = (
        f"Content-Type: message/delivery-status{CRLF}{CRLF}"
        f"Reporting-MTA: dns; mx{n % 5}.bench.test{CRLF}{CRLF}"
        f"Final-Recipient: rfc822; {lost}{CRLF}Action: failed{CRLF}Status: 5.1.1{CRLF}"
    )
    original = (
        f"Content-Type: text/rfc822-headers{CRLF}{CRLF}"
        f"From: Support <{OUR_ADDRESS}>{CRLF}To: {lost}{CRLF}"
        f"Subject: Re: your order {n}{CRLF}Message-ID: <reply.{n}@bench.test>{CRLF}"
        f"Date: {date}{CRLF}MIME-Version: 1.0{CRLF}Content-Type: text/plain; charset=utf-8{CRLF}"
        + "".join(
            f"Received: from relay{hop}.bench.test (relay{hop}.bench.test [192.0.2.{hop}]){CRLF}"
            f"\tby mx{n % 5}.bench.test (Postfix) with ESMTPS id {n:X}{hop}; {date}{CRLF}"
            for hop in range(1, 4)
        )
    )
    body = _multipart(
        "report", f"report{n}", [explanation, status, original], "; report-type=delivery-status"
    )
    return (CRLF.join(headers) + CRLF + body).encode("ascii")


def _unattributable(n: int, date: str) -> bytes:
    """No address in From, Sender or Return-Path: the hub quarantines it."""
    return (
        f"From: undisclosed-recipients:;{CRLF}To: {OUR_ADDRESS}{CRLF}Subject: lost {n}{CRLF}"
        f"Date: {date}{CRLF}{CRLF}Nobody can be told this message {n} arrived.{CRLF}{CRLF}"
        f"{_quoted(MIN_SIZE)}"
    ).encode("ascii")


# -- Dovecot


def fill_mailbox(server: Dovecot, user: MailUser, messages: list[bytes]) -> None:
    for start in range(0, len(messages), APPEND_CHUNK):
        server.append(user, messages[start : start + APPEND_CHUNK])


def imap_url(server: Dovecot, user: MailUser) -> str:
    return (
        f"imap://{quote(user.name, safe='')}:{quote(user.password, safe='')}"
        f"@{server.host}:{server.port}/INBOX"
    )


# -- baseline: imaplib + email, nothing stored


@dataclass(frozen=True, slots=True)
class BaselineRun:
    messages: int
    seconds: float
    cpu_seconds: float


def baseline(server: Dovecot, user: MailUser, parse: bool = True) -> BaselineRun:
    """Fetch every message in UID batches of 100 and parse it (unless not `parse`)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    fetched = 0
    with server.client(user) as imap:
        imap.select("INBOX", readonly=True)
        typ, data = imap.uid("SEARCH", "ALL")
        if typ != "OK":
            raise RuntimeError(f"UID SEARCH failed: {data!r}")
        uids = [int(uid) for uid in (data[0] or b"").split()]
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            typ, data = imap.uid("FETCH", f"{batch[0]}:{batch[-1]}", "(BODY.PEEK[])")
            if typ != "OK":
                raise RuntimeError(f"UID FETCH failed: {data!r}")
            for item in data:
                if isinstance(item, tuple):
                    if parse:
                        _parse(item[1])
                    fetched += 1
    cpu_seconds = time.process_time() - cpu_started
    return BaselineRun(fetched, time.perf_counter() - started, cpu_seconds)


def _parse(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"):
        str(message.get(name, ""))
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        body.get_content()
    for part in message.walk():
        if not part.is_multipart():
            part.get_content()


# -- Switchboard: `switchboard email sync --once` as a child process


@dataclass(frozen=True, slots=True)
class SyncRun:
    imported: int
    duplicates: int
    quarantined: int
    seconds: float
    cpu_seconds: float
    peak_rss_kib: int


@dataclass(frozen=True, slots=True)
class Stored:
    events: int
    distinct_external_ids: int
    quarantined: int
    cursor_last_uid: int


@dataclass(frozen=True, slots=True)
class Import:
    messages: int
    run: SyncRun
    idle_run: SyncRun
    stored: Stored


def run_sync(env: dict[str, str], channel: str, profile: Path | None = None) -> SyncRun:
    """Time one `switchboard email sync <channel> --once`; its own peak RSS from wait4()."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [SWITCHBOARD, "channel", "sync", channel, "--once"], env=env, stdout=out, stderr=err
        )
        spy = _py_spy(child.pid, profile) if profile else None
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if spy is not None:
            spy.wait(timeout=60)
        out.seek(0)
        err.seek(0)
        lines = out.read().decode().strip().splitlines()
        if child.returncode != 0 or not lines or not (match := SYNC_LINE.fullmatch(lines[-1])):
            raise RuntimeError(f"channel sync failed ({child.returncode}):\n{err.read().decode()}")
    imported, duplicates, quarantined = (int(g) for g in match.groups())
    cpu_seconds = usage.ru_utime + usage.ru_stime
    return SyncRun(imported, duplicates, quarantined, seconds, cpu_seconds, usage.ru_maxrss)


def _py_spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "-o", str(output), "-f", "raw", "-r", "200", "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def switchboard_import(
    server: Dovecot, user: MailUser, messages: int, profile: Path | None = None
) -> Import:
    async with scratch_database("switchboard_bench_imap") as database:
        env = hub_environment(database, free_port())
        run_cli(env, "migrate")
        workspace = run_cli(env, "workspace", "create", "IMAP bench").strip()
        channel = run_cli(
            env,
            "channel",
            "add",
            "email",
            "--workspace",
            workspace,
            "--address",
            OUR_ADDRESS,
            "--imap-url",
            imap_url(server, user),
            "--smtp-url",
            "smtp://127.0.0.1:9",
            "--no-check",  # no SMTP server here: the benchmark only imports
        ).split()[-1]
        run = run_sync(env, channel, profile)
        idle_run = run_sync(env, channel)  # nothing new: the fixed cost of a sync
        stored = await count_stored(database)
    return Import(messages, run, idle_run, stored)


async def count_stored(database: ScratchDatabase) -> Stored:
    conn = await asyncpg.connect(database.dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS events, count(DISTINCT external_id) AS distinct_ids"
            " FROM timeline_events WHERE kind = 'message_received'"
        )
        quarantined = await conn.fetchval("SELECT count(*) FROM quarantined_payloads")
        cursor = await conn.fetchval("SELECT position->>'last_uid' FROM channel_cursors")
    finally:
        await conn.close()
    return Stored(row["events"], row["distinct_ids"], quarantined, int(cursor or 0))


# -- report


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def sizes(messages: list[bytes]) -> str:
    lengths = [len(m) for m in messages]
    return (
        f"{min(lengths) / 1024:.1f}-{max(lengths) / 1024:.1f} KB, "
        f"mean {sum(lengths) / len(lengths) / 1024:.1f} KB, total {sum(lengths) / 2**20:.0f} MiB"
    )


def check(result: Import, expected_events: int, expected_quarantined: int) -> list[str]:
    """What is wrong with an import's counts (empty when right)."""
    run, stored = result.run, result.stored
    problems = []
    if run.imported != expected_events or stored.events != expected_events:
        problems.append(
            f"{result.messages} messages: imported {run.imported}, stored {stored.events}, "
            f"expected {expected_events}"
        )
    if stored.distinct_external_ids != stored.events:
        problems.append(f"{stored.events - stored.distinct_external_ids} duplicated external ids")
    if run.quarantined != expected_quarantined or stored.quarantined != expected_quarantined:
        problems.append(f"quarantined {stored.quarantined}, expected {expected_quarantined}")
    if run.duplicates or result.idle_run.imported or result.idle_run.duplicates:
        problems.append("a sync of a fully imported mailbox found something to import")
    if stored.cursor_last_uid != result.messages:
        problems.append(f"cursor at UID {stored.cursor_last_uid}, expected {result.messages}")
    return problems


def _stages(log: list[tuple[str, float]]) -> Iterator[str]:
    for name, seconds in log:
        yield f"{name} {seconds:.1f} s"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--profile", type=Path, help="py-spy raw profile of the N-message sync")
    args = parser.parse_args()
    count = args.messages
    quarter = max(1, count // 4)
    stages: list[tuple[str, float]] = []

    clock = time.perf_counter()
    mailbox = generate_mailbox(count)
    small = mailbox.head(quarter)
    stages.append(("generate", time.perf_counter() - clock))
    with Dovecot() as server:
        clock = time.perf_counter()
        full_user = server.add_user("bench-full", "bench-password")
        quarter_user = server.add_user("bench-quarter", "bench-password")
        with ThreadPoolExecutor(2) as pool:  # two connections; each mailbox in its own order
            filling = [
                pool.submit(fill_mailbox, server, full_user, mailbox.messages),
                pool.submit(fill_mailbox, server, quarter_user, small.messages),
            ]
            for future in filling:
                future.result()
        stages.append(("append", time.perf_counter() - clock))

        clock = time.perf_counter()
        # Warm-up, fetch only: Dovecot builds its index and cache files on the first reads.
        baseline(server, full_user, parse=False)
        baseline(server, quarter_user, parse=False)
        base = baseline(server, full_user)
        stages.append(("baseline", time.perf_counter() - clock))
        if base.messages != count:
            raise RuntimeError(f"the baseline parsed {base.messages} of {count} messages")

        clock = time.perf_counter()
        quarter_import = await switchboard_import(server, quarter_user, quarter)
        full_import = await switchboard_import(server, full_user, count, args.profile)
        stages.append(("switchboard", time.perf_counter() - clock))

    problems = check(quarter_import, quarter - small.unparseable, small.unparseable)
    problems += check(full_import, count - mailbox.unparseable, mailbox.unparseable)
    base_rate = count / base.seconds
    hub_rate = count / full_import.run.seconds
    ratio = hub_rate / base_rate
    base_cpu_ms = base.cpu_seconds / count * 1000
    hub_cpu_ms = full_import.run.cpu_seconds / count * 1000
    rss_small, rss_full = quarter_import.run.peak_rss_kib, full_import.run.peak_rss_kib
    growth = rss_full / rss_small
    idle = full_import.idle_run.seconds

    print(f"messages                      {count:,} ({sizes(mailbox.messages)})")
    print(f"mix                           {mailbox.mix()}")
    print(f"baseline: imaplib + email     {base_rate:,.0f} msgs/s ({base.seconds:.1f} s, no store)")
    print(
        f"switchboard email sync --once {hub_rate:,.0f} msgs/s ({full_import.run.seconds:.1f} s "
        f"wall of the child process; a sync with nothing new takes {idle:.1f} s)"
    )
    print(f"ratio switchboard/baseline    {ratio:.2f}  (target >= {TARGET_RATIO:.2f})")
    print(
        f"CPU per message (info)        baseline {base_cpu_ms:.2f} ms, switchboard "
        f"{hub_cpu_ms:.2f} ms: ratio {base_cpu_ms / hub_cpu_ms:.2f} (own process: no PostgreSQL,"
        " no Dovecot)"
    )
    print(
        f"peak RSS of the sync          {_mib(rss_small)} at {quarter:,}, {_mib(rss_full)} at "
        f"{count:,}: x{growth:.2f}  (target <= {TARGET_RSS_GROWTH})"
    )
    for result in (quarter_import, full_import):
        run, stored = result.run, result.stored
        print(
            f"stored of {result.messages:<7,}            {stored.events:,} events "
            f"({stored.distinct_external_ids:,} distinct external ids), quarantined "
            f"{stored.quarantined}, duplicates {run.duplicates}, cursor at UID "
            f"{stored.cursor_last_uid:,}; {run.seconds:.1f} s"
        )
    print(f"stages                        {', '.join(_stages(stages))}")
    for problem in problems:
        print(f"WRONG: {problem}")
    ok = not problems and ratio >= TARGET_RATIO and growth <= TARGET_RSS_GROWTH
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
