"""Makes email HTML safe to show with an nh3 allow-list that keeps mail formatting and quotes."""

from __future__ import annotations

import re
from itertools import islice

import nh3

from channels.email.headers import CONTROL_CHARS

MAX_HTML_TAGS = 10_000
MAX_HTML_CHARS = 256 * 1024
"""An HTML body with more tags or characters than these is not sanitized, so not shown as HTML
(its text is kept). html5ever's time grows with the square of how deeply elements nest (80,000
nested divs, 400 KB, took 10 s) and of how long a text that needs escaping runs (1.2 MB of
`&nbsp;` 0.8 s, 200,000 C1 control characters 0.4 s), so a mail of a few MB could hold its
mailbox's import for hours. Within the limits it takes under a second; senders keep HTML mail
far smaller (Gmail clips it past 102 KB)."""
_START_TAG = re.compile(r"<[A-Za-z]")
_HTML_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "tfoot"}
# Elements removed with everything inside them (html_text skips them likewise).
DROPPED_WITH_CONTENT = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "applet",
    "svg",
    "math",
    "title",
    "noscript",
    "template",
    "frameset",
    "frame",
    "noframes",
    "textarea",
    "select",
}
_CELL_ATTRIBUTES = {
    "colspan",
    "rowspan",
    "width",
    "height",
    "align",
    "valign",
    "bgcolor",
    "headers",
    "scope",
    "nowrap",
}
_HTML_ATTRIBUTES = {
    "*": {"style", "dir", "lang", "title", "align", "width", "height", "bgcolor", "valign"},
    "a": {"href", "name"},
    "img": {"src", "alt", "border"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "td": _CELL_ATTRIBUTES,
    "th": _CELL_ATTRIBUTES,
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "col": {"span"},
    "colgroup": {"span"},
    "time": {"datetime"},
}
# Reply-structure markers that quoting.split_reply_html looks for survive sanitizing.
_HTML_MARKER_IDS = {"divRplyFwdMsg", "x_divRplyFwdMsg", "appendonsend", "x_appendonsend"}
_HTML_CLASSES = {
    "div": {
        "gmail_quote",
        "gmail_quote_container",
        "gmail_attr",
        "gmail_signature",
        "moz-cite-prefix",
        "moz-signature",
        "yahoo_quoted",
        "protonmail_quote",
        "x_gmail_quote",
        "OutlookMessageHeader",
    },
    "blockquote": {"gmail_quote", "x_gmail_quote", "protonmail_quote"},
}
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "font-variant",
    "text-align",
    "text-decoration",
    "text-indent",
    "text-transform",
    "line-height",
    "letter-spacing",
    "word-spacing",
    "white-space",
    "vertical-align",
    "direction",
    "display",
    "float",
    "clear",
    "width",
    "min-width",
    "max-width",
    "height",
    "min-height",
    "max-height",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "border-spacing",
    "border-radius",
    "list-style-type",
    "table-layout",
    "word-break",
    "word-wrap",
    "overflow-wrap",
}
_STYLE_FORBIDDEN = (
    "url(",
    "expression",
    "javascript:",
    "vbscript:",
    "\\",
    "@import",
    "behavior",
    "-moz-binding",
    "<",
    "/*",
    "image(",
    "image-set(",
)
_DATA_IMAGE = re.compile(r"^data:image/(png|gif|jpe?g|webp|bmp);", re.I)


def within_limits(html: str) -> bool:
    """Whether `html` has at most MAX_HTML_CHARS characters and MAX_HTML_TAGS start tags
    (counted no further than that)."""
    if len(html) > MAX_HTML_CHARS:
        return False
    return next(islice(_START_TAG.finditer(html), MAX_HTML_TAGS, None), None) is None


def sanitize_html(html: str) -> str:
    """Email HTML made safe to show: no scripts, handlers, frames, objects, styles or js: URLs.

    Inline images keep their `cid:` references; remote images stay (the inbox decides whether
    to load them).
    """
    cleaned = nh3.clean(
        html,
        tags=_HTML_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=_HTML_ATTRIBUTES,
        tag_attribute_values={"div": {"id": _HTML_MARKER_IDS}, "blockquote": {"type": {"cite"}}},
        allowed_classes=_HTML_CLASSES,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        attribute_filter=_filter_attribute,
        strip_comments=True,
    )
    return cleaned.replace(' class=""', "").strip()


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    if attribute == "style":
        return _clean_style(value)
    if value.strip().lower().startswith("data:"):
        keep = element == "img" and attribute == "src" and _DATA_IMAGE.match(value.strip())
        return value if keep else None
    return value


def _clean_style(value: str) -> str | None:
    kept = []
    for declaration in value.split(";"):
        name, colon, setting = declaration.partition(":")
        name, setting = name.strip().lower(), setting.strip()
        lowered = setting.lower()
        if not colon or name not in _STYLE_PROPERTIES:
            continue
        if any(bad in lowered for bad in _STYLE_FORBIDDEN) or CONTROL_CHARS.search(setting):
            continue
        kept.append(f"{name}:{setting}")
    return ";".join(kept) or None
