"""Persistence: SQLite (aiosqlite, the default) or PostgreSQL (asyncpg), versioned migrations and repositories.

Handlers and services never write SQL of their own: they call a repository.
"""

from storage.db import Database

__all__ = ["Database"]
