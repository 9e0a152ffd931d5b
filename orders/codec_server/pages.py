"""The codec server's small HTML pages: signed in, and sign-in refused or failed.

Signing in itself happens on OpenBao's login page (the OIDC provider's authorize route).

No script and no resources from elsewhere; every dynamic value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Final

SECURITY_HEADERS: Final = {
    # Nothing but this page's own inline style; forms post only back here; never framed.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # "no-referrer" would make the browser send `Origin: null` on the form post.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_STYLE: Final = (
    "body{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
    "label{display:block;margin:.75rem 0}input{display:block;width:100%;padding:.4rem}"
    "button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}code{font-size:.9em}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def message_page(title: str, message: str) -> str:
    """A short message (sign-in refused or failed) with a link to try again."""
    return _page(
        f"Codec server: {title}",
        f'<p id="message" role="alert">{escape(message)}</p>'
        '<p><a href="/login">Sign in again</a></p>',
    )


def signed_in_page(username: str, permissions: list[str], ui_url: str | None) -> str:
    """Who is signed in, with a sign-out button."""
    perms = ", ".join(escape(p) for p in permissions) or "none"
    back = f'<p><a href="{escape(ui_url)}">Back to the Temporal UI</a></p>' if ui_url else ""
    return _page(
        "Codec server: signed in",
        f'<p id="signed-in">Signed in as <strong>{escape(username)}</strong>.</p>'
        f"<p>Permissions: <code>{perms}</code></p>{back}"
        '<form method="post" action="/logout"><button type="submit">Sign out</button></form>',
    )
