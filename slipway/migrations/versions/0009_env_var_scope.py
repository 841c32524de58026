"""env var scope: each project variable is given to the running app, to the build, or both

Revision ID: 0009
Revises: 0012
Create Date: 2026-12-02 04:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every variable set before this was the running app's only.
    with op.batch_alter_table('env_vars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=10), nullable=False, server_default='runtime'))


def downgrade() -> None:
    with op.batch_alter_table('env_vars', schema=None) as batch_op:
        batch_op.drop_column('scope')
