"""Recording what commands do in the metadata store, and opening the store for queries.

Commands journal their records (cheap, see himo.meta.recorder) and hand delivery to a
background `himo meta sync` when they end (`meta.deliver = inline` delivers in-process).
Every query delivers pending journals first, so it sees everything recorded before it.
If the store cannot be reached, records wait in `.himo/journal/` and the user is told once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from himo import __version__
from himo.errors import ConfigError, HimoError, MetaError
from himo.meta.journal import abandoned, pending
from himo.meta.recorder import Context, Recorder
from himo.meta.records import TRIGGERS
from himo.workspace.config import DELIVER_MODES, boolean
from himo.workspace.repo import Repo

if TYPE_CHECKING:
    from himo.meta.reads import MetaReader

# Warnings for the user (the store is unreachable, journal lines were quarantined) go to this
# logger: the CLI prints them when the command ends (cli/output.py), a library caller sees them
# through logging (on stderr when it configured nothing), and nothing accumulates in a process.
log = logging.getLogger(__name__)
MARKER = "UNREACHABLE.json"  # in the journal folder: the store failed; told or not yet


def journal_dir(repo: Repo) -> Path:
    return repo.himo_dir / "journal"


def store_url(repo: Repo) -> str:
    return os.environ.get("HIMO_META_URL") or repo.config.get("meta.url") or \
        f"sqlite:///{repo.himo_dir / 'meta.db'}"


def store_source(repo: Repo) -> str:
    """Where store_url's answer comes from, for errors to name what to fix."""
    return "HIMO_META_URL" if os.environ.get("HIMO_META_URL") else "meta.url"


def _store(repo: Repo):  # type: ignore[no-untyped-def]
    from himo.meta.store import Store

    return Store(store_url(repo), store_source(repo))


def open_store(repo: Repo, deliver_pending: bool = True):  # type: ignore[no-untyped-def]
    """The store at its current schema, with every pending journal delivered (MetaError if not)."""
    from himo.meta.deliver import deliver

    store = _store(repo).open()
    if deliver_pending:
        tell_quarantined(repo, deliver(store, journal_dir(repo)))
        (journal_dir(repo) / MARKER).unlink(missing_ok=True)
    return store


def quarantine_lines(repo: Repo, delivery: Any) -> list[str]:
    """One line per journal this delivery moved to quarantine: where, and which lines were left out."""
    lines = []
    for moved in delivery.quarantined if delivery else ():
        first = moved.rejected[0]
        more = f" and {len(moved.rejected) - 1} more" if len(moved.rejected) > 1 else ""
        lines.append(f"{len(moved.rejected)} journal line(s) could not be delivered (line {first.line}: "
                     f"{first.reason}{more}); the journal is kept in {repo.rel(moved.path)}, "
                     f"every reason in {repo.rel(moved.path)}.errors")
    return lines


def quarantined_before(repo: Repo, delivery: Any) -> list[str]:
    """The journals that earlier deliveries quarantined, still waiting for a person."""
    from himo.meta.journal import QUARANTINE, quarantined

    now = {moved.path for moved in delivery.quarantined}
    earlier = [p for p in quarantined(journal_dir(repo)) if p not in now]
    if not earlier:
        return []
    where = repo.rel(journal_dir(repo) / QUARANTINE)
    return [f"{len(earlier)} journal(s) quarantined earlier are in {where}/ (reasons in their .errors "
            "files); fixed, moved back to .himo/journal/ they are delivered by the next sync"]


def tell_quarantined(repo: Repo, delivery: Any) -> None:
    """Warn at the end of this command about what its delivery quarantined (and what a detached
    delivery quarantined earlier and could not tell: its stderr goes nowhere)."""
    untold = _untold(repo)
    with contextlib.suppress(OSError):
        lines = untold.read_text(encoding="utf-8").splitlines()
        untold.unlink()
        for line in lines:
            log.warning("%s", line.removeprefix("Warning: "))
    for line in quarantine_lines(repo, delivery):
        log.warning("%s", line)


def _remember_quarantined(repo: Repo, delivery: Any) -> None:
    """A detached delivery's quarantine warnings, kept for the next command to tell."""
    lines = quarantine_lines(repo, delivery)
    if lines:
        with contextlib.suppress(OSError), _untold(repo).open("a", encoding="utf-8") as f:
            f.writelines(f"Warning: {line}\n" for line in lines)


def _untold(repo: Repo) -> Path:
    from himo.meta.journal import QUARANTINE

    return journal_dir(repo) / QUARANTINE / "UNTOLD"


def journal_of(repo: Repo, store: Any) -> Path | None:
    """The repository's journal folder if `store` is the repository's own store (whose records
    wait there), else None: `himo ui --meta-url` over another store must not deliver into it."""
    from himo.meta.store import redact

    return journal_dir(repo) if redact(store_url(repo)) == store.name else None


