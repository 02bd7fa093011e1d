"""Warehouse exports: the stored events, profiles and decisions as Parquet files that Spark, DuckDB or pandas
read (``pertinent export``), incremental, and covered by a person's export and erasure like every other store."""

from pertinent.warehouse.export import KINDS, ExportError, ExportResult, WarehouseExports

__all__ = ["KINDS", "ExportError", "ExportResult", "WarehouseExports"]
