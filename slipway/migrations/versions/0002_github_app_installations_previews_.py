"""github app, installations, previews, deploy tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:05:07.005706
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('github_apps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.BigInteger(), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('html_url', sa.String(length=500), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=False),
    sa.Column('client_secret_enc', sa.Text(), nullable=False),
    sa.Column('private_key_enc', sa.Text(), nullable=False),
    sa.Column('webhook_secret_enc', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('app_id')
    )
    op.create_table('installations',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('account_login', sa.String(length=200), nullable=False),
    sa.Column('account_type', sa.String(length=40), nullable=False),
    sa.Column('suspended', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('installation_repositories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.BigInteger(), nullable=False),
    sa.Column('repo_id', sa.BigInteger(), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['installation_id'], ['installations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('installation_id', 'repo_id')
    )
    with op.batch_alter_table('installation_repositories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installation_repositories_full_name'), ['full_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_installation_repositories_installation_id'), ['installation_id'], unique=False)

    op.create_table('pull_request_previews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('pr_number', sa.Integer(), nullable=False),
    sa.Column('head_sha', sa.String(length=64), nullable=False),
    sa.Column('head_repo', sa.String(length=200), nullable=False),
    sa.Column('from_fork', sa.Boolean(), nullable=False),
    sa.Column('author_association', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('comment_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'pr_number')
    )
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('environment', sa.String(length=40), nullable=False, server_default='production'))
        batch_op.add_column(sa.Column('pr_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('github_deployment_id', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('installation_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('disconnected_reason', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('previews_enabled', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('fork_previews', sa.String(length=20), nullable=False, server_default='collaborators'))
        batch_op.add_column(sa.Column('deploy_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('deploy_hook_enc', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_projects_installation_id'), ['installation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_projects_installation_id'))
        batch_op.drop_column('deploy_hook_enc')
        batch_op.drop_column('deploy_token_hash')
        batch_op.drop_column('fork_previews')
        batch_op.drop_column('previews_enabled')
        batch_op.drop_column('disconnected_reason')
        batch_op.drop_column('installation_id')

    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_column('github_deployment_id')
        batch_op.drop_column('pr_number')
        batch_op.drop_column('environment')

    op.drop_table('pull_request_previews')
    with op.batch_alter_table('installation_repositories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_installation_repositories_installation_id'))
        batch_op.drop_index(batch_op.f('ix_installation_repositories_full_name'))

    op.drop_table('installation_repositories')
    op.drop_table('installations')
    op.drop_table('github_apps')
