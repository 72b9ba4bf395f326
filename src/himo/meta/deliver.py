"""Delivering journals to the store: each file in one transaction, then removed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from himo.meta.apply import apply_records
from himo.meta.journal import claim, pending
from himo.meta.store import Store


@dataclass
class Delivery:
    files: int = 0  # journal files delivered (and removed, when their writer had finished)
    records: int = 0
    live: int = 0  # journals of commands still running (delivered so far, kept)


def deliver(store: Store, folder: Path) -> Delivery:
    """Apply every pending journal; a failure leaves the failing file (and later ones) for next time."""
    done = Delivery()
    for path in pending(folder):
        claimed = claim(path)
        if claimed is None:
            continue
        delivered = False
        try:
            if claimed.records:
                with store.session(write=True) as session:
                    apply_records(session, claimed.records)
            delivered = True
        finally:
            claimed.release(delivered)
        done.files += 1
        done.records += len(claimed.records)
        done.live += not claimed.finished
    return done
