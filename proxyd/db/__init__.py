"""Database access: one small async interface, one adapter per driver."""

from .base import Database, Executor, Row
from .connect import open_database

__all__ = ["Database", "Executor", "Row", "open_database"]
