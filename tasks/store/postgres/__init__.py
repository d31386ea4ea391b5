"""The PostgreSQL store, for processes on several machines sharing one database.

Needs the ``postgres`` extra (psycopg 3 and its pool); imported only when a
``postgresql://`` URL is given.
"""

from __future__ import annotations

from .store import PostgresStore

__all__ = ["PostgresStore"]
