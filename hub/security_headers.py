"""The security headers every answer of the app carries: API, pages, webhooks and errors."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""Scripts and styles from the hub's own files only: no inline script, no `eval`, no plugin;
no page of the hub in anyone's frame."""

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""On every answer. `no-referrer`: a page of the inbox never tells another site its address
(conversation ids are in it)."""

STRICT_TRANSPORT_SECURITY = "max-age=31536000"
"""A year of HTTPS only, for this host alone (subdomains are the operator's to decide)."""


def behind_tls(base_url: str) -> bool:
    """Whether the hub is reached over HTTPS: its public URL (SWITCHBOARD_BASE_URL) says so,
    the one setting that knows about a TLS-terminating proxy in front."""
    return base_url.lower().startswith("https://")


def add_security_headers(app: web.Application, *, tls: bool) -> None:
    """Stamp the headers on each answer as it is prepared: a signal rather than a middleware,
    because a middleware cannot add headers to an answer its handler has already sent (a
    WebSocket's upgrade). A header an answer set itself (a download's sandboxing CSP) stays."""
    headers = {
        **SECURITY_HEADERS,
        **({"Strict-Transport-Security": STRICT_TRANSPORT_SECURITY} if tls else {}),
    }

    async def stamp(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    app.on_response_prepare.append(stamp)
