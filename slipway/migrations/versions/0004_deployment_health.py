"""deployment health: what the periodic check of a live deployment found

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('health', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('health_detail', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('health_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('health_since', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_column('health_since')
        batch_op.drop_column('health_checked_at')
        batch_op.drop_column('health_detail')
        batch_op.drop_column('health')
