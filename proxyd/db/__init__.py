"""Database access: one small async interface, one adapter per driver."""

from proxyd.db.base import Database, Executor, Row, optional_int
from proxyd.db.connect import open_database

__all__ = ["Database", "Executor", "Row", "open_database", "optional_int"]