@contextlib.contextmanager
def store_session(repo: Repo, write: bool = True) -> Iterator[Any]:
    """One write transaction on the repository's store (pending journals delivered first), then
    closed. Reads go through `reading` (a MetaReader) instead."""
    store = open_store(repo)
    try:
        with store.session(write=write) as session:
            yield session
    finally:
        store.close()


def open_reader(repo: Repo) -> MetaReader:
    """The repository's store as a himo.meta.reads.MetaReader, which delivers pending journals
    before its reads (only when the journal changed); close() it when done."""
    from himo.meta.reads import MetaReader

    def delivered(delivery: Any) -> None:
        tell_quarantined(repo, delivery)
        (journal_dir(repo) / MARKER).unlink(missing_ok=True)

    return MetaReader(_read_store(repo), journal_dir(repo), delivered)


def _read_store(repo: Repo):  # type: ignore[no-untyped-def]
    """A SQLite store at the current schema is read with sqlite3 alone (himo.meta.lite: the
    read commands then never import SQLAlchemy); any other opens the SQLAlchemy Store."""
    from himo.meta.lite import LiteStore

    return LiteStore.open(store_url(repo), store_source(repo)) or _store(repo).open()


@contextlib.contextmanager
def reading(repo: Repo) -> Iterator[MetaReader]:
    """A MetaReader over the repository's store for the block, then closed."""
    reader = open_reader(repo)
    try:
        yield reader
    finally:
        reader.close()


def sync(repo: Repo, background: bool = False):  # type: ignore[no-untyped-def]
    """`himo meta sync`: deliver the journal. In the background, a failure is kept to be told once."""
    from himo.meta.deliver import deliver

    store = None
    try:
        store = _store(repo).open()
        result = deliver(store, journal_dir(repo))
    except MetaError as error:
        if not background:
            raise
        _remember_failure(repo, error)
        return None
    else:
        if background:  # told by the next command
            _remember_quarantined(repo, result)
        else:  # a foreground sync reports them all itself
            with contextlib.suppress(OSError):
                _untold(repo).unlink(missing_ok=True)
    finally:
        if store is not None:
            store.close()
    (journal_dir(repo) / MARKER).unlink(missing_ok=True)
    return result


def context(repo: Repo) -> Context:
    trigger = _trigger()
    commit, branch, dirty = _git_state(repo)
    scheduled = _scheduled() if trigger == "schedule" else {}
    return Context(repo=_repo_identity(repo), git_commit=commit, branch=branch, dirty=dirty,
                   user=_user(), host=os.uname().nodename, himo_version=__version__, trigger=trigger,
                   **scheduled)


def _scheduled() -> dict[str, Any]:
    """A run a scheduler started (himo.api.scheduler): its schedule, logical date and attempt."""
    attempt = os.environ.get("HIMO_SCHEDULE_ATTEMPT", "")
    return {"schedule": os.environ.get("HIMO_SCHEDULE") or None,
            "logical_date": os.environ.get("HIMO_LOGICAL_DATE") or None,
            "attempt": int(attempt) if attempt.isdigit() else None}


def _trigger() -> str:
    """HIMO_TRIGGER, else `ci` under CI=true, else `manual`; ConfigError for an unknown trigger (a
    scheduler's typo would otherwise file its runs as manual ones)."""
    trigger = os.environ.get("HIMO_TRIGGER", "").strip()
    if trigger and trigger not in TRIGGERS:
        raise ConfigError(f"HIMO_TRIGGER={trigger!r} is not a trigger (allowed: {', '.join(TRIGGERS)})",
                          f"set HIMO_TRIGGER to one of {', '.join(TRIGGERS)}, or unset it")
    if trigger:
        return trigger
    return "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "manual"


def recording_enabled(repo: Repo) -> bool:
    if os.environ.get("HIMO_META_RECORD", "").lower() in ("0", "false", "no", "off"):
        return False
    return boolean("meta.record", repo.config.get("meta.record", True))


class RunRecorder(Recorder):
    """A Recorder whose block may set the run's status when it ends without an exception
    (`failed` for a push that left objects behind, say); default `succeeded`."""

    outcome: str = "succeeded"


