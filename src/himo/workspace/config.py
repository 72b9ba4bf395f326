"""`.himo/config` (in git) and `.himo/config.local` (machine-local, credentials), both TOML.

Keys are dotted: `core.remote`, `cache.type`, `remote.NAME.url`, `remote.NAME.endpointurl`...
The local file overrides the shared one. Credentials are refused outside the local file so
they never reach git.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from himo.errors import ConfigError
from himo.model.urls import MASK, has_password, mask_url
from himo.objects.links import parse_link_types
from himo.workspace.atomic import write_text_atomic

SECTION_KEYS = {
    "core": {"remote", "jobs"},
    "cache": {"type"},
    "meta": {"url", "deliver", "record"},
    "openlineage": {"url", "namespace"},
    "ui": {"metrics", "params"},
    "executor": {"default", "dask.scheduler"},  # `repro`'s executor; the Dask scheduler's address
}
EXECUTORS = ("local", "dask")
DELIVER_MODES = ("background", "inline")
REMOTE_KEYS = {
    "url",
    "endpointurl",
    "profile",
    "region",
    "jobs",
    "access_key_id",
    "secret_access_key",
    "session_token",
}
CREDENTIAL_KEYS = {"access_key_id", "secret_access_key", "session_token"}
URL_KEYS = {"url", "endpointurl"}  # in any section: a password in them is a credential
URL_HINTS = {
    "meta": "use --local, or HIMO_META_URL, or a password file (~/.pgpass)",
    "remote": "use --local (`himo remote add --local NAME URL`) to keep it in .himo/config.local, "
              "or the storage's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY ...)",
    "openlineage": "use --local to keep it in .himo/config.local",
}


def split_key(key: str) -> list[str]:
    """Validate a dotted key; ConfigError naming the key and the valid ones."""
    parts = key.split(".")
    if parts[0] == "remote" and len(parts) == 3 and parts[1]:
        if parts[2] in REMOTE_KEYS:
            return parts
        valid = ", ".join(sorted(REMOTE_KEYS))
        raise ConfigError(f"unknown remote option {parts[2]!r} in {key!r}", f"valid options: {valid}")
    if len(parts) >= 2 and ".".join(parts[1:]) in SECTION_KEYS.get(parts[0], ()):
        return parts
    valid = ", ".join(f"{s}.{k}" for s, keys in SECTION_KEYS.items() for k in sorted(keys))
    raise ConfigError(f"unknown config key {key!r}", f"valid keys: {valid}, remote.NAME.OPTION")


def validate_value(parts: list[str], value: str, local: bool) -> Any:
    if parts[-1] in CREDENTIAL_KEYS and not local:
        raise ConfigError(
            f"refusing to write credential {'.'.join(parts)!r} to .himo/config (tracked by git)",
            "use --local to keep it in .himo/config.local, or the standard AWS/GCP environment",
        )
    if parts[-1] == "jobs":
        return positive_int(".".join(parts), value)
    if parts == ["cache", "type"]:
        link_types(value)
    if parts == ["meta", "deliver"] and value not in DELIVER_MODES:
        raise ConfigError(f"meta.deliver must be one of {', '.join(DELIVER_MODES)}, not {value!r}")
    if parts == ["meta", "record"]:
        return boolean("meta.record", value)
    if parts == ["executor", "default"] and value not in EXECUTORS:
        raise ConfigError(f"executor.default must be one of {', '.join(EXECUTORS)}, not {value!r}")
    if parts[-1] in URL_KEYS and has_password(value) and not local:
        raise ConfigError(f"refusing to write a password in {'.'.join(parts)} to .himo/config "
                          "(tracked by git)", URL_HINTS[parts[0]])
    return value


def shown(key: str, value: Any) -> Any:
    """A config value as himo prints it: credentials as ***, passwords in URLs masked."""
    if key.rsplit(".", 1)[-1] in CREDENTIAL_KEYS:
        return MASK
    return mask_url(value) if isinstance(value, str) else value


def boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{key} must be true or false, not {value!r}", f"fix it with `himo config {key} false`")


def positive_int(key: str, value: Any) -> int:
    """`value` (from the command line or a hand-edited file) as a positive integer, or ConfigError."""
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"{key} must be a positive integer, not {value!r}", f"fix it with `himo config {key} N`"
        )
    return int(text)


def link_types(value: Any) -> tuple[str, ...]:
    """A `cache.type` value as the ordered link kinds, or ConfigError naming the bad kind."""
    try:
        return parse_link_types(value if isinstance(value, str) else repr(value))
    except ValueError as exc:  # himo's own message, quoted whole
        raise ConfigError(
            f"cache.type: {exc}", "use a comma list of reflink, copy, hardlink, symlink"
        ) from None


def check_shape(data: dict[str, Any]) -> None:
    """A loaded file's known sections are tables and its known keys have usable values (a hand
    edit may say `url = 5`); ConfigError naming the key. Unknown keys are left alone (a newer himo's)."""
    for section, keys in SECTION_KEYS.items():
        for key in keys:
            parts = [section, *key.split(".")]
            if parts[-1] in _table(data, parts[:-1]):
                check_loaded(parts, _table(data, parts[:-1])[parts[-1]])
    for name, options in _table(data, ["remote"]).items():
        for option in REMOTE_KEYS & set(_table(data, ["remote", name])):
            check_loaded(["remote", name, option], options[option])


def _table(data: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    node: Any = data
    for depth, part in enumerate(parts, 1):
        node = node.get(part, {})
        if not isinstance(node, dict):
            key = ".".join(parts[:depth])
            raise ConfigError(f"{key} must be a table, not {node!r}")
    return node


def check_loaded(parts: list[str], value: Any) -> None:
    """One value as read from a file: a number or boolean where one is meant, else a string."""
    key = ".".join(parts)
    if parts[-1] == "jobs":
        positive_int(key, value)
    elif parts == ["meta", "record"]:
        boolean(key, value)
    elif not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {value!r}")
    elif parts == ["cache", "type"]:
        link_types(value)
    elif parts == ["meta", "deliver"] and value not in DELIVER_MODES:
        raise ConfigError(f"meta.deliver must be one of {', '.join(DELIVER_MODES)}, not {value!r}")
    elif parts == ["executor", "default"] and value not in EXECUTORS:
        raise ConfigError(f"executor.default must be one of {', '.join(EXECUTORS)}, not {value!r}")


class ConfigFile:
    """One TOML file of nested tables."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"{path.parent.name}/{path.name}"  # `.himo/config`: what users know it as
        self.data = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{self.label}: invalid TOML: {exc}",
                "fix the file by hand: himo cannot rewrite a file it cannot read",
            ) from exc
        except OSError as exc:
            raise ConfigError(f"{self.label}: cannot read: {exc.strerror}") from exc
        try:
            check_shape(data)
        except ConfigError as error:  # `himo config` reads the file too: only an editor can fix it
            raise ConfigError(f"{self.label}: {error.message}", "fix it in the file by hand") from error
        return data

    def get(self, parts: list[str]) -> Any:
        node: Any = self.data
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def set(self, parts: list[str], value: Any) -> None:
        node = self.data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def unset(self, parts: list[str]) -> bool:
        parents = [self.data]
        for part in parts[:-1]:
            child = parents[-1].get(part)
            if not isinstance(child, dict):
                return False
            parents.append(child)
        if parents[-1].pop(parts[-1], None) is None:
            return False
        for part, parent in zip(reversed(parts[:-1]), reversed(parents[:-1]), strict=True):
            if not parent[part]:
                del parent[part]
        return True

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, tomli_w.dumps(self.data))


class Config:
    """The merged view of the shared and local config files."""

    def __init__(self, himo_dir: Path) -> None:
        self.shared = ConfigFile(himo_dir / "config")
        self.local = ConfigFile(himo_dir / "config.local")

    def file(self, local: bool) -> ConfigFile:
        return self.local if local else self.shared

    def get(self, key: str, default: Any = None) -> Any:
        parts = split_key(key)
        value = self.local.get(parts)
        if value is None:
            value = self.shared.get(parts)
        return default if value is None else value

    def remote_names(self) -> list[str]:
        names = set(self.shared.data.get("remote", {})) | set(self.local.data.get("remote", {}))
        return sorted(names)

    def remote(self, name: str) -> dict[str, Any]:
        merged = dict(self.shared.get(["remote", name]) or {})
        merged.update(self.local.get(["remote", name]) or {})
        return merged

    def as_flat(self) -> dict[str, Any]:
        """Every set key, dotted, local values winning."""
        flat: dict[str, Any] = {}
        for source in (self.shared.data, self.local.data):
            _flatten(source, [], flat)
        return flat


def _flatten(node: dict[str, Any], prefix: list[str], out: dict[str, Any]) -> None:
    for key, value in node.items():
        if isinstance(value, dict):
            _flatten(value, [*prefix, key], out)
        else:
            out[".".join([*prefix, key])] = value
