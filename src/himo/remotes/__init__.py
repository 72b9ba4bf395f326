"""Remotes: object stores reached by URL (local folder, S3, and any fsspec filesystem).

A remote holds objects exactly as the cache does, at `<url>/ab/cdef...`, so the same bytes
have the same name everywhere.
"""
