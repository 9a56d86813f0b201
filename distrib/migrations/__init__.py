"""Alembic migrations for the distrib schema, run programmatically by distrib.store."""
