"""releases: which artifact is live in which environment, from when until when

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

LIVE = sa.text("retired_at IS NULL")


def upgrade() -> None:
    op.create_table('release',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('env', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('user', sa.String(length=200), nullable=False),
    sa.Column('released_at', sa.DateTime(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifact.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('env', 'version')
    )
    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.create_index('ix_release_artifact', ['artifact_id', 'released_at'], unique=False)
        batch_op.create_index('ix_release_env', ['env', 'released_at'], unique=False)
        # One live release per environment: the database itself refuses a second.
        batch_op.create_index('ux_release_live', ['env'], unique=True, sqlite_where=LIVE,
                              postgresql_where=LIVE)


def downgrade() -> None:
    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.drop_index('ux_release_live', sqlite_where=LIVE, postgresql_where=LIVE)
        batch_op.drop_index('ix_release_env')
        batch_op.drop_index('ix_release_artifact')

    op.drop_table('release')
