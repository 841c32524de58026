"""deployment repository config: what the commit's slipway.toml said about running it, for its redeploys

Revision ID: 0017
Revises: 0008
Create Date: 2026-12-02 08:25:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('repository_config', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_column('repository_config')
