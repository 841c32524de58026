"""deployment commit message and author: what the dashboard's lists show beside the sha

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-02 05:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commit_message', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('commit_author', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_column('commit_author')
        batch_op.drop_column('commit_message')
