"""Stages of a pipeline, as values: what to run, what it reads, what it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Output:
    path: str  # repository-relative POSIX path
    cache: bool = True  # store the bytes in the cache for checkout (False: only for the run-cache)
    persist: bool = False  # keep it before the stage runs (default: removed first)
    role: str = "out"  # "out", "metrics" or "plots"
    kind: str | None = None  # artifact kind for the metadata store (model, features ...)
    desc: str | None = None  # DVC's annotation: a description
    type: str | None = None  # DVC's annotation: a free-form type (model, dataset ...)
    labels: tuple[str, ...] = ()  # DVC's annotation: labels
    meta: Any = field(default=None, compare=False, hash=False)  # DVC's annotation: any YAML value
    remote: str | None = None  # the remote `himo push`/`pull` use for it (None: the default remote)
    push: bool = True  # False: `himo push` leaves it out


@dataclass(frozen=True, slots=True)
class ParamsRef:
    file: str  # repository-relative params file
    keys: tuple[str, ...]  # dotted keys; empty means the whole file


@dataclass(frozen=True, slots=True)
class Stage:
    name: str  # unique; generated stages are `base@item`
    cmd: tuple[str, ...]  # shell commands, run in order
    wdir: str = "."  # repository-relative folder the commands run in
    deps: tuple[str, ...] = ()  # repository-relative paths read by the stage
    params: tuple[ParamsRef, ...] = ()  # parameter values read by the stage
    outs: tuple[Output, ...] = ()  # everything the stage writes (outs, metrics, plots)
    desc: str | None = None
    frozen: bool = False  # never re-run, whatever changed
    always_changed: bool = False  # always re-run
    line: int = 0  # line of the definition in himo.yaml, for messages


@dataclass(frozen=True, slots=True)
class DepState:
    """A dependency or output as recorded in himo.lock."""

    path: str
    digest: str | None  # None when the path did not exist
    size: int = 0
    nfiles: int | None = None


@dataclass(frozen=True, slots=True)
class LockEntry:
    """What a stage's last successful run read and wrote."""

    cmd: tuple[str, ...]
    deps: tuple[DepState, ...]
    params: dict[str, dict[str, object]] = field(default_factory=dict)  # file -> key -> value
    outs: tuple[DepState, ...] = ()
