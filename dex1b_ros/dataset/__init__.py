"""Grasp datasets (no ROS): the versioned Parquet schema of grasp records and its reader/writer."""
from .schema import (
                     ENERGY_TERMS,
                     SCHEMA_VERSION,
                     GraspRecords,
                     SchemaError,
                     empty_records,
                     grasp_schema,
                     read_records,
                     records_from_graspset,
                     temp_path,
                     write_records,
)

__all__ = ["ENERGY_TERMS", "SCHEMA_VERSION", "GraspRecords", "SchemaError", "empty_records", "grasp_schema",
           "read_records", "records_from_graspset", "temp_path", "write_records"]
