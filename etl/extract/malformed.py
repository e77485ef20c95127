"""Malformed input lines: counted while the run reads its sources, split off, and kept with their raw text.

CSV and JSON sources are read in Spark's PERMISSIVE mode with a corrupt-record column, so a line that
does not parse with the declared columns (a field too many or too few, a value of the wrong type,
broken JSON) keeps its raw text there. Spark only parses the columns a query uses, so whether a line
parses would depend on what the job selects; the source's observation uses every column, which makes
Spark parse all of them and judge every line the same way in every query over the source.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

MALFORMED = "_etl_malformed"
MALFORMED_RULE = "malformed_record"


def observed(frame: DataFrame, observation: Observation) -> DataFrame:
    """The source with its row counts collected by whichever query reads it first: rows, malformed."""
    if MALFORMED not in frame.columns:
        return frame.observe(observation, F.count(F.lit(1)).alias("rows"), F.lit(0).cast("bigint").alias("malformed"))
    return frame.observe(observation, F.count(F.lit(1)).alias("rows"), F.count(MALFORMED).alias("malformed"), _over_every_column(frame))


def fully_parsed(frame: DataFrame) -> DataFrame:
    """The frame with a metric over every column (which nobody reads), so that every query over it makes
    Spark parse all the columns, as observed() does."""
    return frame.observe(Observation(), _over_every_column(frame))


def _over_every_column(frame: DataFrame) -> Column:
    # Any expression over every column would do; Spark folds away some (a struct is never null).
    return F.count_if(reduce(lambda a, b: a & b, [F.col(c).isNull() for c in frame.columns if c != MALFORMED])).alias("all_null")


def well_formed(frame: DataFrame) -> DataFrame:
    if MALFORMED not in frame.columns:
        return frame
    return frame.where(F.col(MALFORMED).isNull()).drop(MALFORMED)


def malformed_rows(frame: DataFrame) -> DataFrame:
    """record (the raw line), rules, source_file: the quarantine table's columns. `frame` is what observed()
    returned: its observation makes Spark parse every column, as when the run's queries read the source."""
    return frame.where(F.col(MALFORMED).isNotNull()).select(
        F.col(MALFORMED).alias("record"),
        F.array(F.lit(MALFORMED_RULE)).alias("rules"),
        F.input_file_name().alias("source_file"),
    )
