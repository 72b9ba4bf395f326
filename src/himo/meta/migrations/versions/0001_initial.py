"""initial: runs, executions, artifacts, events, paths, locations

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('artifact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('nfiles', sa.Integer(), nullable=True),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest')
    )
    op.create_table('run',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('command', sa.String(length=32), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('repo', sa.String(length=500), nullable=False),
    sa.Column('git_commit', sa.String(length=64), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=False),
    sa.Column('dirty', sa.Boolean(), nullable=False),
    sa.Column('himo_version', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index('ix_run_started', ['started_at'], unique=False)
        batch_op.create_index('ix_run_status', ['status', 'started_at'], unique=False)

    op.create_table('execution',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('stage', sa.String(length=200), nullable=False),
    sa.Column('cmd', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('git_commit', sa.String(length=64), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=False),
    sa.Column('dirty', sa.Boolean(), nullable=False),
    sa.Column('code_digests', sa.JSON(), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('himo_version', sa.String(length=32), nullable=False),
    sa.Column('log', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('execution', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_execution_run_id'), ['run_id'], unique=False)
        batch_op.create_index('ix_execution_stage', ['stage', 'started_at'], unique=False)
        batch_op.create_index('ix_execution_started', ['started_at'], unique=False)
        batch_op.create_index('ix_execution_status', ['status', 'started_at'], unique=False)

    op.create_table('location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('first_at', sa.DateTime(), nullable=False),
    sa.Column('last_at', sa.DateTime(), nullable=False),
    sa.Column('who', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifact.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('artifact_id', 'kind', 'url')
    )
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_location_artifact_id'), ['artifact_id'], unique=False)

    op.create_table('path',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('repo', sa.String(length=500), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifact.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('artifact_id', 'repo', 'path', 'commit')
    )
    with op.batch_alter_table('path', schema=None) as batch_op:
        batch_op.create_index('ix_path_repo_path', ['repo', 'path'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=False),
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifact.id'], ),
    sa.ForeignKeyConstraint(['execution_id'], ['execution.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('execution_id', 'artifact_id', 'direction', 'path')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_artifact', ['artifact_id', 'direction'], unique=False)
        batch_op.create_index('ix_event_execution', ['execution_id', 'direction'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_execution')
        batch_op.drop_index('ix_event_artifact')

    op.drop_table('event')
    with op.batch_alter_table('path', schema=None) as batch_op:
        batch_op.drop_index('ix_path_repo_path')

    op.drop_table('path')
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_artifact_id'))

    op.drop_table('location')
    with op.batch_alter_table('execution', schema=None) as batch_op:
        batch_op.drop_index('ix_execution_status')
        batch_op.drop_index('ix_execution_started')
        batch_op.drop_index('ix_execution_stage')
        batch_op.drop_index(batch_op.f('ix_execution_run_id'))

    op.drop_table('execution')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_status')
        batch_op.drop_index('ix_run_started')

    op.drop_table('run')
    op.drop_table('artifact')
