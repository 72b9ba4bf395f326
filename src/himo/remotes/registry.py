"""Choosing a remote implementation by URL scheme, the way plugins are chosen."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from himo.errors import ConfigError, RemoteError
from himo.model.urls import mask_url
from himo.remotes.base import Remote

# botocore's legacy default retries a refused connection 4 times with growing waits, and s3fs
# asks twice per missing object: 10 s and more before an unreachable endpoint is reported.
# One retry (AWS's "standard" mode) still rides out a blip; s3fs itself retries timeouts,
# dropped connections and throttling. The standard AWS environment variables override this.
DEFAULT_RETRIES = {"mode": "standard", "max_attempts": 2}
RETRY_ENV = {"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"}
EXTRAS = {
    "gs": "gs", "gcs": "gs", "az": "azure", "azure": "azure", "abfs": "azure", "ssh": "ssh", "sftp": "ssh",
}
CREDENTIALS = (("access_key_id", "key"), ("secret_access_key", "secret"), ("session_token", "token"))


def scheme_of(url: str) -> str:
    parts = urlsplit(url)
    # A Windows drive letter or plain path has no real scheme.
    return parts.scheme if len(parts.scheme) > 1 else ""


def check_url(url: str) -> None:
    """ConfigError for a URL no installed or known filesystem can open."""
    scheme = scheme_of(url)
    if not url.strip():
        raise ConfigError("remote URL is empty", "give a folder path or a URL such as s3://bucket/path")
    if scheme in ("", "file"):
        return
    from fsspec.registry import known_implementations

    if scheme not in known_implementations:
        raise ConfigError(
            f"unknown remote URL scheme {scheme!r} in {mask_url(url)!r}",
            "use a folder path, s3://, gs://, azure:// or ssh://",
        )


def local_path(url: str, base: str) -> str:
    """The folder a local remote URL names; a relative path is relative to `base`."""
    path = urlsplit(url).path if scheme_of(url) == "file" else url
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def open_remote(name: str, options: dict[str, Any], jobs: int, base: str) -> Remote:
    """The remote `name` configured by `options`; relative folder URLs are relative to `base`."""
    url = options.get("url")
    if not url:
        raise ConfigError(f"remote {name!r} has no url", f"set it with `himo remote modify {name} url URL`")
    scheme = scheme_of(url)
    if scheme in ("", "file"):
        from himo.remotes.local import LocalRemote

        return LocalRemote(name, url, local_path(url, base), jobs)
    from himo.remotes.fsspec_remote import FsspecRemote

    fs, root = _filesystem(name, scheme, url, options)
    return FsspecRemote(name, url, fs, root, jobs)


def _filesystem(name: str, scheme: str, url: str, options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec

    kwargs = _s3_kwargs(options) if scheme in ("s3", "s3a") else {}
    # A new filesystem each time: fsspec's instance cache would hand a later open in the same
    # process (a library caller, `himo ui`) the credentials and environment of the first.
    kwargs["skip_instance_cache"] = True
    try:
        fs, root = fsspec.core.url_to_fs(url, **kwargs)
    except ImportError as exc:
        extra = EXTRAS.get(scheme, scheme)
        raise RemoteError(
            f"remote {name!r}: support for {scheme}:// is not installed", f"pip install 'himo[{extra}]'",
            remote=name, url=mask_url(url),
        ) from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(mask_url(f"remote {name!r}: cannot open {url!r}: {exc}")) from exc
    return fs, root


def _s3_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    client: dict[str, Any] = {}
    if options.get("endpointurl"):
        client["endpoint_url"] = options["endpointurl"]
    if options.get("region"):
        client["region_name"] = options["region"]
    if options.get("profile"):
        kwargs["profile"] = options["profile"]
    for ours, theirs in CREDENTIALS:
        if options.get(ours):
            kwargs[theirs] = options[ours]
    if client:
        kwargs["client_kwargs"] = client
    if not RETRY_ENV.intersection(os.environ):
        kwargs["config_kwargs"] = {"retries": DEFAULT_RETRIES}
    return kwargs
