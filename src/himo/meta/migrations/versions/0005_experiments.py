"""experiments: runs of the pipeline in isolated workspaces (`himo exp run`)

Revision ID: 0005
Revises: 0003

- experiment: one row per experiment, keyed by its run's id: name, base commit, overrides,
  params, metrics, outputs by digest, and the text files that differ from the base commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('experiment',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('repo', sa.String(length=500), nullable=False),
    sa.Column('base_commit', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('overrides', sa.JSON(), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('outputs', sa.JSON(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.create_index('ix_experiment_repo', ['repo', 'name'], unique=False)
        batch_op.create_index('ix_experiment_created', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.drop_index('ix_experiment_created')
        batch_op.drop_index('ix_experiment_repo')
    op.drop_table('experiment')
