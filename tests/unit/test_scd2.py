from __future__ import annotations

from datetime import date

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl.transform.scd2 import OPEN_END, scd2_history

VERSIONS = T.StructType([T.StructField("k", T.LongType()), T.StructField("a", T.StringType()), T.StructField("valid_from", T.DateType())])
HISTORY = T.StructType([*VERSIONS.fields, T.StructField("valid_to", T.DateType()), T.StructField("is_current", T.BooleanType())])
D1, D2, D3, D4 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


def test_versions_chain_and_unchanged_rows_collapse(spark: SparkSession) -> None:
    versions = spark.createDataFrame(
        [(1, "x", D1), (1, "x", D2), (1, "y", D3), (1, "x", D4), (2, "p", D2), (3, None, D1), (3, None, D3)], VERSIONS
    )
    expected = spark.createDataFrame(
        [
            (1, "x", D1, D3, False),  # D2 repeats D1: no new version
            (1, "y", D3, D4, False),
            (1, "x", D4, OPEN_END, True),  # back to x is a change
            (2, "p", D2, OPEN_END, True),
            (3, None, D1, OPEN_END, True),  # nulls compare equal
        ],
        HISTORY,
    )
    result = scd2_history(versions, ["k"], ["a"])
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_result_does_not_depend_on_input_order(spark: SparkSession) -> None:
    rows = [(1, "x", D1), (1, "y", D2), (1, "z", D3)]
    forward = scd2_history(spark.createDataFrame(rows, VERSIONS), ["k"], ["a"])
    backward = scd2_history(spark.createDataFrame(list(reversed(rows)), VERSIONS).repartition(3), ["k"], ["a"])
    assert_df_equality(forward, backward, ignore_row_order=True)
