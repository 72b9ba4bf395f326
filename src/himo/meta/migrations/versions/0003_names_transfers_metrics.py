"""release names (several models live per environment), transfers, metrics and log tails

Revision ID: 0003
Revises: 0002

- release.name: the model's registry name. One live release per (name, env), not per env, so a
  team can run several models in production. Existing releases get the name `himo release`
  gives by default: the file name without its suffix, lower case, other characters as '-'.
- transfer: what each push / fetch / pull / export run moved (location keeps only the last run).
- execution.metrics / execution.log_tail: what a stage reported, so that a team store answers
  without the repository's files.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

LIVE = sa.text("retired_at IS NULL")
# 0002 left the (env, version) constraint unnamed: PostgreSQL named it itself (read back below);
# SQLite's has no name, so the batch copy names it by this convention to drop it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def old_unique_name() -> str:
    for unique in sa.inspect(op.get_bind()).get_unique_constraints('release'):
        if unique["column_names"] == ["env", "version"] and unique.get("name"):
            return str(unique["name"])
    return "uq_release_env"


def default_name(path: str) -> str:
    """Frozen copy of the rule at this revision (migrations are history: never import it)."""
    pure = PurePosixPath(path)
    stem = pure.stem if pure.suffix else pure.name
    return re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-") or "model"


def upgrade() -> None:
    with op.batch_alter_table('execution', schema=None) as batch_op:
        batch_op.add_column(sa.Column('metrics', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('log_tail', sa.Text(), nullable=True))

    op.create_table('transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifact.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'artifact_id', 'url', 'kind', name='uq_transfer_run')
    )
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.create_index('ix_transfer_artifact', ['artifact_id', 'at'], unique=False)

    old_unique = old_unique_name()
    with op.batch_alter_table('release', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=200), nullable=False, server_default=''))
        batch_op.drop_index('ux_release_live', sqlite_where=LIVE, postgresql_where=LIVE)
        batch_op.drop_constraint(old_unique, type_='unique')

    release = sa.table('release', sa.column('id', sa.Integer), sa.column('path', sa.String),
                       sa.column('name', sa.String))
    bind = op.get_bind()
    for row in bind.execute(sa.select(release.c.id, release.c.path)).all():
        bind.execute(release.update().where(release.c.id == row.id).values(name=default_name(row.path)))

    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_release_name_env_version', ['name', 'env', 'version'])
        batch_op.create_index('ux_release_live', ['name', 'env'], unique=True, sqlite_where=LIVE,
                              postgresql_where=LIVE)


def downgrade() -> None:
    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.drop_index('ux_release_live', sqlite_where=LIVE, postgresql_where=LIVE)
        batch_op.drop_constraint('uq_release_name_env_version', type_='unique')
        batch_op.create_unique_constraint('uq_release_env', ['env', 'version'])
        batch_op.create_index('ux_release_live', ['env'], unique=True, sqlite_where=LIVE,
                              postgresql_where=LIVE)
        batch_op.drop_column('name')

    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_index('ix_transfer_artifact')
    op.drop_table('transfer')

    with op.batch_alter_table('execution', schema=None) as batch_op:
        batch_op.drop_column('log_tail')
        batch_op.drop_column('metrics')
