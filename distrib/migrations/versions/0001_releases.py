"""Schema 1: releases and every version of each, as queued."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("version_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("parsed", sa.Text, nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("published_at", UTC_TIME, nullable=False),
        sa.Column("horizon_at", UTC_TIME, nullable=True),
        sa.Column("queued_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("cancelled_at", UTC_TIME, nullable=True),
        sa.Column("cancel_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_releases_published_at", "releases", ["published_at"])
    op.create_index("ix_releases_horizon_at", "releases", ["horizon_at"])
    op.create_table(
        "release_versions",
        sa.Column("release_id", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("version_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("parsed", sa.Text, nullable=False),
        sa.Column("queued_at", UTC_TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("release_versions")
    op.drop_index("ix_releases_horizon_at", "releases")
    op.drop_index("ix_releases_published_at", "releases")
    op.drop_table("releases")
