"""schedules: scheduled runs (schedule, logical date, attempt) and the intervals claimed by schedulers

Revision ID: 0006
Revises: 0005 (assigned: 0003; chained after h-exp's 0005, merged here)

- run.schedule / run.logical_date / run.attempt / run.reason: a run started by a schedule, the
  interval it covers (its start), which attempt it was, why it ended so ("timeout").
- schedule_run: one row per (repo, schedule, logical date), claimed by one scheduler (the UNIQUE
  constraint makes each interval run once however many schedulers share the store).
- schedule_state: paused schedules (kept in the store, not in himo.yaml).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('logical_date', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_run_schedule', ['schedule', 'logical_date'], unique=False)
    op.create_table('schedule_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo', sa.String(length=500), nullable=False),
    sa.Column('schedule', sa.String(length=200), nullable=False),
    sa.Column('logical_date', sa.DateTime(), nullable=False),
    sa.Column('interval_end', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('repo', 'schedule', 'logical_date', name='uq_schedule_run')
    )
    op.create_index('ix_schedule_run_state', 'schedule_run', ['state', 'heartbeat_at'], unique=False)
    op.create_table('schedule_state',
    sa.Column('repo', sa.String(length=500), nullable=False),
    sa.Column('schedule', sa.String(length=200), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.Column('who', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('repo', 'schedule')
    )


def downgrade() -> None:
    op.drop_table('schedule_state')
    op.drop_index('ix_schedule_run_state', table_name='schedule_run')
    op.drop_table('schedule_run')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_schedule')
        batch_op.drop_column('reason')
        batch_op.drop_column('attempt')
        batch_op.drop_column('logical_date')
        batch_op.drop_column('schedule')
