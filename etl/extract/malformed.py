"""Malformed input lines: counted while the run reads its sources, split off, and kept with their raw text.

CSV and JSON sources are split into fields as text and typed strictly (etl/extract/strict.py): a line
that does not split into the declared fields, holds bytes its encoding does not define, or has a value
that is not exactly what its text says in the declared type, keeps its raw text in MALFORMED and the
reason (which column, and why) in REASON. The reason depends on every column, so every line is judged
the same way whatever columns a query over the source uses.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from etl.extract.strict import REASON

MALFORMED = "_etl_malformed"
MALFORMED_RULE = "malformed_record"


def observed(frame: DataFrame, observation: Observation) -> DataFrame:
    """The source with its row counts collected by whichever query reads it first: rows, malformed."""
    malformed = F.count(MALFORMED) if MALFORMED in frame.columns else F.lit(0).cast("bigint")
    return frame.observe(observation, F.count(F.lit(1)).alias("rows"), malformed.alias("malformed"))


def well_formed(frame: DataFrame) -> DataFrame:
    if MALFORMED not in frame.columns:
        return frame
    return frame.where(F.col(MALFORMED).isNull()).drop(MALFORMED, REASON)


def malformed_rows(frame: DataFrame, day: str | None = None) -> DataFrame:
    """record (the raw line), rules, reason, source_file and day (the line's daily folder, from the column
    `day`): the quarantine table's columns."""
    reason = F.col(REASON) if REASON in frame.columns else F.lit(None).cast("string")
    return frame.where(F.col(MALFORMED).isNotNull()).select(
        F.col(MALFORMED).alias("record"),
        F.array(F.lit(MALFORMED_RULE)).alias("rules"),
        reason.alias("reason"),
        F.input_file_name().alias("source_file"),
        (F.col(day).cast("date") if day else F.lit(None).cast("date")).alias("day"),
    )
