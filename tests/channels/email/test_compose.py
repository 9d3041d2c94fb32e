"""compose(): Message-ID, threading headers, subject, Reply-To, MIME structure, non-ASCII text."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr

import pytest
from aiosmtplib.email import flatten_message

from channels.base import OutboundMessage, PermanentSendError
from channels.email.compose import MAX_REFERENCES, compose, message_id_for, reply_subject
from channels.email.mime import parse_email
from channels.email.smtp import send_email
from channels.email.smtp_url import SmtpUrl
from channels.email.thread_keys import EmailThreadRef
from tests.channels.email import smtp_server as smtp_testing
from tests.channels.email.smtp_server import SmtpServer
from timeline.events import Attachment, ExternalIdentity, IdentityKind

FROM = "support@shop.example"
CUSTOMER = "customer@mail.example"
CUSTOMER_THREAD = EmailThreadRef(
    message_id="<c4@mail.example>",
    in_reply_to=("<s3@shop.example>",),
    references=("<c1@mail.example>", "<s2@shop.example>", "<s3@shop.example>"),
    subject="Re: Order 1042 arrived broken",
    reply_token="t0k3n_42",
)
smtp_server = smtp_testing.smtp_server  # the fixture, bound here so pytest finds it
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


def outbound(**changes: object) -> OutboundMessage:
    message = OutboundMessage(
        message_id=7,
        channel_account_id=3,
        recipient=ExternalIdentity(IdentityKind.EMAIL, CUSTOMER),
        body="Hello,\n\nwe are sending a replacement today.\n",
        idempotency_key="message:7",
    )
    return replace(message, **changes)


def build(
    message: OutboundMessage, thread: EmailThreadRef | None = CUSTOMER_THREAD, **options: object
) -> EmailMessage:
    arguments: dict[str, object] = {
        "thread": thread,
        "from_address": FROM,
        "from_name": "Shop Support",
        "reply_domain": "reply.shop.example",
    }
    arguments.update(options)
    return compose(message, **arguments)  # type: ignore[arg-type]


def text_of(part: EmailMessage | None) -> str:
    """A text part's content with line endings as "\\n" (8bit parts keep the wire's CRLF)."""
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def display_name(raw: bytes, header: str) -> str:
    """The display name in `header`, decoded the RFC 2047 way.

    Not through policy.default: on 3.11 its address parser puts a space between two
    encoded-words that split a word ("о тправлен"), which RFC 2047 says to join.
    """
    value = BytesParser(policy=policy.compat32).parsebytes(raw)[header]
    name, _ = parseaddr(str(make_header(decode_header(value))))
    return name


def reparsed(email: EmailMessage) -> EmailMessage:
    """The message as a receiver sees it: flattened as aiosmtplib sends it, parsed back."""
    parsed = BytesParser(policy=policy.default).parsebytes(flatten_message(email))
    assert isinstance(parsed, EmailMessage)
    return parsed


# ------------------------------------------------------------------------------ Message-ID


def test_message_id_is_derived_from_the_idempotency_key_and_domain() -> None:
    digest = hashlib.sha256(b"message:7").hexdigest()[:32]
    assert message_id_for("message:7", "Shop.Example") == f"<{digest}@shop.example>"


def test_same_key_gives_the_same_message_id_on_every_compose() -> None:
    first = build(outbound())
    second = build(outbound(body="edited body", subject="other"))
    assert (
        first["Message-ID"] == second["Message-ID"] == message_id_for("message:7", "shop.example")
    )


def test_different_keys_give_different_message_ids() -> None:
    ids = {build(outbound(idempotency_key=f"message:{n}"))["Message-ID"] for n in range(50)}
    assert len(ids) == 50


def test_message_id_uses_the_senders_domain_in_ascii() -> None:
    email = build(outbound(), from_address="hilfe@bücher.example")
    assert str(email["Message-ID"]).endswith("@xn--bcher-kva.example>")


def test_message_id_needs_a_key_and_a_domain() -> None:
    with pytest.raises(ValueError):
        message_id_for("", "shop.example")
    with pytest.raises(ValueError):
        message_id_for("k", "not a domain")


# ------------------------------------------------------------------------------ threading


def test_reply_threads_under_the_customers_last_message() -> None:
    email = reparsed(build(outbound()))
    assert email["In-Reply-To"] == "<c4@mail.example>"
    assert email["References"].split() == [
        "<c1@mail.example>",
        "<s2@shop.example>",
        "<s3@shop.example>",
        "<c4@mail.example>",
    ]


def test_references_fall_back_to_in_reply_to_when_the_parent_had_none() -> None:
    thread = EmailThreadRef(message_id="<c2@x>", in_reply_to=("<s1@shop.example>",))
    email = build(outbound(), thread=thread)
    assert email["References"].split() == ["<s1@shop.example>", "<c2@x>"]


def test_first_reply_to_a_new_mail_references_only_it() -> None:
    email = build(outbound(), thread=EmailThreadRef(message_id="<first@mail.example>"))
    assert email["In-Reply-To"] == "<first@mail.example>"
    assert email["References"] == "<first@mail.example>"


def test_ids_are_cleaned_and_deduplicated() -> None:
    thread = EmailThreadRef(
        message_id="c3@x",
        references=("<c1@x>", " <c1@x> ", "garbage with spaces", "<c2@x>", "<c3@x>"),
    )
    email = build(outbound(), thread=thread)
    assert email["In-Reply-To"] == "<c3@x>"
    assert email["References"].split() == ["<c1@x>", "<c2@x>", "<c3@x>"]


def test_long_chains_keep_the_root_and_the_newest_ids() -> None:
    chain = tuple(f"<m{n}@x>" for n in range(40))
    email = build(outbound(), thread=EmailThreadRef(message_id="<m40@x>", references=chain))
    ids = email["References"].split()
    assert len(ids) == MAX_REFERENCES
    assert ids[0] == "<m0@x>"
    assert ids[-1] == "<m40@x>"
    assert ids[1] == f"<m{41 - MAX_REFERENCES + 1}@x>"


def test_parent_without_message_id_adds_no_in_reply_to() -> None:
    thread = EmailThreadRef(message_id=None, references=("<a@x>",), reply_token="tok")
    email = build(outbound(), thread=thread)
    assert email["In-Reply-To"] is None
    assert email["References"] == "<a@x>"
    assert email["Reply-To"].addresses[0].addr_spec == "reply+tok@reply.shop.example"


def test_new_mail_without_thread_has_no_threading_headers() -> None:
    email = build(outbound(subject="Your invoice"), thread=None)
    for name in ("In-Reply-To", "References", "Reply-To"):
        assert email[name] is None
    assert email["Subject"] == "Your invoice"


# ------------------------------------------------------------------------------ subject


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Order 1042", "Re: Order 1042"),
        ("Re: Order 1042", "Re: Order 1042"),
        ("RE: re: Re:Order 1042", "Re: Order 1042"),
        ("Re[2]: Order 1042", "Re: Order 1042"),
        ("AW: Bestellung", "Re: Bestellung"),
        ("SV: Beställning", "Re: Beställning"),
        ("回复：订单", "Re: 订单"),
        ("  Re:   spaced \n  out  ", "Re: spaced out"),
        ("Fwd: Order 1042", "Re: Fwd: Order 1042"),
        ("Regarding the order", "Re: Regarding the order"),
        ("", ""),
        ("Re:", ""),
    ],
)
def test_reply_subject_never_stacks_prefixes(original: str, expected: str) -> None:
    assert reply_subject(original) == expected


def test_subject_comes_from_the_thread_unless_given() -> None:
    assert build(outbound())["Subject"] == "Re: Order 1042 arrived broken"
    assert build(outbound(subject="New subject"))["Subject"] == "New subject"
    assert build(outbound(subject="  "))["Subject"] == "Re: Order 1042 arrived broken"


def test_no_subject_header_when_there_is_nothing_to_say() -> None:
    email = build(outbound(), thread=EmailThreadRef(message_id="<a@x>", subject=""))
    assert email["Subject"] is None


def tokened(subject: str, token: str = "7KQ2M9XRTA") -> EmailThreadRef:
    return replace(CUSTOMER_THREAD, subject=subject, subject_token=token)


@pytest.mark.parametrize(
    ("customer_subject", "expected"),
    [
        ("Where is my order?", "Re: Where is my order? [#SB-7KQ2M9XRTA]"),
        ("Re: Where is my order? [#SB-7KQ2M9XRTA]", "Re: Where is my order? [#SB-7KQ2M9XRTA]"),
        ("AW: [#sb-7kq2m9xrta] Where is my order?", "Re: [#sb-7kq2m9xrta] Where is my order?"),
        ("Re: Old matter [#SB-00000AAAAA]", "Re: Old matter [#SB-7KQ2M9XRTA]"),
        ("Re: twice [#SB-7KQ2M9XRTA] [#SB-7KQ2M9XRTA]", "Re: twice [#SB-7KQ2M9XRTA]"),
        (
            "Ticket [#12345] and [SB-7KQ2M9XRTA]",
            "Re: Ticket [#12345] and [SB-7KQ2M9XRTA] [#SB-7KQ2M9XRTA]",
        ),
        ("", "[#SB-7KQ2M9XRTA]"),
    ],
)
def test_the_subject_token_is_carried_exactly_once(customer_subject: str, expected: str) -> None:
    assert build(outbound(), thread=tokened(customer_subject))["Subject"] == expected


def test_a_subject_the_agent_wrote_carries_the_token_too() -> None:
    email = build(outbound(subject="Your refund"), thread=tokened("Order 1042"))
    assert email["Subject"] == "Your refund [#SB-7KQ2M9XRTA]"


def test_a_composed_token_reads_back_from_the_mail_as_sent() -> None:
    email = build(
        outbound(), thread=tokened("Где мой заказ? " + "длинная тема " * 8)
    )  # encoded and folded
    parsed = parse_email(
        flatten_message(email),
        channel_account_id=1,
        raw_ref="r",
        received_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert parsed.thread_ref.subject_token == "7KQ2M9XRTA"


# ------------------------------------------------------------------------------ addresses


def test_address_headers_and_no_auto_submitted() -> None:
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    email = reparsed(build(outbound(), now=now))
    assert email["From"].addresses[0].display_name == "Shop Support"
    assert email["From"].addresses[0].addr_spec == FROM
    assert email["To"].addresses[0].addr_spec == CUSTOMER
    assert email["Reply-To"].addresses[0].addr_spec == "reply+t0k3n_42@reply.shop.example"
    assert email["Date"].datetime == now
    assert email["Auto-Submitted"] is None
    assert email["MIME-Version"] == "1.0"


def test_no_reply_to_without_a_token() -> None:
    thread = replace(CUSTOMER_THREAD, reply_token=None)
    assert build(outbound(), thread=thread)["Reply-To"] is None


def test_sender_without_display_name() -> None:
    email = build(outbound(), from_name=None)
    assert str(email["From"]) == FROM


@pytest.mark.parametrize("recipient", ["not-an-address", "two@@x", "@x.example", "a@"])
def test_bad_recipient_is_permanent(recipient: str) -> None:
    with pytest.raises(PermanentSendError, match="not an email address"):
        build(outbound(recipient=ExternalIdentity(IdentityKind.EMAIL, recipient)))


def test_non_email_recipient_is_permanent() -> None:
    with pytest.raises(PermanentSendError, match="phone"):
        build(outbound(recipient=ExternalIdentity(IdentityKind.PHONE, "+15551234567")))


def test_bad_sender_is_permanent() -> None:
    with pytest.raises(PermanentSendError, match="sender"):
        build(outbound(), from_address="nobody")


# ------------------------------------------------------------------------------ MIME structure


def test_plain_text_only_is_a_single_part() -> None:
    email = reparsed(build(outbound()))
    assert email.get_content_type() == "text/plain"
    assert email.get_content_charset() == "utf-8"
    assert text_of(email) == "Hello,\n\nwe are sending a replacement today.\n"


def test_html_makes_multipart_alternative_text_first() -> None:
    email = reparsed(build(outbound(html="<p>Hello,</p><p>a <b>replacement</b>.</p>")))
    assert email.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in email.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "<b>replacement</b>" in text_of(email.get_body(("html",)))


def test_attachments_and_inline_image_structure() -> None:
    message = outbound(
        html='<p>Logo: <img src="cid:logo@shop"></p>',
        attachments=(
            Attachment("invoice.pdf", "application/pdf", digest="pdf-digest"),
            Attachment("logo.png", "image/png", content_id="logo@shop", digest="png-digest"),
        ),
    )
    email = reparsed(build(message, attachments={"pdf-digest": PDF, "png-digest": PNG}))
    assert email.get_content_type() == "multipart/mixed"
    top = list(email.iter_parts())
    assert [p.get_content_type() for p in top] == ["multipart/alternative", "application/pdf"]
    alternative = list(top[0].iter_parts())
    assert [p.get_content_type() for p in alternative] == ["text/plain", "multipart/related"]
    related = list(alternative[1].iter_parts())
    assert [p.get_content_type() for p in related] == ["text/html", "image/png"]
    assert related[1]["Content-ID"] == "<logo@shop>"
    assert related[1].get_content_disposition() == "inline"
    assert related[1].get_content() == PNG
    assert top[1].get_filename() == "invoice.pdf"
    assert top[1].get_content_disposition() == "attachment"
    assert top[1].get_content() == PDF
    assert [p["MIME-Version"] for p in email.walk()][1:] == [None] * 6


def test_attachment_without_html_is_a_plain_attachment() -> None:
    message = outbound(
        attachments=(Attachment("logo.png", "image/png", content_id="c", digest="d"),)
    )
    email = reparsed(build(message, attachments={"d": PNG}))
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "image/png"]
    assert list(email.iter_attachments())[0].get_content() == PNG


def test_unusable_content_types_become_octet_stream() -> None:
    message = outbound(
        attachments=(
            Attachment("a.eml", "message/rfc822", digest="a"),
            Attachment("b.bin", "garbage", digest="b"),
            Attachment("c.txt", "text/plain; charset=utf-8", digest="c"),
        )
    )
    files = {"a": b"From: x\r\n\r\nhi\r\n", "b": b"\x00\x01", "c": "é\n".encode()}
    email = reparsed(build(message, attachments=files))
    parts = list(email.iter_attachments())
    assert [p.get_content_type() for p in parts] == [
        "application/octet-stream",
        "application/octet-stream",
        "text/plain",
    ]
    assert [p.get_payload(decode=True) for p in parts] == list(files.values())


def test_missing_attachment_bytes_are_permanent_and_named() -> None:
    message = outbound(attachments=(Attachment("contract.pdf", "application/pdf", digest="abc"),))
    with pytest.raises(PermanentSendError, match=r"contract\.pdf.*abc"):
        build(message, attachments={"other": PDF})
    undigested = outbound(attachments=(Attachment("x.pdf", "application/pdf"),))
    with pytest.raises(PermanentSendError, match=r"x\.pdf"):
        build(undigested)


def test_filenames_lose_their_paths() -> None:
    message = outbound(attachments=(Attachment("C:\\Users\\a\\..\\report.pdf", "a/b", digest="d"),))
    email = reparsed(build(message, attachments={"d": PDF}))
    assert list(email.iter_attachments())[0].get_filename() == "report.pdf"


# ------------------------------------------------------------------------------ non-ASCII

PERSIAN = "سفارش شما ارسال شد ✅"
CYRILLIC = "Ваш заказ №1042 отправлен"
EMOJI = "📦🚚 on its way 👍🏽"
LONG = " ".join(["Ваш заказ отправлен", PERSIAN, EMOJI] * 4)  # folds over several lines


@pytest.mark.parametrize("text", [PERSIAN, CYRILLIC, EMOJI, LONG])
def test_non_ascii_subject_name_and_body_round_trip(text: str) -> None:
    message = outbound(
        subject=text,
        body=f"{text}\n\n{PERSIAN}\n{CYRILLIC}\n{EMOJI}\n",
        html=f"<p>{text}</p>",
        attachments=(Attachment(f"{text}.pdf", "application/pdf", digest="d"),),
    )
    email = build(message, from_name=f"پشتیبانی {text}", attachments={"d": PDF})
    raw = flatten_message(email)
    assert raw.split(b"\r\n\r\n", 1)[0].isascii()  # headers are RFC 2047 / RFC 2231 encoded
    parsed = reparsed(email)
    assert parsed["Subject"] == text
    assert display_name(raw, "From") == f"پشتیبانی {text}"
    plain = text_of(parsed.get_body(("plain",)))
    assert plain == f"{text}\n\n{PERSIAN}\n{CYRILLIC}\n{EMOJI}\n"
    assert text_of(parsed.get_body(("html",))) == f"<p>{text}</p>\n"
    assert list(parsed.iter_attachments())[0].get_filename() == f"{text}.pdf"


def test_non_ascii_thread_subject_gets_one_re() -> None:
    thread = replace(CUSTOMER_THREAD, subject=f"Re: RE: {CYRILLIC}")
    assert reparsed(build(outbound(), thread=thread))["Subject"] == f"Re: {CYRILLIC}"


def test_header_injection_is_flattened() -> None:
    email = build(outbound(subject="Hi\r\nBcc: victim@x.example"), from_name="A\nB")
    parsed = reparsed(email)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Hi Bcc: victim@x.example"
    assert parsed["From"].addresses[0].display_name == "A B"


# ------------------------------------------------------------------------------ through SMTP


async def test_composed_mail_arrives_intact_over_smtp(smtp_server: SmtpServer) -> None:
    message = outbound(
        subject=f"{PERSIAN} {EMOJI}",
        body=f"{CYRILLIC}\n.\n..leading dots survive\n",
        html=f"<p>{PERSIAN}</p>",
        attachments=(Attachment("photo.png", "image/png", digest="png"),),
    )
    email = build(message, attachments={"png": PNG})
    url = SmtpUrl.parse(smtp_server.url())
    await send_email(url, FROM, [CUSTOMER], email, local_hostname="client.test")
    (received,) = smtp_server.received
    parsed = received.parsed()
    assert parsed["Subject"] == f"{PERSIAN} {EMOJI}"
    assert parsed["Message-ID"] == message_id_for("message:7", "shop.example")
    assert text_of(parsed.get_body(("plain",))) == f"{CYRILLIC}\n.\n..leading dots survive\n"
    assert list(parsed.iter_attachments())[0].get_content() == PNG
