"""How HTTPS clients trust the stack's servers.

Clients across the project carry ``verify`` as ``str | bool`` (a CA bundle path, or the
system store), because hvac/requests takes exactly that. httpx deprecates a path
(``verify=<str>``) in favour of an :class:`ssl.SSLContext`, so every httpx client is
given :func:`httpx_verify` of the same value.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def httpx_verify(verify: str | Path | bool | None) -> ssl.SSLContext | bool:
    """``verify=`` for an httpx client: a context trusting only the CA file, if one is named.

    Args:
        verify: A CA bundle file, ``True``/``None`` for httpx's default trust store, or
            ``False`` for no verification.

    Returns:
        An SSL context loaded with the CA file (hostname checked, certificate required),
        or the boolean unchanged (``None`` becomes ``True``).
    """
    if verify is None:
        return True
    if isinstance(verify, bool):
        return verify
    return ssl.create_default_context(cafile=str(verify))


def ca_verify(ca_file: str | Path | None) -> str | bool:
    """``verify=`` for requests/hvac: the CA bundle file if one is named, else the system store."""
    return str(ca_file) if ca_file else True
