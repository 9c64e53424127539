"""Persistence with SQLAlchemy 2.x: tables and repository functions that take a connection."""
