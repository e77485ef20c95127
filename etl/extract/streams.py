"""Stream sources: JSON records from files arriving in the raw zone, or from a Kinesis data stream.

Both give the same columns, so a job's code does not know which it reads: the declared columns, the
malformed-record column (the raw text of a record that does not parse with them) and `source_file`
(the file a record came from; null from Kinesis). Files are read as lines in the order they arrived
(their modification time), as Kinesis Data Firehose delivers a stream to S3: one JSON record per line.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.config.models import EnvConfig, SourceConfig
from etl.context import RunContext
from etl.errors import ConfigError
from etl.extract.lines import parse_lines
from etl.extract.malformed import MALFORMED, MALFORMED_RULE
from etl.extract.strict import REASON

SOURCE_FILE = "source_file"


def read_stream(spark: SparkSession, name: str, source: SourceConfig, env: EnvConfig, ctx: RunContext) -> DataFrame:
    if env.streams_from == "kinesis":
        lines = _kinesis_lines(spark, name, source)
    else:
        reader = spark.readStream.format("text")
        if source.files_per_batch:
            reader = reader.option("maxFilesPerTrigger", str(source.files_per_batch))
        lines = reader.load(ctx.zones.uri(source.zone, str(source.path))).select("value", F.input_file_name().alias(SOURCE_FILE))
    return parse_lines(lines, name, source, [SOURCE_FILE])


def _kinesis_lines(spark: SparkSession, name: str, source: SourceConfig) -> DataFrame:
    kinesis = source.kinesis
    if kinesis is None:
        raise ConfigError(f"source {name}: the env reads streams from Kinesis, but the source has no `kinesis` settings")
    reader = spark.readStream.format("aws-kinesis").option("kinesis.streamName", kinesis.stream_name)
    reader = reader.option("kinesis.consumerType", "GetRecords").option("kinesis.startingposition", kinesis.starting_position)
    if kinesis.region:
        reader = reader.option("kinesis.region", kinesis.region)
    if kinesis.endpoint:
        reader = reader.option("kinesis.endpointUrl", kinesis.endpoint)
    return reader.load().select(F.col("data").cast("string").alias("value"), F.lit(None).cast("string").alias(SOURCE_FILE))


def well_formed_records(frame: DataFrame) -> DataFrame:
    return frame.where(F.col(MALFORMED).isNull()).drop(MALFORMED, REASON, SOURCE_FILE)


def malformed_records(frame: DataFrame) -> DataFrame:
    """record (the raw text), rules, reason, source_file: the quarantine table's columns."""
    return frame.where(F.col(MALFORMED).isNotNull()).select(
        F.col(MALFORMED).alias("record"), F.array(F.lit(MALFORMED_RULE)).alias("rules"), F.col(REASON).alias("reason"), SOURCE_FILE
    )
