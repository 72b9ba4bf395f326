"""Alembic migrations of the metadata store, one file per schema version in versions/.

HEAD names the newest revision, so that opening a store that is already current costs one
SELECT and no Alembic import (tests/meta/test_store.py checks it against Alembic's own head).
"""

HEAD = "0007"
