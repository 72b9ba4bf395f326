"""Delivering journals to the store: each file in one transaction, then removed.

A record the store refuses (a value too long or out of range for its column, say) must not keep
the rest of its journal, and every journal after it, from the store: when a journal's transaction
fails on such a record, the journal is applied again one record at a time, each in a savepoint,
and the refused ones are left out (see journal.Claimed.release: the file goes to quarantine/).
A store that cannot be reached or written at all is no record's fault: that error goes up, and
the journal waits for the next delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import exc

from himo.errors import MetaError
from himo.meta.apply import Applier, apply_records
from himo.meta.journal import Claimed, Rejected, claim, pending
from himo.meta.store import Store

# What a record can make the database or the applier raise. OperationalError (unreachable,
# locked, disk full) and the like are the store's, never a record's.
RECORD_ERRORS = (exc.DataError, exc.IntegrityError, KeyError, TypeError, ValueError, AttributeError,
                 OverflowError)


@dataclass
class Quarantined:
    """A journal moved to quarantine/ with the lines that could not be delivered."""

    path: Path  # where it is now (NAME.errors beside it)
    rejected: list[Rejected]


@dataclass
class Delivery:
    files: int = 0  # journal files delivered (and removed, when their writer had finished)
    records: int = 0
    live: int = 0  # journals of commands still running (delivered so far, kept)
    quarantined: list[Quarantined] = field(default_factory=list)


def deliver(store: Store, folder: Path) -> Delivery:
    """Apply every pending journal; a failure leaves the failing file (and later ones) for next time."""
    done = Delivery()
    for path in pending(folder):
        claimed = claim(path)
        if claimed is None:
            continue
        delivered = False
        try:
            _apply(store, claimed)
            delivered = True
        finally:
            moved = claimed.release(delivered)
        done.files += 1
        done.records += len(claimed.records)
        done.live += not claimed.finished
        if moved is not None:
            done.quarantined.append(Quarantined(moved, claimed.rejected))
    return done


def _apply(store: Store, claimed: Claimed) -> None:
    if not claimed.records:
        return
    try:
        with store.session(write=True) as session:
            apply_records(session, claimed.records)
    except MetaError as error:
        if not isinstance(error.__context__, RECORD_ERRORS):
            raise
        _apply_each(store, claimed)
    except RECORD_ERRORS:
        _apply_each(store, claimed)


def _apply_each(store: Store, claimed: Claimed) -> None:
    """One transaction, one savepoint per record: the records the store refuses are left out."""
    kept: list[tuple[dict, int]] = []
    with store.session(write=True) as session:
        applier = Applier(session)
        for record, line in zip(claimed.records, claimed.lines, strict=True):
            try:
                with session.begin_nested():
                    applier.apply(record)
                kept.append((record, line))
            except RECORD_ERRORS as error:
                claimed.rejected.append(Rejected(line, _reason(record, error)))
                # its caches may name rows the savepoint undid, and its changes moves it undid
                applier = Applier(session, applier.changes.undone())
        applier.finish()
    claimed.rejected.sort(key=lambda rejected: rejected.line)
    claimed.records = [record for record, _ in kept]
    claimed.lines = [line for _, line in kept]


def _reason(record: dict, error: Exception) -> str:
    first = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]
    return f"{record.get('type')}: refused by the store: {type(error).__name__}: {first}"[:300]