@contextlib.contextmanager
def recording(repo: Repo, command: str, args: list[str],
              deliver_from: Repo | None = None) -> Iterator[RunRecorder]:
    """A started Recorder for this invocation; its run ends with the block's outcome, then is delivered.

    Thread-safe: stages running at once (`repro -j`) share it. `deliver_from`: the repository
    whose journal this one's is (an isolated run's scratch workspace shares its journal folder),
    delivered from there since the scratch folder may be gone before a background delivery starts.
    """
    if not recording_enabled(repo):
        yield RunRecorder(None, Context(repo=""))  # records nothing
        return
    _tell_failure(repo)
    tell_quarantined(repo, None)
    # A scheduler names the run it starts (once: a stage's own himo commands get runs of their own).
    recorder = RunRecorder(journal_dir(repo), context(repo), os.environ.pop("HIMO_RUN_ID", None))
    emitter = None
    if repo.config.get("openlineage.url"):  # live OpenLineage events; imported only when set
        from himo.api.openlineage import live_emitter

        recorder.listener = emitter = live_emitter(repo)
    recorder.start(command, args)
    status = "failed"
    try:
        yield recorder
        status = recorder.outcome
    except KeyboardInterrupt:
        status = "aborted"
        raise
    finally:
        recorder.finish(status)
        if recorder.did_work or status != "succeeded":
            deliver_later(deliver_from or repo)
        # else (e.g. a no-op repro): the run waits in the journal for the next delivery, which
        # every query does first; starting a delivery for it would cost more than the command.
        if emitter is not None:
            emitter.close()  # bounded: waits a few seconds at most


def deliver_abandoned(repo: Repo) -> None:
    """At the start of any command: if a himo was killed mid-run (its journal's lock died with it,
    its run never ended), deliver now, as after a command, so the store shows that run aborted.
    Costs one listdir when there is none; nothing while the store is known unreachable (the
    next recording command retries it)."""
    folder = journal_dir(repo)
    if abandoned(folder) and not (folder / MARKER).exists():
        deliver_later(repo)


PARENT = "parent"  # HIMO_META_DELIVER=parent: the process that started this one delivers (a scheduler)


def deliver_later(repo: Repo) -> None:
    mode = os.environ.get("HIMO_META_DELIVER") or repo.config.get("meta.deliver", "background")
    if mode == PARENT:
        return
    if mode not in DELIVER_MODES:
        mode = "background"
    if mode == "inline":
        with contextlib.suppress(HimoError):
            sync(repo, background=True)
        _tell_failure(repo)
        tell_quarantined(repo, None)
        return
    with contextlib.suppress(OSError):  # delivery is retried by the next command anyway
        subprocess.Popen([sys.executable, "-m", "himo", "meta", "sync", "--background", "-q"],
                         cwd=repo.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)


def _remember_failure(repo: Repo, error: MetaError) -> None:
    marker = journal_dir(repo) / MARKER
    with contextlib.suppress(OSError):
        told = json.loads(marker.read_text()).get("told", False) if marker.exists() else False
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"error": error.message, "hint": error.hint, "told": told}))


def _tell_failure(repo: Repo) -> None:
    """Once per outage: records are safe in the journal, and how they will be delivered."""
    marker = journal_dir(repo) / MARKER
    try:
        state = json.loads(marker.read_text())
    except (OSError, ValueError):
        return
    if state.get("told"):
        return
    waiting = len(pending(journal_dir(repo)))
    log.warning("%s. %d journal file(s) kept in .himo/journal/; they are delivered on the next "
                "successful connection or `himo meta sync`", state.get("error"), waiting)
    state["told"] = True
    with contextlib.suppress(OSError):
        marker.write_text(json.dumps(state))


def _git_state(repo: Repo) -> tuple[str, str, bool]:
    """HEAD commit, branch and whether tracked files differ from it, in one `git status`."""
    if repo.git is None:
        return "", "", False
    try:
        out = repo.git.run("status", "--porcelain=v2", "--branch", "--untracked-files=no").decode()
    except HimoError:
        return "", "", False
    commit = branch = ""
    dirty = False
    for line in out.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.split()[2] if line.split()[2] != "(initial)" else ""
        elif line.startswith("# branch.head "):
            branch = line.split()[2] if line.split()[2] != "(detached)" else ""
        elif line and not line.startswith("#"):
            dirty = True
    return commit, branch, dirty


def repo_identity(repo: Repo) -> str:
    """The repository's name in the store (runs, schedules): see _repo_identity; URL passwords masked."""
    from himo.model.urls import mask_url

    return mask_url(_repo_identity(repo))


def _repo_identity(repo: Repo) -> str:
    """The origin URL when there is one (the same across clones), else the repository folder."""
    found = origin_url(repo)
    return str(repo.root) if found is None else found


def origin_url(repo: Repo) -> str | None:
    """remote.origin.url as written in .git/config (read here: no git process per run), or None."""
    config = (repo.git.root / ".git" / "config") if repo.git else None
    if config and config.is_file():
        section = ""
        for line in config.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == '[remote "origin"]' and line.startswith("url"):
                return line.split("=", 1)[1].strip()
    return None


def _user() -> str:
    import getpass  # here: the start-up check for killed runs imports this module, it must stay cheap

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
