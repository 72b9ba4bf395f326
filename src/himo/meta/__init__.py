"""The metadata store: every execution, its inputs and outputs, and where bytes went.

After ML Metadata (the model behind Vertex AI Metadata and Kubeflow), in SQL through
SQLAlchemy: SQLite at `.himo/meta.db` by default, PostgreSQL for a team.

Commands never write the store directly. They append records to a journal
(`journal.py`, standard library only, so recording costs well under a millisecond);
`deliver.py` applies journals to the store idempotently, in the background after each
command, before every query, or on `himo meta sync`. A journal survives an unreachable
store, and a journal whose writer died tells that its run was aborted.
"""
