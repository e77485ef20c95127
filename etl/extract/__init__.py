from etl.extract.readers import read_source, source_folders

__all__ = ["read_source", "source_folders"]
