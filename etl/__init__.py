"""A framework for extract / transform / validate / load jobs on PySpark, shipped to Amazon EMR."""

from etl.version import __version__

__all__ = ["__version__"]
