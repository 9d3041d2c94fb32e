"""SmtpUrl.parse: schemes, default ports, credentials, TLS options, errors, no password leaks."""

from __future__ import annotations

import pytest

from channels.email.smtp_url import SmtpUrl, StartTls


def test_smtp_with_credentials_and_port() -> None:
    url = SmtpUrl.parse("smtp://user:password@mail.example.com:2525")
    assert (url.host, url.port, url.username, url.password) == (
        "mail.example.com",
        2525,
        "user",
        "password",
    )
    assert url.implicit_tls is False
    assert url.starttls is StartTls.REQUIRE  # a login never goes out in clear by default
    assert url.tls_verify is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://user:secret@host", StartTls.REQUIRE),
        ("smtp://user:@host", StartTls.REQUIRE),
        ("smtp://user@host", StartTls.REQUIRE),
        ("smtp://user:secret@host?starttls=no", StartTls.NO),
        ("smtp://user:secret@host?starttls=auto", StartTls.AUTO),
        ("smtp://host", StartTls.AUTO),
    ],
)
def test_a_login_requires_starttls_unless_the_url_says_otherwise(
    url: str, expected: StartTls
) -> None:
    assert SmtpUrl.parse(url).starttls is expected


def test_default_ports() -> None:
    assert SmtpUrl.parse("smtp://mail.example.com").port == 587
    assert SmtpUrl.parse("smtps://mail.example.com").port == 465
    assert SmtpUrl.parse("smtps://mail.example.com").implicit_tls is True


def test_scheme_and_host_are_case_insensitive() -> None:
    url = SmtpUrl.parse("SMTPS://Mail.Example.COM")
    assert (url.host, url.implicit_tls) == ("mail.example.com", True)


def test_credentials_are_percent_decoded() -> None:
    url = SmtpUrl.parse("smtp://support%40shop.example:p%40ss%3Aw%2Frd%23%3F%20x@host")
    assert url.username == "support@shop.example"
    assert url.password == "p@ss:w/rd#? x"
    assert url.host == "host"


def test_user_without_password_and_no_credentials() -> None:
    assert SmtpUrl.parse("smtp://user@host").username == "user"
    assert SmtpUrl.parse("smtp://user@host").password is None
    anonymous = SmtpUrl.parse("smtp://host:25")
    assert (anonymous.username, anonymous.password) == (None, None)


def test_empty_password_is_kept_as_empty() -> None:
    assert SmtpUrl.parse("smtp://user:@host").password == ""


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", StartTls.AUTO),
        ("?starttls=auto", StartTls.AUTO),
        ("?starttls=no", StartTls.NO),
        ("?starttls=require", StartTls.REQUIRE),
        ("?STARTTLS=Require", StartTls.REQUIRE),
    ],
)
def test_starttls_option(query: str, expected: StartTls) -> None:
    assert SmtpUrl.parse(f"smtp://host{query}").starttls is expected


@pytest.mark.parametrize(("value", "expected"), [("no", False), ("yes", True), ("false", False)])
def test_tls_verify_option(value: str, expected: bool) -> None:
    assert SmtpUrl.parse(f"smtps://host?tls_verify={value}").tls_verify is expected


def test_options_combine() -> None:
    url = SmtpUrl.parse("smtp://u:p@127.0.0.1:1025/?starttls=require&tls_verify=no")
    assert (url.host, url.port, url.starttls, url.tls_verify) == (
        "127.0.0.1",
        1025,
        StartTls.REQUIRE,
        False,
    )


def test_ipv6_host() -> None:
    url = SmtpUrl.parse("smtp://[::1]:2525")
    assert (url.host, url.port) == ("::1", 2525)
    assert str(url) == "smtp://[::1]:2525"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("http://host", "smtp:// or smtps://"),
        ("mail.example.com:587", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://user:pw@", "no host"),
        ("smtp://host:0", "port"),
        ("smtp://host:70000", "port"),
        ("smtp://host:abc", "port"),
        ("smtp://host/some/path", "path"),
        ("smtp://host#frag", "fragment"),
        ("smtp://:pw@host", "empty user name"),
        ("smtp://host?starttls=maybe", "starttls must be auto, no or require"),
        ("smtp://host?tls_verify=perhaps", "tls_verify must be yes or no"),
        ("smtp://host?timeout=5", "'timeout'"),
        ("smtp://host?starttls=no&starttls=require", "twice"),
        ("smtps://host?starttls=require", "does not apply to smtps://"),
    ],
)
def test_bad_urls_raise_clear_value_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="SMTP URL") as caught:
        SmtpUrl.parse(url)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://user:s3cr%2Ft@host:abc",  # a bad port must not echo anything after the user
        "smtp://user:s3cr/t@host",  # an unencoded '/' splits the password into a "path"
        "smtp://user:s3cr#t@host",  # an unencoded '#' turns the rest into a "fragment"
        "smtp://user:s3cr?t@host",  # an unencoded '?' turns the rest into a "query"
    ],
)
def test_errors_never_echo_the_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        SmtpUrl.parse(url)
    assert "s3cr" not in str(caught.value)
    assert "t@host" not in str(caught.value)


def test_str_and_repr_hide_the_password() -> None:
    url = SmtpUrl.parse("smtp://us%40er:hunter2-secret@host:2525?starttls=require&tls_verify=no")
    for text in (str(url), repr(url), f"{url}", f"{url!r}", str([url])):
        assert "hunter2-secret" not in text
    assert str(url) == "smtp://us%40er:***@host:2525?starttls=require&tls_verify=no"
    assert repr(url) == f"SmtpUrl({str(url)!r})"


def test_str_round_trips_without_credentials() -> None:
    for text in ("smtp://host:587", "smtps://host:465", "smtp://host:25?starttls=no"):
        assert str(SmtpUrl.parse(text)) == text
        assert SmtpUrl.parse(str(SmtpUrl.parse(text))) == SmtpUrl.parse(text)
