"""Credentials inside URLs (`https://user:secret@host/...`): found, and masked for printing.

A URL's password is masked wherever himo shows or records a URL (CLI output, JSON, errors, the
metadata store, the dashboard): `https://user:***@host/path`. The user name stays (it says who,
not how to get in). Pure text functions, so every layer can use them.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@ -- the password runs to the last '@' of the authority (as urlsplit reads
# it), so a password with a raw '@' in it is masked whole.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*):(?P<password>[^/?#\s]*)@")


def has_password(url: str) -> bool:
    """True when `url` carries a non-empty password in its authority (user:password@host)."""
    return any(match["password"] for match in _USERINFO.finditer(url))


def mask_url(text: str) -> str:
    """`text` (a URL, or an error message or command line holding URLs) with every URL password
    replaced by ***; anything else unchanged."""
    return _USERINFO.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    return f"{match['head']}:{MASK}@" if match["password"] else match[0]
