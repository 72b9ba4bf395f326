"""`himo config` and `himo remote ...`: reading and writing .himo/config{,.local}."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from himo.errors import ConfigError, MetaError
from himo.model.urls import mask_url
from himo.workspace.config import shown, split_key, validate_value
from himo.workspace.repo import Repo

REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def get_config(repo: Repo, key: str) -> Any:
    value = repo.config.get(key)
    if value is None:
        raise ConfigError(f"config key {key!r} is not set", f"set it with `himo config {key} VALUE`")
    return value


def set_config(repo: Repo, key: str, value: str, local: bool = False) -> None:
    parts = split_key(key)
    if parts[0] == "core" and parts[1] == "remote" and value not in repo.config.remote_names():
        raise ConfigError(f"no remote named {value!r}", "add it first with `himo remote add NAME URL`")
    _check_url(parts, value)
    file = repo.config.file(local)
    file.set(parts, validate_value(parts, value, local))
    file.save()


def _check_url(parts: list[str], value: str) -> None:
    """meta.url as the store reads it, openlineage.url as an HTTP endpoint: a bad URL is refused
    now, not found out by the next command that records."""
    if parts == ["meta", "url"]:
        from himo.meta.store import check_url

        try:
            check_url(value)
        except MetaError as error:
            raise ConfigError(error.message, error.hint) from error
    elif parts == ["openlineage", "url"] and not _is_http(value):
        raise ConfigError(f"openlineage.url {mask_url(value)!r} is not an http(s) URL",
                          "use the receiver's base URL, e.g. http://localhost:5000 (events go to "
                          "/api/v1/lineage under it)")


def _is_http(value: str) -> bool:
    try:
        url = urlsplit(value)
        return url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
    except ValueError:  # a bad IPv6 address or port
        return False


def unset_config(repo: Repo, key: str, local: bool = False) -> None:
    file = repo.config.file(local)
    if not file.unset(split_key(key)):
        raise ConfigError(f"config key {key!r} is not set in {file.path.name}")
    file.save()


def list_config(repo: Repo) -> dict[str, Any]:
    """Every set key (local values win), as printed: credentials and URL passwords masked."""
    return {key: shown(key, value) for key, value in repo.config.as_flat().items()}


def add_remote(repo: Repo, name: str, url: str, default: bool = False, force: bool = False,
               local: bool = False) -> None:
    """Remote `name` at `url` in .himo/config, or with `local` in .himo/config.local (the only
    place a URL with a password may go); `default` also makes it core.remote there."""
    if not REMOTE_NAME.match(name):
        raise ConfigError(
            f"invalid remote name {name!r}",
            "use letters, digits, '-' and '_', starting with a letter or digit",
        )
    if name in repo.config.remote_names() and not force:
        raise ConfigError(f"remote {name!r} already exists", f"use `himo remote modify {name} url URL`")
    file = repo.config.file(local)
    parts = ["remote", name, "url"]
    file.set(parts, validate_value(parts, _checked_url(repo, url), local))
    if default:
        file.set(["core", "remote"], name)
    file.save()


def modify_remote(repo: Repo, name: str, option: str, value: str, local: bool = False) -> None:
    _require_remote(repo, name)
    if option == "url":
        value = _checked_url(repo, value)
    set_config(repo, f"remote.{name}.{option}", value, local)


def remove_remote(repo: Repo, name: str) -> None:
    """Forget remote `name` in both config files (and as the default); its data stays."""
    _require_remote(repo, name)
    for file in (repo.config.shared, repo.config.local):
        removed = file.unset(["remote", name])
        if file.get(["core", "remote"]) == name:
            removed = file.unset(["core", "remote"]) or removed
        if removed:
            file.save()


def set_default_remote(repo: Repo, name: str) -> None:
    _require_remote(repo, name)
    set_config(repo, "core.remote", name)


def list_remotes(repo: Repo) -> list[dict[str, Any]]:
    default = repo.config.get("core.remote")
    return [
        {"name": n, "url": shown("url", repo.config.remote(n).get("url", "")), "default": n == default}
        for n in repo.config.remote_names()
    ]


def _checked_url(repo: Repo, url: str) -> str:
    """`url` validated; a relative folder (given from the current directory) is stored
    relative to the repository root, where `himo push` resolves it from any directory."""
    from himo.remotes.registry import check_url, scheme_of

    check_url(url)
    if scheme_of(url) or os.path.isabs(os.path.expanduser(url)):
        return url
    return os.path.relpath(os.path.abspath(url), repo.root)


def _require_remote(repo: Repo, name: str) -> None:
    if name not in repo.config.remote_names():
        known = ", ".join(repo.config.remote_names()) or "none"
        raise ConfigError(f"no remote named {name!r} (known: {known})",
                          "add it with `himo remote add NAME URL`")
