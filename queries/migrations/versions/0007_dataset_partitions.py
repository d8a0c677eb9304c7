"""dataset partitions: a dataset's version per district, for the cache

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dataset_partitions',
    sa.Column('dataset_code', sa.String(length=64), nullable=False),
    sa.Column('partition', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_code'], ['datasets.code'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dataset_code', 'partition')
    )


def downgrade() -> None:
    op.drop_table('dataset_partitions')
