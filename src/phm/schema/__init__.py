"""The canonical tables and their validation."""

from phm.schema.canonical import TABLES, Column, Table, load_order
from phm.schema.validate import REJECTS_SCHEMA, Checked, validate

__all__ = ["REJECTS_SCHEMA", "TABLES", "Checked", "Column", "Table", "load_order", "validate"]
