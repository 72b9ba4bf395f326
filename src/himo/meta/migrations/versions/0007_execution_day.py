"""execution_day: executions per UTC day of start, stage and status (the runs page's grid)

Revision ID: 0007
Revises: 0006

- execution_day: for the executions of unscheduled runs (no logical date), per (day, stage,
  status), how many and the latest start; kept exact by every write since (himo.meta.days).
  Filled here from the execution table: one grouping pass (4 s on SQLite at 1M executions), then
  analyzed (PostgreSQL would scan the table until its autovacuum did).
- ix_run_logical: the scheduled runs of the grid's month by their logical date (they were found
  by scanning the month's runs, ~13,000 at 1M executions, for the few with one).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('execution_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('stage', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('last', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('day', 'stage', 'status')
    )
    # The summary's meaning (himo.meta.days.from_executions) as it stood at this revision: the
    # UTC day is the ISO text's first ten characters on SQLite, a cast on PostgreSQL.
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "substr(e.started_at, 1, 10)" if sqlite else "CAST(e.started_at AS DATE)"
    op.execute(
        f"INSERT INTO execution_day (day, stage, status, n, last) "
        f"SELECT {day}, e.stage, e.status, count(*), max(e.started_at) FROM execution e "
        f"WHERE NOT EXISTS (SELECT 1 FROM run r WHERE r.id = e.run_id AND r.logical_date IS NOT NULL) "
        f"GROUP BY {day}, e.stage, e.status")
    op.execute("ANALYZE execution_day")
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index('ix_run_logical', ['logical_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_logical')
    op.drop_table('execution_day')
