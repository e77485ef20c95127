from etl.extract.readers import read_source

__all__ = ["read_source"]
