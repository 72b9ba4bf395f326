"""Content-addressed storage: hashing, the object database, manifests, links, the stat cache.

Knows files and digests only; nothing here knows pointers, git, remotes or pipelines.
"""
