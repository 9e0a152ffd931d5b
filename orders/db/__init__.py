"""Database layer: schema (SQLAlchemy Core), bootstrap, and alembic migrations.

``bootstrap`` runs once as the superuser; ``migrate.upgrade`` runs as the order-migrate
identity; activities use the tables in ``schema`` through an engine whose connections are
made with their own identity's Vault-issued role.
"""
