"""wakes: superseded deployments started again on demand at their own URL, until idle

Revision ID: 0015
Revises: 0017
Create Date: 2026-12-02 08:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'wakes',
        sa.Column('deployment_id', sa.Integer(), nullable=False),
        sa.Column('ref', sa.JSON(), nullable=True),
        sa.Column('error_id', sa.String(length=80), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('deployment_id'),
    )


def downgrade() -> None:
    op.drop_table('wakes')
