"""project environment variables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:33:40.510852
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('env_vars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('value_enc', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'name')
    )
    with op.batch_alter_table('env_vars', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_env_vars_project_id'), ['project_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('env_vars', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_env_vars_project_id'))

    op.drop_table('env_vars')
