"""Serving the dashboard: the store to read, the loopback/token rule, uvicorn.

    from himo.ui.server import serve
    serve(host="127.0.0.1", port=8765)                       # the store of the repository here
    serve(meta_url="postgresql+psycopg://me@db/himo", host="0.0.0.0", token="s3cret")
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from himo.errors import NotARepoError, UsageError
from himo.meta.store import Store
from himo.workspace.repo import Repo

TOKEN_ENV = "HIMO_UI_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: str | None) -> str | None:
    """The token to require: none on loopback unless given; refused start elsewhere without one."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host):
        raise UsageError(f"--host {host}: serving beyond this machine needs a token",
                         f"pass --token TOKEN or set {TOKEN_ENV} (users then send it as a Bearer token "
                         "or open /?token=TOKEN once)")
    if token is not None and len(token) < 8:
        raise UsageError("--token: shorter than 8 characters", "use a long random string")
    return token


def allowed_hosts(host: str, port: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The Host headers the dashboard answers: the loopback names and the --host it listens on,
    each with its port; on every interface (0.0.0.0, ::) this machine's own names and addresses
    too; and each --allowed-host (NAME: any port; NAME:PORT; "*": any Host at all)."""
    names = list(LOOPBACK_NAMES)
    if host in WILDCARDS:
        names += own_names()
    else:
        names.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return [f"{name.lower()}:{port}" for name in dict.fromkeys(names)] + list(extra)


def own_names() -> list[str]:
    """This machine's host names and the addresses they resolve to (what a colleague types)."""
    names = [socket.gethostname(), socket.getfqdn()]
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:  # no resolver: the names alone
        infos = []
    addresses = {str(info[4][0]) for info in infos}
    return names + sorted(f"[{a}]" if ":" in a else a for a in addresses)


def open_source(meta_url: str | None, start: Path | None = None) -> tuple[Store, Repo | None]:
    """The store (--meta-url, else the repository's) and the repository, if the UI runs in one."""
    try:
        repo: Repo | None = Repo.find(start)
    except NotARepoError:
        if meta_url is None:
            raise
        repo = None
    if meta_url is not None:
        return Store(meta_url, "--meta-url").open(), repo
    from himo.api.recording import open_store

    assert repo is not None
    return open_store(repo), repo


def serve(host: str = "127.0.0.1", port: int = 8765, meta_url: str | None = None, token: str | None = None,
          open_browser: bool = False, announce: Callable[[str], None] = print,
          allowed: tuple[str, ...] = ()) -> None:
    """Run the dashboard until interrupted; `allowed`: more Host names it answers (see allowed_hosts)."""
    import uvicorn

    from himo.ui.app import create_app

    token = check_token(host, token)
    store, repo = open_source(meta_url)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    announce(f"himo dashboard on {url} (store {store.name}); Ctrl-C to stop")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url + (f"?token={token}" if token else "")]).start()
    try:
        uvicorn.run(create_app(store, repo, token, allowed_hosts(host, port, allowed)), host=host, port=port,
                    log_level="warning")
    finally:
        store.close()
