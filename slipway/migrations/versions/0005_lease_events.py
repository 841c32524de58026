"""lease events: what happened to each deployment's lease (created, leased, updated, moved, topped up, closed)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lease_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('deployment_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('network', sa.String(length=40), nullable=True),
        sa.Column('dseq', sa.BigInteger(), nullable=True),
        sa.Column('provider', sa.String(length=200), nullable=True),
        sa.Column('price_uact', sa.String(length=40), nullable=True),
        sa.Column('amount_uact', sa.BigInteger(), nullable=True),
        sa.Column('detail', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('lease_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lease_events_deployment_id'), ['deployment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lease_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lease_events_deployment_id'))
    op.drop_table('lease_events')
