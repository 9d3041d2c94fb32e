"""Tests for channels.email.quoting: new text versus quoted history, in text and HTML replies."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.email.mime import ParsedEmail, parse_email
from channels.email.quoting import (
    _ATTRIBUTION_ENDINGS,
    _ATTRIBUTIONS,
    split_reply,
    split_reply_html,
)

FIXTURES = Path(__file__).parent / "fixtures"


def parse(name: str) -> ParsedEmail:
    return parse_email(
        (FIXTURES / name).read_bytes(),
        channel_account_id=1,
        raw_ref="r",
        received_at=datetime(2024, 3, 5, 12, tzinfo=UTC),
    )


def assert_nothing_dropped(text: str, new: str, tail: str) -> None:
    assert text.startswith(new) and text.endswith(tail)
    assert text[len(new) : len(text) - len(tail)].strip() == ""


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_words(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).split()


def visible_text(html: str) -> str:
    """The visible characters without whitespace (a split may separate touching words)."""
    return "".join(visible_words(html))


def tag_balance(html: str, tag: str) -> int:
    return html.count(f"<{tag}") - html.count(f"</{tag}>")


# --------------------------------------------------------------------------- fixtures


def test_gmail_reply_text_and_html() -> None:
    parsed = parse("message_received__reply_gmail.eml")

    new, tail = split_reply(parsed.text)
    assert new == "Thanks, that fixed it! The export works again.\n\nAnna"
    assert tail.startswith("On Mon, Mar 4, 2024 at 10:15 AM Switchboard Support <\n")
    assert "> please clear your browser cache" in tail

    assert parsed.html is not None
    new_html, quoted_html = split_reply_html(parsed.html)
    assert "The export works again." in new_html and "browser cache" not in new_html
    assert quoted_html.startswith('<div class="gmail_quote">')
    assert visible_text(new_html) + visible_text(quoted_html) == visible_text(parsed.html)


def test_outlook_reply_text_and_html() -> None:
    parsed = parse("message_received__reply_outlook.eml")

    new, tail = split_reply(parsed.text)
    assert new.endswith("Regards,\nBob")
    assert tail.startswith("From: Switchboard Support <support@switchboard.example>\nSent:")
    assert "VAT ID is missing" in tail

    assert parsed.html is not None
    new_html, quoted_html = split_reply_html(parsed.html)
    assert "corrected invoice" in new_html and "VAT ID" not in new_html
    assert quoted_html.startswith('<div id="appendonsend"></div>')
    assert visible_text(new_html) + visible_text(quoted_html) == visible_text(parsed.html)


def test_german_thunderbird_reply() -> None:
    text = parse("message_received__reply_german.eml").text

    new, tail = split_reply(text)
    assert new.endswith("Grüße aus Köln\nMax")
    assert tail.startswith("Am 04.03.24 um 10:15 schrieb Switchboard Support:\n> Guten Tag")
    assert_nothing_dropped(text, new, tail)


def test_signature_goes_to_the_tail() -> None:
    text = parse("message_received__plain.eml").text

    new, tail = split_reply(text)
    assert new.endswith("Viele Grüße\nJürgen Müller")
    assert tail == "-- \nJürgen Müller · Müller & Söhne GmbH\nMusterstraße 1, 50667 Köln"


def test_forwarded_message_is_content_not_history() -> None:
    parsed = parse("message_received__forwarded.eml")

    assert split_reply(parsed.text) == (parsed.text, "")
    assert parsed.html is not None
    assert split_reply_html(parsed.html) == (parsed.html, "")


def test_message_without_quotes_is_not_split() -> None:
    text = parse("message_received__multipart_alternative.eml").text
    assert split_reply(text) == (text, "")


# --------------------------------------------------------------------------- attributions

NEW = "Danke, das hat geholfen.\n\n"
QUOTE = "\n> Hallo,\n> bitte probieren Sie es erneut.\n"


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Mar 4, 2024 at 10:15 AM Support <support@example.com> wrote:",
        "On 4 Mar 2024, at 10:15, Support <support@example.com> wrote:",
        "On Mon, Mar 4, 2024 at 10:15 AM Switchboard Support <\nsupport@example.com> wrote:",
        "Am 04.03.24 um 10:15 schrieb Switchboard Support:",
        "Am Mo., 4. März 2024 um 10:15 Uhr schrieb Support <support@example.com>:",
        "Le lun. 4 mars 2024 à 10:15, Support <support@example.com> a écrit\u00a0:",
        "Le 04/03/2024 à 10:15, Support a écrit :",
        "El lun, 4 mar 2024 a las 10:15, Support (<support@example.com>) escribió:",
        "Em seg., 4 de mar. de 2024 às 10:15, Support <support@example.com> escreveu:",
        "Il giorno lun 4 mar 2024 alle ore 10:15 Support <support@example.com> ha scritto:",
        "Op ma 4 mrt 2024 om 10:15 schreef Support <support@example.com>:",
        "Den mån 4 mars 2024 kl 10:15 skrev Support <support@example.com>:",
        "W dniu pon., 4 mar 2024 o 10:15 Support <support@example.com> napisał(a):",
        "04.03.2024 10:15, Support пишет:",
        "пн, 4 мар. 2024 г. в 10:15, Support <support@example.com>:",
        "\u202bدر تاریخ دوشنبه ۴ مارس ۲۰۲۴ ساعت ۱۰:۱۵ Support <support@example.com>\u202c"
        " نوشت:\u202c",
        "\u202bفي الاثنين، 4 مارس 2024 في 10:15 ص، Support <support@example.com> كتب:\u202c",
        "Support <support@example.com> 于2024年3月4日周一 10:15写道：",
        "2024年3月4日(月) 10:15 Support <support@example.com>:",
    ],
)
def test_localized_attribution_lines_start_the_quote(attribution: str) -> None:
    text = NEW + attribution + "\n" + QUOTE
    new, tail = split_reply(text)
    assert new == "Danke, das hat geholfen."
    assert tail.startswith(attribution.split("\n")[0])
    assert_nothing_dropped(text, new, tail)


def test_unknown_attribution_with_an_address_joins_the_quote() -> None:
    text = NEW + "Support <support@example.com> hat am 4.3. geantwortet:\n" + QUOTE
    new, tail = split_reply(text)
    assert new == "Danke, das hat geholfen."
    assert tail.startswith("Support <support@example.com> hat am")


def test_bare_quote_block_at_the_end() -> None:
    text = "Yes, that is right.\n\n> Is the invoice address still valid?\n> Thanks\n"
    assert split_reply(text) == (
        "Yes, that is right.",
        "> Is the invoice address still valid?\n> Thanks\n",
    )


# --------------------------------------------------------------------------- Outlook headers


@pytest.mark.parametrize(
    "history",
    [
        "-----Original Message-----\nFrom: Support [mailto:support@example.com]\n"
        "Sent: Monday, March 4, 2024 10:15 AM\nTo: Bob\nSubject: Invoice\n\nOld text",
        "________________________________\nFrom: Support <support@example.com>\n"
        "Sent: Monday, March 4, 2024 10:15\nTo: Bob <bob@example.com>\nSubject: RE: Invoice\n\nOld",
        "From: Support <support@example.com>\nSent: Monday, March 4, 2024 10:15 AM\n"
        "To: Bob <bob@example.com>\nCc: Team <team@example.com>\nSubject: Invoice\n\nOld",
        "*From:* Support <support@example.com>\n*Sent:* Monday, March 4, 2024 10:15 AM\n"
        "*To:* Bob\n*Subject:* Invoice\n\nOld",
        "-----Ursprüngliche Nachricht-----\nVon: Support <support@example.com>\n"
        "Gesendet: Montag, 4. März 2024 10:15\nAn: Bob\nBetreff: Rechnung\n\nAlt",
        "De : Support <support@example.com>\nEnvoyé : lundi 4 mars 2024 10:15\nÀ : Bob\n"
        "Objet : Facture\n\nAncien",
        "De: Support <support@example.com>\nEnviado el: lunes, 4 de marzo de 2024 10:15\n"
        "Para: Bob\nAsunto: Factura\n\nViejo",
        "-----Message d'origine-----\nDe : Support\nEnvoyé : lundi 4 mars 2024\nÀ : Bob\n"
        "Objet : Facture",
    ],
)
def test_outlook_header_blocks_start_the_history(history: str) -> None:
    text = "Please resend it.\n\nBob\n\n" + history
    new, tail = split_reply(text)
    assert new == "Please resend it.\n\nBob"
    assert tail == history


def test_forwarded_header_block_is_not_history() -> None:
    text = (
        "FYI, see below.\n\n-------- Forwarded Message --------\nSubject: Invoice\n"
        "From: Support <support@example.com>\nDate: Mon, 4 Mar 2024 10:15\nTo: Bob\n"
        "Subject: Invoice\n\nForwarded text"
    )
    assert split_reply(text) == (text, "")
    apple = (
        "FYI\n\nBegin forwarded message:\n\nFrom: Support <support@example.com>\n"
        "Subject: Invoice\nDate: 4 March 2024 at 10:15:00 CET\nTo: Bob\n\nForwarded text"
    )
    assert split_reply(apple) == (apple, "")


# --------------------------------------------------------------------------- conservative


@pytest.mark.parametrize(
    "text",
    [
        # interleaved answers: every line is new text
        "On Mon, Mar 4, 2024 Support <s@example.com> wrote:\n> first question?\nfirst answer\n"
        "> second question?\nsecond answer\n",
        "Hi,\n> what is your order number?\nIt is 4711.\n> and your zip code?\n50667\n",
        # an attribution without quoted lines after it
        "Thanks!\n\nOn Mon, Mar 4, 2024 Support <s@example.com> wrote:\nHi, all good?\n",
        # "wrote" in the middle of a sentence
        "On Monday my colleague wrote: the export is broken. Please fix it.\nThanks\n",
        # a header-looking line that is not a header block
        "From: the accounting department we heard nothing.\nPlease call us.\n",
        # only quoted text: nothing would be left, so nothing is hidden
        "> just the quote\n> nothing else\n",
        # a long text after a bare "--": not a signature
        "Intro\n--\n" + "".join(f"line {n}\n" for n in range(10)),
        "",
    ],
)
def test_conservative_no_split(text: str) -> None:
    assert split_reply(text) == (text, "")


def test_long_signature_is_not_a_signature() -> None:
    text = "Hi\n-- \n" + "".join(f"line {n}\n" for n in range(20))
    assert split_reply(text) == (text, "")


def test_signature_before_the_quote() -> None:
    text = "New text\n\n-- \nBob\nACME\n\nOn Mon, Mar 4, 2024 Support <s@example.com> wrote:\n> q\n"
    new, tail = split_reply(text)
    assert new == "New text"
    assert tail.startswith("-- \nBob\nACME\n\nOn Mon")


def test_signature_after_the_quote_belongs_to_the_tail() -> None:
    text = "New text\n\nOn Mon, Mar 4, 2024 Support <s@example.com> wrote:\n> q\n\n-- \nBob\n"
    new, tail = split_reply(text)
    assert new == "New text" and tail.endswith("-- \nBob\n")


def test_crlf_text_keeps_its_line_endings() -> None:
    text = "Yes.\r\n\r\nOn Mon, Mar 4, 2024 Support <s@example.com> wrote:\r\n> q\r\n"
    new, tail = split_reply(text)
    assert new == "Yes."
    assert tail == "On Mon, Mar 4, 2024 Support <s@example.com> wrote:\r\n> q\r\n"


LINES = st.sampled_from(
    [
        "",
        "Hello",
        "> quoted",
        ">> deeper",
        "-- ",
        "--",
        "On Mon, Mar 4, 2024 X <x@y.z> wrote:",
        "Am 04.03.24 um 10:15 schrieb X:",
        "-----Original Message-----",
        "From: X <x@y.z>",
        "Sent: Monday",
        "To: Y",
        "Subject: Z",
        "________________________________",
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "Thanks,",
        "  ",
        "\u202bدر تاریخ ۴ مارس X نوشت:\u202c",
    ]
)


@given(
    st.lists(st.one_of(LINES, st.text(max_size=30)), max_size=40), st.sampled_from(["\n", "\r\n"])
)
@settings(max_examples=300, deadline=None)
def test_split_never_drops_text(lines: list[str], newline: str) -> None:
    text = newline.join(lines)
    new, tail = split_reply(text)
    assert_nothing_dropped(text, new, tail)
    if tail:
        assert new.strip()


# --------------------------------------------------------------------------- HTML


def test_thunderbird_html_reply() -> None:
    html = (
        '<html><body><p>Works now, thanks!</p><div class="moz-cite-prefix">Am 04.03.24 um '
        '10:15 schrieb Support:<br></div><blockquote type="cite">Please retry.</blockquote>'
        "</body></html>"
    )
    new, quoted = split_reply_html(html)
    assert new == "<html><body><p>Works now, thanks!</p></body></html>"
    assert quoted == (
        '<html><body><div class="moz-cite-prefix">Am 04.03.24 um 10:15 schrieb '
        'Support:<br></div><blockquote type="cite">Please retry.</blockquote>'
        "</body></html>"
    )


def test_apple_mail_trailing_cite_blockquote() -> None:
    html = (
        '<div>Sure, Tuesday works.<br><div><br><blockquote type="cite"><div>On 4 Mar 2024, '
        "at 10:15, Support wrote:</div><div>Does Tuesday work?</div></blockquote></div></div>"
    )
    new, quoted = split_reply_html(html)
    assert visible_words(new) == ["Sure,", "Tuesday", "works."]
    assert quoted.startswith('<div><div><blockquote type="cite">')
    assert tag_balance(new, "div") == 0 and tag_balance(quoted, "div") == 0


def test_interleaved_cite_blockquote_is_not_split() -> None:
    html = (
        '<blockquote type="cite">Question one?</blockquote><p>Answer one.</p>'
        '<blockquote type="cite">Question two?</blockquote><p>Answer two.</p>'
    )
    assert split_reply_html(html) == (html, "")


def test_outlook_desktop_border_header() -> None:
    html = (
        '<div class="WordSection1"><p>Please resend.</p><div style="border:none;'
        'border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p><b>From:</b> '
        "Support</p></div><p>Old text</p></div>"
    )
    new, quoted = split_reply_html(html)
    assert visible_words(new) == ["Please", "resend."]
    assert "Old text" in quoted and quoted.startswith('<div class="WordSection1"><div style=')


def test_html_without_markers_or_new_text_is_not_split() -> None:
    plain = "<p>Hello</p><blockquote>not a cite</blockquote>"
    assert split_reply_html(plain) == (plain, "")
    only_quote = '<div class="gmail_quote">On Mon, X wrote:<blockquote>q</blockquote></div>'
    assert split_reply_html(only_quote) == (only_quote, "")


HTML_PARTS = st.sampled_from(
    [
        "<div>",
        "</div>",
        "<p>text</p>",
        '<div class="gmail_quote">',
        '<blockquote type="cite">',
        "</blockquote>",
        '<div id="appendonsend"></div>',
        "<br>",
        "words here",
        "<b>bold</b>",
        '<div id="divRplyFwdMsg">',
        "<span>",
        "</span>",
        "&amp;",
        "<!-- c -->",
        "<img src=x>",
        "---------- Forwarded message ---------",
    ]
)


@given(st.lists(HTML_PARTS, max_size=30))
@settings(max_examples=300, deadline=None)
def test_html_split_never_drops_text(parts: list[str]) -> None:
    html = "".join(parts)
    new, quoted = split_reply_html(html)
    assert visible_text(new) + visible_text(quoted) == visible_text(html)


def test_every_attribution_pattern_ends_as_the_prefilter_expects() -> None:
    """Lines are tried against the patterns only when they end with a colon: a pattern that
    could match another ending would never be tried."""
    assert set(_ATTRIBUTION_ENDINGS) == {":", "："}
    for pattern in _ATTRIBUTIONS:
        assert pattern.pattern.endswith((":$", "[:：]$")), pattern.pattern
