"""Pure values shared by every layer: no I/O here."""

from himo.model.objects import HASH_ALGORITHM, HashInfo, TreeEntry, all_digests, is_digest

__all__ = ["HASH_ALGORITHM", "HashInfo", "TreeEntry", "all_digests", "is_digest"]
