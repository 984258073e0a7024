"""Postgres access: SQLAlchemy 2 models, Alembic migrations and the engine factory."""
