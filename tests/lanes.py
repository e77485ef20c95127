"""What a test needs of the Spark line it runs on (make test SPARK=3.5 or 4.0): jars without a build for a
line skip the tests that need them, saying why."""

from __future__ import annotations

import pytest

from etl.jars import JARS, UNAVAILABLE
from etl.spark_internals import SPARK_LINE


def needs_jars(*names: str) -> pytest.MarkDecorator:
    """Skip where a jar the test needs has no build for this Spark line (Spark 4.0: S3A, Iceberg), saying why."""
    missing = [name for name in names if name not in JARS]
    reason = "; ".join(f"{name}: {UNAVAILABLE.get(name, 'not in etl/jars.py')}" for name in missing)
    return pytest.mark.skipif(bool(missing), reason=f"Spark {SPARK_LINE}: {reason}")


ICEBERG = "iceberg-spark-runtime" in JARS
# pytest.param marks for a format parameter: iceberg skips where its runtime has no build for this Spark line.
TABLE_FORMATS = [pytest.param("parquet"), pytest.param("iceberg", marks=needs_jars("iceberg-spark-runtime"))]
