"""The per-version seam (etl/spark_internals/) asked the same questions on Spark 3.5 and 4.0."""

from __future__ import annotations

from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from etl import spark_internals


def test_an_observation_is_delivered_only_once_its_query_has_run(spark: SparkSession) -> None:
    observation = Observation("unit_internals_delivered")
    assert spark_internals.observation_delivered(observation) is False  # not attached to any query
    frame = spark.range(5).observe(observation, F.count(F.lit(1)).alias("rows"))
    assert spark_internals.observation_delivered(observation) is False  # attached, not run
    assert frame.count() == 5
    spark_internals.wait_for_listeners(spark)
    assert spark_internals.observation_delivered(observation) is True
    assert observation.get == {"rows": 5}


def test_an_observation_of_a_query_never_run_stays_undelivered(spark: SparkSession) -> None:
    observation = Observation("unit_internals_never_run")
    unused = spark.range(3).observe(observation, F.count(F.lit(1)).alias("rows"))
    assert spark.range(2).count() == 2  # another query runs; this one never does
    spark_internals.wait_for_listeners(spark)
    assert unused.columns == ["id"] and spark_internals.observation_delivered(observation) is False


def test_a_class_is_available_when_a_jar_on_the_classpath_has_it(spark: SparkSession) -> None:
    assert spark_internals.class_available(spark, "org.apache.spark.sql.SparkSession") is True
    assert spark_internals.class_available(spark, "org.example.NoSuchClass") is False
