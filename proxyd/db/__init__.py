"""Database access: one small async interface, one adapter per driver."""

from .base import Database, Executor, Row, optional_int
from .connect import open_database

__all__ = ["Database", "Executor", "Row", "open_database", "optional_int"]
